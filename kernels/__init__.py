"""Compute ops: one folder per op, each with a plain-torch `naive.py` oracle (also the CPU path, except where an
op has a `cpu.py`); `checks.py` holds the argument checks every Triton launcher runs before it launches."""
