"""Attention over [memory rows; local K/V] in Triton, reading memory rows through their index (no gathered
copy), split over the keys so that a single decoding token still fills the GPU.

Keys form one virtual sequence: positions 0 .. P-1 are pool rows rows[0 .. P-1], positions P .. P+L-1 the
local cache. A program takes BLOCK_M query rows of one KV head (a query row is a (token, query head of the
group) pair, so GQA heads share every K/V tile), one slice of the virtual sequence, and runs an online
softmax in fp32 (exp2 with log2(e) folded into the scale; fp32 inputs multiply in full fp32). With one
slice per row block it writes the output; otherwise each slice writes its normalised partial output and
log-sum-exp and a second kernel merges the slices (flash-decoding).

The number of local keys (`length`) and of memory rows (`MemoryRows.count`) may be read from the device: a
decoding step captured in a CUDA graph then replays with a cache that grows, and for another question's memory
rows, over buffers of a fixed capacity.
"""

from __future__ import annotations

import logging
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from msa.kernels import checks
from msa.kernels.grid import AUTOTUNE_LOCK, multiprocessors
from msa.kernels.sparse_attn.naive import MemoryRows

LOG2E = 1.4426950408889634
BLOCK_N = 64  # keys per step (decoding)
PROMPT_ROWS = 256  # query rows (tokens x query heads of a KV head) from which a launch may take the prompt tiles
_PROMPT_TILES = {"failed": False}  # tuning the prompt tiles failed once: this process keeps the fixed tiles
log = logging.getLogger(__name__)


@triton.jit
def _attend(q, k, v, pool_k, pool_v, rows, out, part_out, part_lse, scale_log2e, Tq, L, length, P, count, span,
            k_slot, v_slot, pool_k_slot, pool_v_slot,
            LENGTH_ON_DEVICE: tl.constexpr, COUNT_ON_DEVICE: tl.constexpr, H: tl.constexpr, G: tl.constexpr,
            D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, SPLIT: tl.constexpr,
            PRECISION: tl.constexpr):
    HPG: tl.constexpr = H // G  # query heads per KV head
    slot, g, split = tl.program_id(1) // G, tl.program_id(1) % G, tl.program_id(2)
    if LENGTH_ON_DEVICE:
        L = tl.load(length + slot).to(tl.int32)  # local keys written so far: the buffers k / v hold more rows
    if COUNT_ON_DEVICE:
        P = tl.load(count + slot).to(tl.int32)  # memory rows of this question: `rows` holds more
    # this slot's tensors: q and out [S, Tq, H, D] contiguous, each slot's k / v / pool rows contiguous
    q += slot.to(tl.int64) * Tq * H * D
    out += slot.to(tl.int64) * Tq * H * D
    k += slot.to(tl.int64) * k_slot
    v += slot.to(tl.int64) * v_slot
    pool_k += slot.to(tl.int64) * pool_k_slot
    pool_v += slot.to(tl.int64) * pool_v_slot
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # query rows: token m // HPG, head g*HPG + m % HPG
    tok = m // HPG
    head = g * HPG + m % HPG
    row_ok = tok < Tq
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < D
    qt = tl.load(q + (tok * H + head)[:, None].to(tl.int64) * D + dims[None, :],
                 mask=row_ok[:, None] & dim_ok[None, :], other=0.0)  # [BLOCK_M, BLOCK_D]
    # this program's slice of the virtual sequence, cut at the last key any of its queries may see
    last_tok = tl.minimum(tl.program_id(0) * BLOCK_M + BLOCK_M - 1, Tq * HPG - 1) // HPG
    lo = split * span
    hi = tl.minimum(lo + span, P + L - Tq + last_tok + 1)
    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    for start in tl.range(lo, hi, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)  # [BLOCK_N] virtual key positions
        in_pool = n < P
        in_local = (n >= P) & (n < hi)
        pool_row = tl.load(rows + n, mask=in_pool, other=0).to(tl.int64)
        pool_off = (pool_row * G + g)[:, None] * D + dims[None, :]
        local_off = ((n - P).to(tl.int64) * G + g)[:, None] * D + dims[None, :]
        pool_mask, local_mask = in_pool[:, None] & dim_ok[None, :], in_local[:, None] & dim_ok[None, :]
        kt = (tl.load(pool_k + pool_off, mask=pool_mask, other=0.0)
              + tl.load(k + local_off, mask=local_mask, other=0.0))  # [BLOCK_N, BLOCK_D]
        vt = (tl.load(pool_v + pool_off, mask=pool_mask, other=0.0)
              + tl.load(v + local_off, mask=local_mask, other=0.0))
        s = tl.dot(qt, tl.trans(kt), input_precision=PRECISION)
        visible = in_pool[None, :] | (in_local[None, :] & ((n - P)[None, :] <= (L - Tq + tok)[:, None]))
        s = tl.where(visible, s * scale_log2e, float("-inf"))  # [BLOCK_M, BLOCK_N]
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row with nothing visible yet
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p.to(vt.dtype), vt, input_precision=PRECISION)
        m_i = m_new
    o = acc / tl.maximum(l_i, 1e-30)[:, None]
    r = tok * H + head  # output row
    o_mask = row_ok[:, None] & dim_ok[None, :]
    if SPLIT:  # partials [splits, S * Tq * H (, D)]
        rows_total = tl.num_programs(1) // G * Tq * H
        part = split * rows_total + slot * Tq * H + r
        tl.store(part_out + part[:, None].to(tl.int64) * D + dims[None, :], o, mask=o_mask)
        tl.store(part_lse + part, m_i + tl.log2(l_i), mask=row_ok)  # -inf: nothing seen
    else:
        tl.store(out + r[:, None].to(tl.int64) * D + dims[None, :], o.to(out.dtype.element_ty), mask=o_mask)


