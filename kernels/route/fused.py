"""Routing chunk scores in one persistent Triton kernel: every chunk's routing keys are read once.

Heads are folded first (on the host, O(S·H·D)): with head_reduce "mean" the mean over query heads of
per-head scores is linear in the queries, so the query heads of each GQA group add up into one vector,
    score[t, c] = scale / H · sum_g  <Q[t, g], k[c, g]> · r[c, g],   Q[t, g] = sum_{h in g} q̂[t, h],
where q̂ is q normalised per head (cosine) or q itself, and r the key's inverse norm (cosine) or 1 (fp8
keys: the stored inverse norm of the values, or the dequantisation scale). One program per SM share walks
[BLOCK_C, D] key tiles group by group (a flat loop over (tile, group), so the load pipeline never drains
between tiles), multiplies them with Q on the tensor cores and keeps the max over routing tokens: chunk
scores [C] in fp32, or with a chunk -> document map each document's max by an atomic max per row.
Q is split into terms in the keys' dtype so the products keep about fp32 accuracy:
    bf16 / fp16 keys: Q = hi + lo (relative error ~1.5e-5 of each product, against ~4e-3 for Q in bf16);
    fp8 keys: Q·s = t0 + t1/16 + t2/256 in e4m3 (s a power of two), about 2^-12 relative;
    fp32 keys: Q itself with tf32x3.
query_reduce "mean" and "last" reduce Q before the launch (both are linear).
"""

from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from msa.kernels import checks
from msa.kernels.grid import AUTOTUNE_LOCK, multiprocessors
from msa.kernels.route.fp8 import E4M3_MAX, Fp8Keys
from msa.kernels.route.naive import RouteSpec

EPS = 1e-12  # F.normalize's
Keys = Tensor | Fp8Keys
KEY_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn)
QUERY_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)  # folded in fp32 on the host
QUERY_REDUCES = ("max", "mean", "last")


def supports(keys: Keys, spec: RouteSpec) -> bool:
    """What the kernel computes as the oracle does; anything else takes the naive path."""
    dtype = keys.values.dtype if isinstance(keys, Fp8Keys) else keys.dtype
    return (spec.head_reduce == "mean" and spec.score_dtype == torch.float32 and keys.shape[0] > 0
            and dtype in KEY_DTYPES)


