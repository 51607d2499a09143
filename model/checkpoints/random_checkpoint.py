"""Random checkpoints in exactly the published MSA-4B format, for tests and experiments.

Writes config.json (with msa_config), model.safetensors or, past 4 GiB, shards with their index (HF tensor
names, router projections as `router_*_proj.0.weight`, the training-only scalar `temperature`),
generation_config.json and a small byte-level BPE tokenizer carrying the Qwen special tokens, with
`<|im_start|>user\\n` = 3 tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers

from msa.model.checkpoints.loader import checkpoint_names, resolve_dtype
from msa.model.checkpoints.presets import PRESETS
from msa.model.config import ModelConfig

SHARD_BYTES = 4 << 30  # at most this much per safetensors file
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
# Whole words of the MSA prompts and common English get one token each (the rest falls back to bytes).
WORDS = tuple(
    "user assistant system Please answer the question based on above historical document information "
    "return all documents related to The is: of and a in that it for was with as his on be at by this had "
    "not are but from or have an they which one you were her she there can has their what when who where "
    "how many name city river born year lives works blue red green"
    .split()
)

def _byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte, in byte order (what ByteLevel pre-tokenization emits)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def build_tokenizer() -> HFTokenizer:
    """Byte-level BPE: the 256 bytes, prefix-chain merges for `WORDS` (with and without a leading space)."""
    vocab = {c: i for i, c in enumerate(_byte_alphabet())}
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        for piece in (word, "Ġ" + word):
            for end in range(2, len(piece) + 1):
                left, right = piece[: end - 1], piece[end - 1]
                if piece[:end] not in vocab:
                    vocab[piece[:end]] = len(vocab)
                    merges.append((left, right))
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def config_dict(family: str, preset: str, vocab_size: int, special: dict[str, int]) -> dict[str, Any]:
    geo = dict(PRESETS[preset])
    pooling = geo.pop("pooling_kernel_size")
    n = geo["num_hidden_layers"]
    routers = geo.pop("router_layer_idx", ",".join(str(i) for i in range(n // 2, n)))
    qwen = family == "qwen3"
    return {
        "architectures": ["MSAForCausalLM" if qwen else "LlamaForCausalLM"],
        "model_type": "msa" if qwen else "llama",
        "vocab_size": vocab_size,  # the tokenizer's, padded; a preset may ask for more (MSA-4B's)
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 5_000_000.0 if qwen else 100_000.0,
        "rope_scaling": None, "max_position_embeddings": 4096, "attention_bias": False,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", **geo,
        "bos_token_id": special["<|endoftext|>"], "eos_token_id": special["<|im_end|>"],
        "initializer_range": 0.02,
        "msa_config": {  # the MSA-4B recipe (MSA_SPEC.md 1.2), by default on the upper half of the layers
            "router_layer_idx": routers,
            "aux_loss": False, "lmloss_weigth": 1.0, "auxloss_weight": 0.1, "recloss_weight": 0.0,
            "ansloss_weight": 1.0, "aux_loss_method": "INFONCE_DECOUPLE", "decouple_router": True,
            "rewrite_position": True, "top_k_docs": 16, "doc_top_k": 16, "pooling_kernel_size": pooling,
            "infonce_loss_temp": 0.1, "head_reduce_method": "mean", "query_reduce_method": "max",
            "chunk_reduce_method": "max", "decouple_pooling_mode": "mean",
        },
    }


def random_weights(cfg: ModelConfig, seed: int, dtype: torch.dtype) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor), one at a time so a large model never sits in memory whole: Normal(0, 0.02) matrices
    (HF init); norm weights around 1 so that every norm matters."""
    gen = torch.Generator().manual_seed(seed)
    for name, (_, shape) in checkpoint_names(cfg).items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        if name.endswith("norm.weight"):
            yield name, (1.0 + 0.1 * torch.randn(shape, generator=gen)).to(dtype)
        else:
            yield name, torch.randn(shape, generator=gen).mul_(0.02).to(dtype)
    yield "temperature", torch.tensor(cfg.msa.infonce_loss_temp, dtype=dtype)


def save_sharded(tensors: Iterable[tuple[str, torch.Tensor]], out: Path, shard_bytes: int) -> None:
    """model.safetensors, or, past `shard_bytes`, shards model-0000i-of-0000n.safetensors with their index
    (model.safetensors.index.json), as published checkpoints are laid out; one shard in memory at a time."""
    for stale in [out / "model.safetensors", out / "model.safetensors.index.json", *out.glob("model-*.safetensors")]:
        stale.unlink(missing_ok=True)  # an earlier write's files would be read beside (or instead of) these
    parts: list[tuple[Path, list[str]]] = []  # written so far, named for their final place once counted
    shard: dict[str, torch.Tensor] = {}
    total = 0

    def flush() -> None:
        part = out / f"model-part-{len(parts):05d}.safetensors"
        save_file(shard, str(part), metadata={"format": "pt"})
        parts.append((part, list(shard)))
        shard.clear()

    for name, t in tensors:
        if shard and sum(x.nbytes for x in shard.values()) + t.nbytes > shard_bytes:
            flush()
        shard[name], total = t, total + t.nbytes
    if not parts:
        save_file(shard, str(out / "model.safetensors"), metadata={"format": "pt"})
        return
    flush()
    weight_map = {}
    for i, (part, names) in enumerate(parts):
        final = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        part.rename(out / final)
        weight_map |= dict.fromkeys(names, final)
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")


def write_random_checkpoint(out: str | Path, family: str = "qwen3", preset: str = "tiny", seed: int = 0,
                            dtype: str = "bfloat16", msa_overrides: dict[str, Any] | None = None,
                            shard_bytes: int = SHARD_BYTES) -> Path:
    """Write a random checkpoint directory; `msa_overrides` patches msa_config (tests vary it); weights past
    `shard_bytes` go in shards."""
    if family not in ("qwen3", "llama"):
        raise ValueError(f"family {family!r} is not one of ('qwen3', 'llama')")
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is not one of {list(PRESETS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    special = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    vocab_size = -(-tok.get_vocab_size(with_added_tokens=True) // 64) * 64
    raw = config_dict(family, preset, vocab_size, special)
    raw["msa_config"].update(msa_overrides or {})
    cfg = ModelConfig.from_dict(raw)
    (out / "config.json").write_text(json.dumps(raw, indent=2) + "\n")
    save_sharded(random_weights(cfg, seed, resolve_dtype(dtype)), out, shard_bytes)
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": special["<|endoftext|>"], "pad_token_id": special["<|endoftext|>"],
        "eos_token_id": [special["<|im_end|>"], special["<|endoftext|>"]], "do_sample": False,
    }, indent=2) + "\n")
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
        "chat_template": CHATML_TEMPLATE, "model_max_length": 4096,
    }, indent=2) + "\n")
    return out