def _prompt_configs() -> list[triton.Config]:
    """Tiles for prompts, tried on a GPU at the first prompt of each head geometry and dtype (while the autotune
    lock is held: other routing waits), the decoding tiles (64 query rows, 64 keys, 4 warps) among them; the prompt
    attention of ~9K tokens ran at ~65 TFLOP/s with those on an H100 (docs/benchmarks.md). Under the interpreter one
    fixed choice, other than decoding's, so the tests run its shapes."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({"BLOCK_M": 128, "BLOCK_N": 32}, num_warps=4)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=st)
            for m, n, w, st in ((64, 64, 4, 3), (64, 64, 4, 2), (64, 128, 4, 2), (128, 64, 8, 2), (128, 64, 8, 3),
                                (128, 128, 8, 2))]


# Prompts: the same kernel, its tiles autotuned (once per key; decoding steps keep fixed tiles, being captured in
# CUDA graphs, where no autotuning may run). A config that does not fit the device is skipped by the autotuner.
_attend_prompt = triton.autotune(configs=_prompt_configs(),
                                 key=["H", "G", "D", "BLOCK_D", "PRECISION", "LENGTH_ON_DEVICE", "COUNT_ON_DEVICE"]
                                 )(_attend)


@triton.jit
def _merge(part_out, part_lse, out, R, SPLITS, D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_SPLITS: tl.constexpr):
    r = tl.program_id(0)
    s = tl.arange(0, BLOCK_SPLITS)
    dims = tl.arange(0, BLOCK_D)
    lse = tl.load(part_lse + s * R + r, mask=s < SPLITS, other=float("-inf"))  # [BLOCK_SPLITS]
    top = tl.max(lse, axis=0)
    w = tl.exp2(lse - top)  # slices that saw nothing weigh 0
    o = tl.load(part_out + (s * R + r)[:, None].to(tl.int64) * D + dims[None, :],
                mask=(s < SPLITS)[:, None] & (dims < D)[None, :], other=0.0)
    merged = tl.sum(o * w[:, None], axis=0) / tl.sum(w, axis=0)
    tl.store(out + r.to(tl.int64) * D + dims, merged.to(out.dtype.element_ty), mask=dims < D)


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None,
                     out: Tensor | None = None, length: Tensor | None = None) -> Tensor:
    """As `naive.sparse_attention`: q [Tq, H, D] over memory rows and local k / v [L, G, D] -> [Tq, H, D]
    (into `out` if given). `length` [1] (device integers): only the first `length` rows of k / v are local
    keys, read when the kernel runs (no host synchronisation); the caller keeps Tq <= length <= L. So is
    `memory.count`, the memory rows read (count <= P)."""
    if memory is None or not memory.rows.numel():
        memory = MemoryRows(k, v, torch.zeros(0, dtype=torch.int64, device=k.device))
    check_inputs(q, k, v, memory, out, length)
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device) if out is None else out  # row-major, as written
    slotted = MemoryRows(memory.k[None], memory.v[None], memory.rows, memory.count)
    _launch(q[None], k[None], v[None], scale, slotted, out[None], length)
    return out


def slot_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None,
                   out: Tensor | None = None, lengths: Tensor | None = None) -> Tensor:
    """Slots side by side in one launch (the answers of a decoding batch): q [S, Tq, H, D], k / v [S, L, G, D],
    memory rows `memory.rows` [P] of each slot's pool `memory.k` / `memory.v` [S, N, G, D], `memory.count` and
    `lengths` [S] on the device -> [S, Tq, H, D], slot s as `sparse_attention` of its own q, k, v, pool, count and
    length. k, v and the pools may be views into larger buffers: only each slot's rows need be contiguous."""
    if memory is None or not memory.rows.numel():
        memory = MemoryRows(k, v, torch.zeros(0, dtype=torch.int64, device=k.device))
    check_inputs(q, k, v, memory, out, lengths, slots=True)
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device) if out is None else out  # row-major, as written
    if q.shape[0]:
        _launch(q, k, v, scale, memory, out, lengths)
    return out


