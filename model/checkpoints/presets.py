"""Geometries of random checkpoints (`msa model random --preset`), kept apart from the code that writes
them so that the CLI can list them without importing torch."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, pooling_kernel_size=8),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=8, num_attention_heads=8,
                  num_key_value_heads=2, head_dim=32, pooling_kernel_size=16),
    # the embedded default's geometry (benchmarks that depend on shapes, not weights)
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, head_dim=64, pooling_kernel_size=64,
                         router_layer_idx="11,18,19,23,24,25,26,29"),
    # MSA-4B's (Qwen3-4B-Instruct-2507 backbone, MSA_SPEC.md 1.3): routers on layers 18-35, top-k 16; ~4.0B
    # parameters, 8 GB in bf16, written as shards with an index
    "msa-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                   num_key_value_heads=8, head_dim=128, pooling_kernel_size=64, vocab_size=151936,
                   max_position_embeddings=262144),
}
