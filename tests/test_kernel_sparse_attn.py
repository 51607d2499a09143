"""The sparse attention kernel against its oracle (`naive.py`) evaluated in float64, on odd shapes, decode and
prefill, with and without memory rows; under the Triton interpreter on CPU, natively on a GPU. Outputs start as
NaN so an unwritten element shows."""

from __future__ import annotations

import pytest
import torch

from msa.kernels.sparse_attn import cpu, fused, naive, sparse_attention
from msa.kernels.sparse_attn.naive import MemoryRows

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.gpu)]
TOL = {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}  # inputs' and P's rounding


CASES = [  # (tokens, heads, groups, dim, local, pool, selected)
    (1, 4, 2, 16, 5, 10, 3),  # decode, few keys
    (1, 32, 8, 128, 300, 200, 128),  # decode, MSA-4B heads, split over the keys
    (1, 6, 3, 24, 131, 50, 0),  # no memory rows
    (7, 6, 3, 24, 40, 50, 17),  # prefill after a cache
    (33, 4, 4, 16, 33, 9, 9),  # prefill from an empty cache, every pool row
    (70, 8, 2, 64, 90, 40, 23),  # several row blocks
    (131, 6, 2, 32, 200, 30, 9),  # a prompt's tiles (PROMPT_ROWS), the last row block part-filled, after a cache
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("tq", "h", "g", "d", "length", "n", "p"), CASES)
def test_fused_sparse_attention_matches_float64(dtype, tq, h, g, d, length, n, p):
    gen = torch.Generator().manual_seed(tq * 100 + length + p)
    q, k, v = (torch.randn(*shape, generator=gen) for shape in ((tq, h, d), (length, g, d), (length, g, d)))
    pool_k, pool_v = torch.randn(n, g, d, generator=gen), torch.randn(n, g, d, generator=gen)
    rows = torch.randint(0, n, (p,), generator=gen)  # repeats allowed: a row read twice counts twice
    q, k, v, pool_k, pool_v = (t.to(dtype) for t in (q, k, v, pool_k, pool_v))
    scale = d ** -0.5
    want = naive.sparse_attention(q.double(), k.double(), v.double(), scale,
                                  MemoryRows(pool_k.double(), pool_v.double(), rows))  # the same rounded inputs
    dev = [t.to(DEVICE) for t in (q, k, v, pool_k, pool_v, rows)]
    out = torch.full_like(dev[0], float("nan"))
    got = fused.sparse_attention(*dev[:3], scale, MemoryRows(*dev[3:]), out=out)
    assert got.dtype == dtype and not got.isnan().any()
    assert (got.cpu().double() - want).abs().max() <= TOL[dtype]



@pytest.mark.parametrize(("tq", "length", "capacity"), [(1, 1, 70), (1, 131, 131), (3, 77, 300), (1, 200, 1000)])
def test_fused_reads_the_number_of_local_keys_from_the_device(tq, length, capacity):
    """A graph-captured decoding step: buffers of a fixed capacity, rows past `length` unwritten (NaN here)."""
    gen = torch.Generator().manual_seed(length)
    h, g, d, n, p = 8, 2, 32, 40, 9
    q = torch.randn(tq, h, d, generator=gen)
    k, v = (torch.randn(capacity, g, d, generator=gen) for _ in range(2))
    k[length:], v[length:] = float("nan"), float("nan")
    pool_k, pool_v = torch.randn(n, g, d, generator=gen), torch.randn(n, g, d, generator=gen)
    rows = torch.randint(0, n, (p,), generator=gen)
    want = naive.sparse_attention(q.double(), k[:length].double(), v[:length].double(), 0.3,
                                  MemoryRows(pool_k.double(), pool_v.double(), rows))
    dev = [t.to(DEVICE) for t in (q, k, v, pool_k, pool_v, rows)]
    got = fused.sparse_attention(*dev[:3], 0.3, MemoryRows(*dev[3:]),
                                 length=torch.tensor([length], dtype=torch.int32, device=DEVICE))
    assert (got.cpu().double() - want).abs().max() <= TOL[torch.float32]


