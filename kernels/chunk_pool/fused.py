"""Varlen chunk mean pooling in one Triton kernel: every input element is read once, every output written
once, sums in fp32. A program takes PER_PROGRAM consecutive chunks and walks each one's feature blocks in
one flat, software-pipelined loop, loading a whole chunk's tokens for a block of features at a time.

Chunk geometry (first token and token count of every chunk) is computed on the host from the document
boundaries and uploaded once per distinct packing: no device synchronisation when the boundaries are on
the host (a device tensor costs one copy back).
"""

from __future__ import annotations

import functools
import itertools
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from msa.kernels import checks
from msa.kernels.chunk_pool.naive import chunk_counts
from msa.kernels.grid import AUTOTUNE_LOCK

DTYPES = (*checks.FLOATS, torch.float64)  # read and written as given, summed in fp32 (as the oracle)


@functools.lru_cache(maxsize=16)
def chunk_geometry(bounds: tuple[int, ...], chunk_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Document boundaries (cu_seqlens as ints) -> (cu_chunks [N+1] int64 on the host, first token and token
    count of every chunk [2, C] int32 on `device`)."""
    cu = torch.tensor(bounds, dtype=torch.int64)
    lengths = cu[1:] - cu[:-1]
    counts = chunk_counts(lengths, chunk_size)
    cu_chunks = torch.zeros_like(cu)
    cu_chunks[1:] = torch.cumsum(counts, 0)
    doc = torch.repeat_interleave(torch.arange(len(lengths)), counts)  # [C]
    first = cu[doc] + (torch.arange(len(doc)) - cu_chunks[doc]) * chunk_size
    size = torch.minimum(cu[doc + 1] - first, torch.full_like(first, chunk_size))
    return cu_chunks, torch.stack([first, size]).to(torch.int32).to(device)


def _configs() -> list[triton.Config]:
    """Shapes from a sweep on an H100 (all at 99-101% of the copy rate there); one under the interpreter."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({"BLOCK_F": 256, "PER_PROGRAM": 2, "STAGES": 1}, num_warps=4)]
    return [triton.Config({"BLOCK_F": f, "PER_PROGRAM": p, "STAGES": st}, num_warps=4)
            for f, p, st in ((512, 2, 4), (512, 2, 3), (512, 1, 2), (256, 4, 2))]


SHARED_BYTES = 200 * 1024  # under an H100's / H200's 227 KiB of shared memory per block


def _fitting(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    """The configurations whose pipelined tiles (STAGES - 1 buffered [BLOCK_T, BLOCK_F] tiles) fit in shared
    memory; for wide elements and long chunks (float64, chunk_size > 64) where none does, one unpipelined tile
    of the widest feature block that fits."""
    args = {**named_args, **kwargs}  # launched with keywords: the tensors come in kwargs
    tile = args["BLOCK_T"] * args["x"].element_size()  # bytes of one feature column of a tile
    fit = [c for c in configs if tile * c.kwargs["BLOCK_F"] * max(c.kwargs["STAGES"] - 1, 1) <= SHARED_BYTES]
    if fit:
        return fit
    block_f = max(16, min(512, triton.next_power_of_2(SHARED_BYTES // tile + 1) // 2))
    return [triton.Config({"BLOCK_F": block_f, "PER_PROGRAM": 2, "STAGES": 1}, num_warps=4)]


@triton.autotune(configs=_configs(), key=["F", "BLOCK_T"], prune_configs_by={"early_config_prune": _fitting})
@triton.jit
def _pool(x, geometry, out, C, F: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr,
          PER_PROGRAM: tl.constexpr, STAGES: tl.constexpr):
    blocks: tl.constexpr = (F + BLOCK_F - 1) // BLOCK_F  # feature blocks per chunk
    toks = tl.arange(0, BLOCK_T)
    for step in tl.range(0, PER_PROGRAM * blocks, num_stages=STAGES):
        chunk = tl.program_id(0) * PER_PROGRAM + step // blocks
        ok = chunk < C
        start = tl.load(geometry + chunk, mask=ok, other=0).to(tl.int64)
        n = tl.load(geometry + C + chunk, mask=ok, other=0)
        feats = (step % blocks) * BLOCK_F + tl.arange(0, BLOCK_F)
        feat_ok = feats < tl.where(ok, F, 0)  # [BLOCK_F]; no features past the last chunk
        tile = tl.load(x + (start + toks[:, None]) * F + feats[None, :],
                       mask=(toks[:, None] < n) & feat_ok[None, :], other=0.0)  # [BLOCK_T, BLOCK_F]
        mean = tl.sum(tile.to(tl.float32), axis=0) / tl.maximum(n, 1).to(tl.float32)
        tl.store(out + chunk.to(tl.int64) * F + feats, mean.to(out.dtype.element_ty), mask=feat_ok)


def chunk_pool(x: Tensor, cu_seqlens: Tensor, chunk_size: int, out: Tensor | None = None
               ) -> tuple[Tensor, Tensor]:
    """x [T, G, D] packed documents -> (pooled [C, G, D] in x's dtype, cu_chunks [N+1] on cu_seqlens' device),
    as the oracle."""
    shapes = checks.Shapes()
    shapes.check("x", x, "T G D")
    checks.dtype("x", x, DTYPES)
    shapes.check("cu_seqlens", cu_seqlens, "N+1")
    checks.dtype("cu_seqlens", cu_seqlens, checks.INDICES)
    bounds = tuple(cu_seqlens.tolist())
    check_bounds(bounds, x.shape[0], chunk_size)
    cu_chunks, geometry = chunk_geometry(bounds, chunk_size, x.device)
    c, features = geometry.shape[1], x.shape[1] * x.shape[2]
    if out is not None:
        shapes.fix("C", c, "cu_seqlens and chunk_size")
        shapes.check("out", out, "C G D")
        checks.dtype("out", out, (x.dtype,), like="x")
        checks.contiguous("out", out)
        checks.same_device("out", out, "x", x.device)
    checks.launch_device("x", x)
    if out is None:
        out = torch.empty((c, *x.shape[1:]), dtype=x.dtype, device=x.device)
    if c:
        with AUTOTUNE_LOCK:
            _pool[lambda meta: (triton.cdiv(c, meta["PER_PROGRAM"]),)](
                x=x.contiguous(), geometry=geometry, out=out, C=c, F=features,
                BLOCK_T=triton.next_power_of_2(chunk_size))
    return out, cu_chunks.to(cu_seqlens.device)


def check_bounds(bounds: tuple[int, ...], tokens: int, chunk_size: int) -> None:
    """The kernel reads every chunk's tokens where the boundaries say: they must cover x exactly, in order."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected at least 1, got {chunk_size}")
    if not bounds:
        raise ValueError("cu_seqlens: expected at least one boundary, got none")
    if bounds[0] != 0 or bounds[-1] != tokens:
        raise ValueError(f"cu_seqlens: expected boundaries from 0 to {tokens} (x's T), got {bounds[0]} to {bounds[-1]}")
    drops = [i for i, (a, b) in enumerate(itertools.pairwise(bounds)) if b < a]
    if drops:
        raise ValueError(f"cu_seqlens: expected non-decreasing boundaries, got {bounds[drops[0]]} then "
                         f"{bounds[drops[0] + 1]} at index {drops[0]}")
