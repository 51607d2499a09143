"""Top-k documents on the GPU without a host round trip per step: the oracle's `top_k` in Triton.

Each score becomes one int64 sort key whose order is the ranking: the float's bits made monotone (negative
floats have their magnitude bits flipped; -0.0 counts as 0.0) in the high 32 bits, and 2^32 - 1 - index in
the low 32 bits, so equal scores rank the lower index first. NaN ranks as -inf. A kernel sorts blocks of
keys (bitonic, `tl.sort`) and keeps each block's best K; it runs again over the survivors until one block
is left (one launch up to BLOCK * BLOCK / K scores). The k winning keys come back to the host in one
copy and decode there into indices and the exact scores; -inf entries are dropped, as in the oracle.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

BLOCK = 2048  # keys sorted per program
LOW = 0xFFFFFFFF
LAST: tl.constexpr = tl.constexpr(-9223372036854775807)  # below every real key (-inf's is about -9.19e18)


@triton.jit
def _block_best(src, dst, n, FROM_SCORES: tl.constexpr, BLOCK: tl.constexpr, K: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    if FROM_SCORES:
        x = tl.load(src + offs, mask=ok, other=float("-inf")).to(tl.float32)
        x = tl.where(x != x, float("-inf"), x)  # NaN ranks as -inf
        x = tl.where(x == 0.0, 0.0, x)  # -0.0 ties with 0.0
        bits = x.to(tl.int32, bitcast=True)
        mono = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # signed order of the ints = order of the floats
        key = (mono.to(tl.int64) << 32) | (0xFFFFFFFF - offs.to(tl.int64))
        key = tl.where(ok, key, LAST)  # past the end: last
    else:
        key = tl.load(src + offs, mask=ok, other=LAST)
    best = tl.sort(key, descending=True)
    out = tl.program_id(0) * K + tl.arange(0, BLOCK)
    tl.store(dst + out, best, mask=tl.arange(0, BLOCK) < K)


def supports(scores: Tensor, k: int) -> bool:
    return scores.is_cuda and scores.dim() == 1 and 0 < k <= BLOCK // 2 and scores.numel() < 2 ** 31


def top_k(scores: Tensor, k: int, block: int = BLOCK) -> tuple[Tensor, Tensor]:
    """As the oracle: best k (indices, scores), highest first, ties by lower index, -inf and NaN never
    selected; the results are host tensors (the one copy back). `block`: keys per program (k <= block/2)."""
    n = scores.numel()
    big = max(2, triton.next_power_of_2(k))  # survivors per block
    src, from_scores = scores.contiguous(), True
    while True:
        blocks = triton.cdiv(n, block)
        dst = torch.empty(blocks * big, dtype=torch.int64, device=scores.device)
        _block_best[(blocks,)](src, dst, n, FROM_SCORES=from_scores, BLOCK=block, K=big)
        src, n, from_scores = dst, blocks * big, False
        if blocks == 1:
            break
    keys = src[: min(k, scores.numel())].cpu()
    index = LOW - (keys & LOW)
    mono = (keys >> 32).to(torch.int32)
    values = torch.where(mono < 0, mono ^ 0x7FFFFFFF, mono).view(torch.float32)
    keep = values > float("-inf")
    return index[keep], values[keep].to(scores.dtype)