@pytest.mark.parametrize(("count", "capacity"), [(0, 16), (9, 9), (9, 40), (100, 130)])
def test_fused_reads_the_number_of_memory_rows_from_the_device(count, capacity):
    """Another question's memory rows in a graph's fixed buffers: rows past `count` point at NaN rows here."""
    gen = torch.Generator().manual_seed(count + capacity)
    h, g, d, n, length = 8, 2, 32, 150, 20
    q = torch.randn(1, h, d, generator=gen)
    k, v = (torch.randn(length, g, d, generator=gen) for _ in range(2))
    pool_k, pool_v = torch.randn(n + 1, g, d, generator=gen), torch.randn(n + 1, g, d, generator=gen)
    pool_k[n], pool_v[n] = float("nan"), float("nan")
    rows = torch.full((capacity,), n)
    rows[:count] = torch.randint(0, n, (count,), generator=gen)
    want = naive.sparse_attention(q.double(), k.double(), v.double(), 0.3,
                                  MemoryRows(pool_k.double(), pool_v.double(), rows[:count]))
    dev = [t.to(DEVICE) for t in (q, k, v, pool_k, pool_v, rows)]
    got = fused.sparse_attention(*dev[:3], 0.3, MemoryRows(*dev[3:], count=torch.tensor([count], device=DEVICE)))
    assert (got.cpu().double() - want).abs().max() <= TOL[torch.float32]
    counted = MemoryRows(pool_k.double(), pool_v.double(), rows, torch.tensor([count]))
    assert (naive.sparse_attention(q.double(), k.double(), v.double(), 0.3, counted) - want).abs().max() == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("tq", "slots", "pool", "capacity"), [(1, 3, 40, 50), (1, 5, 0, 300), (2, 2, 130, 400),
                                                             (70, 2, 20, 90)])  # the last: prompts' tiles
def test_slots_in_one_launch_match_each_slot_alone(dtype, tq, slots, pool, capacity):
    """A decoding batch's layout: per slot [memory rows (pool) ; local rows (capacity)] in one buffer, each slot
    with its own count of memory rows and of local keys; rows past them are NaN. Every slot as the oracle
    computes it alone."""
    gen = torch.Generator().manual_seed(tq * 1000 + slots * 10 + pool)
    h, g, d = 8, 2, 32
    q = torch.randn(slots, tq, h, d, generator=gen).to(dtype)
    k, v = (torch.full((slots, pool + capacity, g, d), float("nan")).to(dtype) for _ in range(2))
    counts = torch.randint(0, pool + 1, (slots,), generator=gen)
    lengths = torch.randint(tq, capacity + 1, (slots,), generator=gen)
    lengths[0] = capacity  # one slot full to the last row
    wants = []
    for s in range(slots):
        rows = list(range(int(counts[s]))) + list(range(pool, pool + int(lengths[s])))
        for t in (k, v):
            t[s, rows] = torch.randn(len(rows), g, d, generator=gen).to(dtype)
        wants.append(naive.sparse_attention(
            q[s].double(), k[s, pool:pool + lengths[s]].double(), v[s, pool:pool + lengths[s]].double(), 0.2,
            MemoryRows(k[s, :pool].double(), v[s, :pool].double(), torch.arange(int(counts[s])))))
    q, k, v, counts, lengths = (t.to(DEVICE) for t in (q, k, v, counts, lengths))
    memory = MemoryRows(k[:, :pool], v[:, :pool], torch.arange(pool, device=DEVICE), counts)
    out = torch.full_like(q, float("nan"))
    got = fused.slot_attention(q, k[:, pool:], v[:, pool:], 0.2, memory, out=out, lengths=lengths)
    assert got is out and not got.isnan().any()
    for s in range(slots):
        assert (got[s].cpu().double() - wants[s]).abs().max() <= TOL[dtype], f"slot {s}"


def test_a_query_of_other_strides_is_answered_in_row_major_layout():
    """q a transposed view (heads outermost): the output is still [Tq, H, D] row-major, as the kernel writes."""
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(6, 5, 16, generator=gen).transpose(0, 1)  # [Tq=5, H=6, D] with strides of [H, Tq, D]
    k, v = torch.randn(9, 3, 16, generator=gen), torch.randn(9, 3, 16, generator=gen)
    want = naive.sparse_attention(q.double(), k.double(), v.double(), 0.25)
    got = fused.sparse_attention(*(t.to(DEVICE) for t in (q, k, v)), 0.25)
    assert (got.cpu().double() - want).abs().max() <= TOL[torch.float32]
    slots = fused.slot_attention(*(t.to(DEVICE)[None] for t in (q, k, v)), 0.25)
    assert (slots[0].cpu().double() - want).abs().max() <= TOL[torch.float32]


def test_a_prompt_whose_tile_tuning_fails_keeps_the_fixed_tiles(monkeypatch):
    """Tuning the prompt tiles may fail on a device (a config's compiler error, no memory for its benchmark): the
    launch then runs the fixed tiles, and the process stops trying."""
    class Failing:
        def __getitem__(self, grid):
            def launch(**kwargs):
                raise RuntimeError("compiler error in a config")
            return launch

    monkeypatch.setattr(fused, "_attend_prompt", Failing())
    monkeypatch.setitem(fused._PROMPT_TILES, "failed", False)
    gen = torch.Generator().manual_seed(11)
    q, k, v = torch.randn(131, 6, 32, generator=gen), torch.randn(140, 2, 32, generator=gen), \
        torch.randn(140, 2, 32, generator=gen)
    assert fused._prompt_tiles_apply(131 * 3, 2, torch.device(DEVICE))
    want = naive.sparse_attention(q.double(), k.double(), v.double(), 0.2)
    got = fused.sparse_attention(*(t.to(DEVICE) for t in (q, k, v)), 0.2)
    assert (got.cpu().double() - want).abs().max() <= TOL[torch.float32]
    assert fused._PROMPT_TILES["failed"] and not fused._prompt_tiles_apply(131 * 3, 2, torch.device(DEVICE))


