"""Shared fixtures: tiny random checkpoints in the published MSA format, written once per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# Without a GPU, Triton kernels run under the interpreter; must be set before any kernel import.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from msa.model.checkpoints.random_checkpoint import write_random_checkpoint

# The repository root is on sys.path (for `tests.*`, and `python -m` adds the working directory), and its folders
# are the `msa` package's: `kernels/` would shadow the installed `kernels` that transformers (the parity oracle)
# imports. Installed packages go first.
_ROOT = Path(__file__).resolve().parents[1]
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == _ROOT)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request) -> str:
    """Runs a test on the CPU and, where there is one, again on the GPU."""
    return request.param


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Callable[..., Path]:
    """checkpoint(family, dtype="float32", preset="tiny", seed=0, **msa_overrides) -> directory (cached)."""
    made: dict[tuple, Path] = {}

    def make(family: str = "qwen3", dtype: str = "float32", preset: str = "tiny", seed: int = 0,
             **msa_overrides) -> Path:
        key = (family, dtype, preset, seed, tuple(sorted(msa_overrides.items())))
        if key not in made:
            out = tmp_path_factory.mktemp(f"ckpt-{family}")
            made[key] = write_random_checkpoint(out, family, preset, seed, dtype, msa_overrides)
        return made[key]

    return make


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖ / ‖ref‖ in float64 (on the host: one may come from the store, one from the device)."""
    out, ref = out.double().cpu(), ref.double().cpu()
    return float((out - ref).norm() / ref.norm())