def _launch(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows, out: Tensor,
            length: Tensor | None) -> None:
    """The kernels over checked slotted arguments: q / out [S, Tq, H, D], k / v [S, L, G, D], pools [S, N, G, D]."""
    s, tq, h, d = q.shape
    keys, g = k.shape[1], k.shape[2]  # at most: `length` may hold fewer
    p = memory.rows.shape[0]
    q, k, v, pool_k, pool_v = q.contiguous(), *map(_slot_rows_contiguous, (k, v, memory.k, memory.v))
    rows = tq * (h // g)  # query rows of a slot: (token, query head of the group) pairs
    block_d = max(16, triton.next_power_of_2(d))
    args = dict(q=q, k=k, v=v, pool_k=pool_k, pool_v=pool_v, rows=memory.rows.contiguous(), out=out,
                scale_log2e=scale * LOG2E, Tq=tq, L=keys, length=q if length is None else length, P=p,
                count=q if memory.count is None else memory.count,
                k_slot=k.stride(0), v_slot=v.stride(0), pool_k_slot=pool_k.stride(0), pool_v_slot=pool_v.stride(0),
                LENGTH_ON_DEVICE=length is not None, COUNT_ON_DEVICE=memory.count is not None, H=h, G=g, D=d,
                BLOCK_D=block_d, PRECISION="ieee" if q.dtype == torch.float32 else "tf32")
    if _prompt_tiles_apply(rows, s * g, q.device):
        try:
            with AUTOTUNE_LOCK:
                _attend_prompt[lambda meta: (triton.cdiv(rows, meta["BLOCK_M"]), s * g, 1)](
                    **args, part_out=out, part_lse=out, span=p + keys, SPLIT=False)
            return
        except Exception:  # tuning failed (a config's compiler error, no memory for its benchmark): fixed tiles
            log.warning("sparse_attn.prompt_tiles_failed", exc_info=True)
            _PROMPT_TILES["failed"] = True
    block_m = 16 if rows <= 16 else 64
    row_blocks = triton.cdiv(rows, block_m)
    # enough programs to fill every SM twice, each at least one key block
    splits = max(1, min(triton.cdiv(p + keys, BLOCK_N),
                        triton.cdiv(2 * multiprocessors(q.device), row_blocks * g * s)))
    span = BLOCK_N * triton.cdiv(triton.cdiv(p + keys, splits), BLOCK_N)
    splits = triton.cdiv(p + keys, span)
    part_out = part_lse = out
    if splits > 1:
        part_out = torch.empty((splits, s * tq * h, d), dtype=torch.float32, device=q.device)
        part_lse = torch.empty((splits, s * tq * h), dtype=torch.float32, device=q.device)
    _attend[(row_blocks, s * g, splits)](**args, part_out=part_out, part_lse=part_lse, span=span, BLOCK_M=block_m,
                                         BLOCK_N=BLOCK_N, SPLIT=splits > 1, num_warps=4)
    if splits > 1:
        _merge[(s * tq * h,)](part_out=part_out, part_lse=part_lse, out=out, R=s * tq * h, SPLITS=splits, D=d,
                              BLOCK_D=block_d, BLOCK_SPLITS=max(2, triton.next_power_of_2(splits)))


def _prompt_tiles_apply(rows: int, heads: int, device: torch.device) -> bool:
    """A prompt's launch: enough query rows that its largest row blocks alone fill the device (else the decoding
    path splits the keys for parallelism), unless tuning its tiles failed in this process."""
    return (rows >= PROMPT_ROWS and triton.cdiv(rows, 128) * heads >= multiprocessors(device)
            and not _PROMPT_TILES["failed"])


def _slot_rows_contiguous(t: Tensor) -> Tensor:
    """t [S, rows, G, D] with each slot's rows row-major (a copy only where they are not); slots may lie apart."""
    return t if t[0].is_contiguous() else t.contiguous()


def check_inputs(q: Tensor, k: Tensor, v: Tensor, memory: MemoryRows, out: Tensor | None,
                 length: Tensor | None = None, slots: bool = False) -> None:
    """What the kernel reads as given: matching [*, G, D] layouts (each with a leading slot dimension S when
    `slots`), one float dtype, row indices, one count per slot, the query's device; the launcher makes the inputs'
    rows contiguous, `out` is written in place."""
    lead = "S " if slots else ""
    shapes = checks.Shapes()
    shapes.check("q", q, lead + "Tq H D")
    shapes.check("k", k, lead + "L G D")
    shapes.check("v", v, lead + "L G D")
    shapes.check("memory.k", memory.k, lead + "N G D")
    shapes.check("memory.v", memory.v, lead + "N G D")
    shapes.check("memory.rows", memory.rows, "P")
    if out is not None:
        shapes.check("out", out, lead + "Tq H D")
    if shapes["H"] % shapes["G"]:
        raise ValueError(f"q: expected query heads H a multiple of k's KV heads G = {shapes['G']}, got "
                         f"H = {shapes['H']}")
    if shapes["L"] < shapes["Tq"]:
        raise ValueError(f"k: expected at least q's Tq = {shapes['Tq']} local keys (the queries are the last of "
                         f"them), got L = {shapes['L']}")
    checks.dtype("q", q, checks.FLOATS)
    for name, t in (("k", k), ("v", v), ("memory.k", memory.k), ("memory.v", memory.v), ("out", out)):
        if t is not None:
            checks.dtype(name, t, (q.dtype,), like="q")
    checks.dtype("memory.rows", memory.rows, checks.INDICES)
    counts = shapes["S"] if slots else 1
    for name, count in (("lengths" if slots else "length", length), ("memory.count", memory.count)):
        if count is not None:
            if count.shape != (counts,):
                raise ValueError(f"{name}: expected one count of rows per slot, shape ({counts},), got "
                                 f"{tuple(count.shape)}")
            checks.dtype(name, count, checks.INDICES)
    if out is not None:
        checks.contiguous("out", out)
    checks.launch_device("q", q)
    for name, t in (("k", k), ("v", v), ("memory.k", memory.k), ("memory.v", memory.v),
                    ("memory.rows", memory.rows), ("out", out), ("length", length), ("memory.count", memory.count)):
        if t is not None:
            checks.same_device(name, t, "q", q.device)