def test_a_prompt_too_short_to_fill_the_device_splits_its_keys_instead():
    device = torch.device(DEVICE)
    sms = fused.multiprocessors(device)
    assert not fused._prompt_tiles_apply(fused.PROMPT_ROWS - 1, 10 * sms, device)  # too few rows
    assert not fused._prompt_tiles_apply(128 * (sms - 1), 1, device)  # rows, but too few row blocks
    assert fused._PROMPT_TILES["failed"] or fused._prompt_tiles_apply(128 * sms, 1, device)


@pytest.mark.parametrize(("shape", "dtype", "error"), [((2,), torch.int32, ValueError),
                                                       ((1,), torch.float32, TypeError)])
def test_fused_refuses_a_length_that_is_not_one_count(shape, dtype, error):
    q, k = torch.zeros(1, 2, 8, device=DEVICE), torch.zeros(4, 1, 8, device=DEVICE)
    with pytest.raises(error, match="length"):
        fused.sparse_attention(q, k, k, 1.0, length=torch.ones(shape, dtype=dtype, device=DEVICE))

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("tq", "h", "g", "d", "length", "n", "p"), [
    *CASES,
    (1, 9, 3, 64, 1, 4, 0),  # the default model's heads, one key
    (1, 5, 1, 8, 17, 6, 4),  # one KV head for all
    (300, 9, 3, 64, 300, 0, 0),  # a prompt of three row blocks from an empty cache
    (129, 6, 2, 16, 200, 30, 11),  # two row blocks, the second of one row, after a cache and memory rows
])
def test_cpu_path_matches_float64(dtype, tq, h, g, d, length, n, p):
    """What prompts and decoding steps take on the CPU (`sparse_attention` dispatches there without a gradient)."""
    gen = torch.Generator().manual_seed(h * 100 + length + p)
    q, k, v = (torch.randn(*shape, generator=gen) for shape in ((tq, h, d), (length, g, d), (length, g, d)))
    q = q * 6  # logits spread over tens, as trained models' are: scores rounded to bf16 would show
    pool_k, pool_v = torch.randn(max(n, 1), g, d, generator=gen), torch.randn(max(n, 1), g, d, generator=gen)
    rows = torch.randint(0, max(n, 1), (p,), generator=gen)
    q, k, v, pool_k, pool_v = (t.to(dtype) for t in (q, k, v, pool_k, pool_v))
    scale = d ** -0.5
    want = naive.sparse_attention(q.double(), k.double(), v.double(), scale,
                                  MemoryRows(pool_k.double(), pool_v.double(), rows))
    got = sparse_attention(q, k, v, scale, MemoryRows(pool_k, pool_v, rows))
    assert got.dtype == dtype and got.shape == want.shape
    assert (got.double() - want).abs().max() <= TOL[dtype]


def test_cpu_causal_attention_of_several_sequences_matches_each_alone():
    """Documents encoded side by side (`PackedCausal` on the CPU): each as the oracle computes it alone."""
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(4, 150, *shape, generator=gen) for shape in ((6, 16), (2, 16), (2, 16)))
    got = cpu.causal_attention(q, k, v, 0.25)
    for i in range(4):
        want = naive.sparse_attention(q[i].double(), k[i].double(), v[i].double(), 0.25)
        assert (got[i].double() - want).abs().max() <= TOL[torch.float32]


def test_a_gradient_takes_the_differentiable_path(monkeypatch):
    """Training keeps SDPA's backward: the CPU path is taken only when no gradient is wanted."""
    def refuse(*args, **kwargs):
        raise AssertionError("the CPU path was taken")

    q = torch.randn(3, 4, 8, requires_grad=True)
    k, v = torch.randn(5, 2, 8), torch.randn(5, 2, 8)
    with torch.no_grad():
        taken = sparse_attention(q, k, v, 0.3)
    monkeypatch.setattr(cpu, "causal_attention", refuse)
    monkeypatch.setattr(cpu, "single_token", refuse)
    out = sparse_attention(q, k, v, 0.3)
    out.sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    torch.testing.assert_close(out.detach(), taken)


def test_fewer_keys_than_queries_is_refused():
    with pytest.raises(ValueError, match="at least as many keys"):
        cpu.causal_attention(torch.randn(1, 5, 4, 8), torch.randn(1, 3, 2, 8), torch.randn(1, 3, 2, 8), 0.3)