def fold_queries(q: Tensor, groups: int, spec: RouteSpec) -> tuple[Tensor, float]:
    """q [S, H, D] -> (folded queries [S', G, D] fp32, factor): the oracle's per-group query sum is
    factor * folded (S' = 1 for query_reduce mean / last). The factor (scale / H, positive) is applied to
    the final scores, which saves a pass here: every op of this preamble is host time per call."""
    s, h, d = q.shape
    q = q.float()
    if spec.cosine:
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(EPS)  # F.normalize
    folded = q.view(s, groups, h // groups, d).sum(2)  # [S, G, D]
    if spec.query_reduce == "mean":
        folded = folded.mean(0, keepdim=True)
    elif spec.query_reduce == "last":
        folded = folded[-1:]
    return folded, (1.0 if spec.scale is None else spec.scale) / h


FP8_STEP = 1 / 16  # each e4m3 term refines the last by e4m3's 2^-4 relative step


def split_queries(folded: Tensor, dtype: torch.dtype) -> tuple[Tensor, float, Tensor]:
    """folded [S, G, D] fp32 -> (terms [T, S, G, D] in dtype, step, unscale [1] fp32) with
    folded ~= unscale * sum_i terms[i] * step**i. No host synchronisation."""
    terms = torch.empty((1 if dtype == torch.float32 else 2 if dtype != torch.float8_e4m3fn else 3, *folded.shape),
                        dtype=dtype, device=folded.device)
    if dtype != torch.float8_e4m3fn:
        terms[0].copy_(folded)
        if len(terms) == 2:
            torch.sub(folded, terms[0], out=terms[1])  # the rounding error of the first term
        return terms, 1.0, folded.new_ones(1)
    # a power of two (exact) that puts the largest element just under e4m3's largest finite value
    scale = torch.exp2(torch.floor(torch.log2(E4M3_MAX / folded.abs().amax().clamp_min(1e-30))))
    rest = folded * scale
    for i in range(3):
        terms[i].copy_(rest / FP8_STEP ** i)
        rest -= terms[i].float() * FP8_STEP ** i
    return terms, FP8_STEP, (1.0 / scale).view(1)


def _configs() -> list[triton.Config]:
    """Tile shapes and programs per SM tried once per shape on a GPU: for one question (16 query columns) the
    front of a sweep on an H100 (bf16 and fp8 keys, within 2% of each other there; 8-warp tiles were picked
    at times and ran 20% slower on another H100), for several questions side by side 8-warp tiles, whose
    wider accumulator the tensor cores fill; one fixed choice under the interpreter."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({"BLOCK_C": 64, "PER_SM": 1, "STAGES": 1}, num_warps=4)]
    return [triton.Config({"BLOCK_C": c, "PER_SM": p, "STAGES": st}, num_warps=w)
            for c, w, st, p in ((64, 4, 6, 3), (64, 4, 3, 3), (64, 4, 4, 2), (128, 4, 3, 2),
                                (64, 8, 3, 2), (128, 8, 3, 1), (128, 8, 2, 2), (256, 8, 2, 1))]


def _by_width(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    """4-warp tiles for one question's 16 columns, 8-warp tiles for wider batches (see `_configs`)."""
    wide = kwargs["BLOCK_Q"] * kwargs["SEG"] > 32
    return [c for c in configs if (c.num_warps == 8) == wide] or configs


@triton.autotune(configs=_configs(), key=["G", "D", "BLOCK_Q", "SEG", "TERMS", "COSINE", "ROW_SCALE", "PER_DOC"],
                 prune_configs_by={"early_config_prune": _by_width})
@triton.jit
def _route_chunks(keys, row_scale, q, lens, owner, out, unscale, factor, C, N, B, G: tl.constexpr,
                  D: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_Q: tl.constexpr,
                  SEG: tl.constexpr, TERMS: tl.constexpr, STEP: tl.constexpr, COSINE: tl.constexpr,
                  ROW_SCALE: tl.constexpr, PER_DOC: tl.constexpr, PER_SM: tl.constexpr, STAGES: tl.constexpr):
    # B questions side by side: column j of the query tile is routing token j % SEG of question j // SEG.
    # PER_SM only sizes the grid (programs per SM); reruns are idempotent (stores, atomic max)
    pid, programs = tl.program_id(0), tl.num_programs(0)
    mine = tl.cdiv(tl.cdiv(C, BLOCK_C) - pid, programs)  # tiles pid, pid + programs, ...
    dims = tl.arange(0, BLOCK_D)
    cols = tl.arange(0, BLOCK_Q * SEG)
    quest = tl.arange(0, BLOCK_Q)
    q_tile = cols[None, :] * (G * D) + dims[:, None]  # [BLOCK_D, BLOCK_Q * SEG]: Q^T of group 0, term 0
    q_mask = dims[:, None] < D
    token_ok = (cols % SEG) < tl.load(lens + cols // SEG)  # lens: valid routing tokens per question, 0 pads
    acc = tl.zeros((BLOCK_C, BLOCK_Q * SEG), dtype=tl.float32)
    for step in tl.range(0, mine * G, num_stages=STAGES):
        g = step % G
        rows = (pid + (step // G) * programs) * BLOCK_C + tl.arange(0, BLOCK_C)  # [BLOCK_C]
        row_ok = rows < C
        k = tl.load(keys + rows[:, None].to(tl.int64) * (G * D) + g * D + dims[None, :],
                    mask=row_ok[:, None] & (dims[None, :] < D), other=0.0)  # [BLOCK_C, BLOCK_D]
        q_g = q + g * D + q_tile
        if TERMS == 1:  # fp32 keys
            part = tl.dot(k, tl.load(q_g, mask=q_mask, other=0.0), input_precision="tf32x3")
        else:
            part = tl.dot(k, tl.load(q_g, mask=q_mask, other=0.0))
            weight = 1.0
            for t in tl.static_range(1, TERMS):
                weight = weight * STEP
                part += tl.dot(k, tl.load(q_g + t * (BLOCK_Q * SEG) * G * D, mask=q_mask, other=0.0)) * weight
        if ROW_SCALE:
            part = part * tl.load(row_scale + rows * G + g, mask=row_ok, other=0.0)[:, None]
        elif COSINE:
            kf = k.to(tl.float32)
            part = part / tl.maximum(tl.sqrt(tl.sum(kf * kf, axis=1)), 1e-12)[:, None]
        acc += part
        if g == G - 1:  # the tile's last group: reduce each question over its routing tokens and write
            masked = tl.where(token_ok[None, :], acc, float("-inf"))
            best = tl.max(tl.reshape(masked, (BLOCK_C, BLOCK_Q, SEG)), axis=2) * (tl.load(unscale) * factor)
            ok = row_ok[:, None] & (quest[None, :] < B)  # [BLOCK_C, BLOCK_Q]
            if PER_DOC:  # max into each row's document (out starts at -inf); owner -1: the row is skipped
                doc = tl.load(owner + rows, mask=row_ok, other=-1)
                tl.atomic_max(out + quest[None, :].to(tl.int64) * N + doc[:, None], best, mask=ok & (doc[:, None] >= 0))
            else:
                tl.store(out + quest[None, :].to(tl.int64) * N + rows[:, None], best, mask=ok)
            acc = tl.zeros((BLOCK_C, BLOCK_Q * SEG), dtype=tl.float32)


def chunk_scores(q: Tensor, keys: Keys, spec: RouteSpec, out: Tensor | None = None) -> Tensor:
    """q [S, H, D] routing queries, keys [C, G, D] (or fp8) -> chunk scores [C] fp32 (the oracle's
    `chunk_scores`); `out` [C] fp32 receives them if given."""
    shapes = check_inputs({"q": q}, keys, spec)
    if out is not None:  # written at row-major offsets
        shapes.check("out", out, "C")
        checks.dtype("out", out, (torch.float32,))
        checks.contiguous("out", out)
        checks.same_device("out", out, "keys", keys.device)
    out = torch.empty(keys.shape[0], dtype=torch.float32, device=keys.device) if out is None else out
    return _launch([q], keys, spec, None, out[None])[0]


def doc_scores(q: Tensor, keys: Keys, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """Per-document max of the chunk scores [num_docs] (-inf: no chunks), reduced inside the kernel."""
    return _doc_scores({"q": q}, keys, chunk_doc, num_docs, spec)[0]


def doc_scores_many(qs: list[Tensor], keys: Keys, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """Several questions' routing queries (each [S_b, H, D]) against the same keys -> [B, num_docs]: the keys
    are read once per launch, and a launch takes as many questions as its query columns hold."""
    return _doc_scores({f"qs[{b}]": q for b, q in enumerate(qs)}, keys, chunk_doc, num_docs, spec)


def _doc_scores(named: dict[str, Tensor], keys: Keys, chunk_doc: Tensor, num_docs: int, spec: RouteSpec
                ) -> Tensor:
    """`doc_scores_many` of questions named as their caller's arguments (for the checks' messages)."""
    if spec.chunk_reduce != "max":
        raise ValueError("the fused per-document reduction is the max; use chunk_scores for the mean")
    shapes = check_inputs(named, keys, spec)
    shapes.check("chunk_doc", chunk_doc, "C")
    checks.dtype("chunk_doc", chunk_doc, checks.INDICES)
    if num_docs < 0:
        raise ValueError(f"num_docs: expected at least 0, got {num_docs}")
    qs = list(named.values())
    out = torch.full((len(qs), num_docs), float("-inf"), dtype=torch.float32, device=keys.device)
    owner = chunk_doc.to(keys.device).contiguous()
    start = 0
    while start < len(qs):
        end = start + 1
        while end < len(qs) and _columns([q.shape[0] for q in qs[start:end + 1]], spec) <= MAX_COLUMNS:
            end += 1
        _launch(qs[start:end], keys, spec, owner, out[start:end])
        start = end
    return out


def check_inputs(qs: dict[str, Tensor], keys: Keys, spec: RouteSpec) -> checks.Shapes:
    """A spec the kernel computes, keys [C, G, D] in a dtype it reads (fp8: with [C, G] fp32 factors) on the
    launch device, and questions {argument name: [S, H, D]} of one head count H (the launch applies the first
    question's 1 / H to all) -> the named sizes. The launcher makes the keys contiguous and moves the
    questions (and chunk_doc) to the keys' device."""
    if spec.head_reduce != "mean" or spec.score_dtype != torch.float32 or spec.query_reduce not in QUERY_REDUCES:
        raise ValueError(f"spec: expected head_reduce 'mean', score_dtype torch.float32 and query_reduce one of "
                         f"{QUERY_REDUCES}, got {spec.head_reduce!r}, {spec.score_dtype} and {spec.query_reduce!r}")
    shapes = checks.Shapes(free=("S",))
    fp8 = isinstance(keys, Fp8Keys)
    name, values = ("keys.values", keys.values) if fp8 else ("keys", keys)
    factors = {"keys.scale": keys.scale, "keys.inv_norm": keys.inv_norm} if fp8 else {}
    shapes.check(name, values, "C G D")
    for factor_name, factor in factors.items():
        shapes.check(factor_name, factor, "C G")
    for q_name, q in qs.items():
        shapes.check(q_name, q, "S H D")
        if q.shape[1] % shapes["G"]:
            raise ValueError(f"{q_name}: expected query heads H a multiple of the keys' G = {shapes['G']}, got "
                             f"H = {q.shape[1]}")
    checks.dtype(name, values, (torch.float8_e4m3fn,) if fp8 else KEY_DTYPES)
    for factor_name, factor in factors.items():
        checks.dtype(factor_name, factor, (torch.float32,))
    for q_name, q in qs.items():
        checks.dtype(q_name, q, QUERY_DTYPES)
    checks.launch_device(name, values)
    for factor_name, factor in factors.items():
        checks.same_device(factor_name, factor, name, values.device)
    return shapes


MAX_COLUMNS = 128  # query columns (questions x routing tokens) of one launch: the accumulator's registers


def _columns(tokens: list[int], spec: RouteSpec) -> int:
    """Query columns a launch needs for questions of these routing-token counts (`_launch`'s padding)."""
    folded = 1 if spec.query_reduce in ("mean", "last") else max(tokens)
    block_q = triton.next_power_of_2(len(tokens))
    return block_q * max(triton.next_power_of_2(folded), 16 // block_q, 1)


def _launch(qs: list[Tensor], keys: Keys, spec: RouteSpec, owner: Tensor | None, out: Tensor) -> Tensor:
    c, g, d = keys.shape
    row_scale = None
    if isinstance(keys, Fp8Keys):
        row_scale = (keys.inv_norm if spec.cosine else keys.scale).contiguous()
        keys = keys.values
    keys = keys.contiguous()
    folded = [fold_queries(q.to(keys.device), g, spec) for q in qs]  # [(S'_b, G, D), factor]
    factor = folded[0][1]
    block_q = triton.next_power_of_2(len(qs))
    seg = _columns([f.shape[0] for f, _ in folded], spec) // block_q  # routing tokens per question, padded
    if len(qs) == 1 and folded[0][0].shape[0] == seg:  # the common single question: no padding copy
        queries = folded[0][0]
    else:
        queries = folded[0][0].new_zeros(block_q, seg, g, d)
        for b, (f, _) in enumerate(folded):
            queries[b, : f.shape[0]] = f
    lens = _lens(tuple(f.shape[0] for f, _ in folded) + (0,) * (block_q - len(qs)), keys.device)
    terms, step, unscale = split_queries(queries, keys.dtype)
    sms = multiprocessors(keys.device)
    tiles = lambda meta: triton.cdiv(c, meta["BLOCK_C"])  # noqa: E731
    block_d = max(32 if row_scale is not None else 16, triton.next_power_of_2(d))  # fp8 dots: K >= 32
    with AUTOTUNE_LOCK:
        _route_chunks[lambda meta: (min(tiles(meta), sms * meta["PER_SM"]),)](
            keys=keys, row_scale=keys if row_scale is None else row_scale, q=terms, lens=lens,
            owner=out if owner is None else owner, out=out, unscale=unscale, factor=factor, C=c, N=out.shape[1],
            B=len(qs), G=g, D=d, BLOCK_D=block_d, BLOCK_Q=block_q, SEG=seg, TERMS=terms.shape[0], STEP=step,
            COSINE=spec.cosine, ROW_SCALE=row_scale is not None, PER_DOC=owner is not None)
    return out


@functools.lru_cache(maxsize=256)
def _lens(lens: tuple[int, ...], device: torch.device) -> Tensor:
    """Routing tokens per question as the kernel reads them (cached: a host-to-device copy per launch costs)."""
    return torch.tensor(lens, dtype=torch.int32, device=device)
