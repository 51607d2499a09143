"""How benchmarks name a model configuration: `DTYPE` or `DTYPE+int8` (int8 decoding on; off otherwise, so a
plain dtype is the dense path whatever the product default)."""

from __future__ import annotations

from msa.model.api import MSAModel


def load_spec(path: str, spec: str, device: str = "cpu") -> MSAModel:
    dtype, _, extra = spec.partition("+")
    if extra not in ("", "int8"):
        raise SystemExit(f"unknown model configuration {spec!r}: use DTYPE or DTYPE+int8")
    return MSAModel.from_pretrained(path, device=device, dtype=dtype, int8_decoding=extra == "int8")
