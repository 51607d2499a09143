"""Continuous batching of decoding steps: answers decoding at the same time on one model share each step's
forward, so the weights (what bounds a decoding step) are read once a step for all of them, not once per answer.

An answer takes a free slot of a `DecodeBatch` that fits it (its prompt K/V and memory rows are copied into the
slot's buffers), begins with the token sampled from its prompt, and from then on the batch's worker thread decodes
it: every step runs one forward over slots 0 .. n-1 (n the power of two covering every decoding slot, or all
slots), picks each answer's next token (one argmax over the greedy answers' rows; an answer's own sampler
otherwise, on host threads side by side: a sampled answer costs every answer in the batch its draw's host
time), streams it to the answer's queue and feeds it back at the next step, until a stop token or the answer's
length. No step waits for an answer's thread: the answer only reads its queue (as a client streams),
and leaves when it stops or its reader goes (at once: a step running with it gives its slot back when it ends).
A new answer joins at the next step. A slot in range without an answer writes into its spare last row, and its
output is dropped. On a GPU each n is captured as a CUDA graph at its second use
(`decode_graph.CapturedForward`); on the CPU the steps run eagerly.

Per layer a slot's buffer holds [memory rows (pool) ; local rows (capacity)]; attention reads the rows each slot
uses (its memory rows, its local rows up to the current token): one launch for all slots on a GPU
(`kernels.sparse_attn.fused.slot_attention`, counts read on the device), one masked SDPA elsewhere.
Opt-in (`MSA_BATCH_DECODE=1`): docs/benchmarks.md has where it stands against `decode_graph`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.sparse_attn import fused
from msa.kernels.sparse_attn.naive import MemoryRows
from msa.model.decode_graph import (
    KEPT_GRAPHS,
    CapturedForward,
    bucket,
    buffer_bytes,
    buffer_shape,
    fits_buffers,
    graph_cap,
    model_registry,
    scope_key,
)
from msa.model.decoder import Attention, KVCache, Rope, Transformer

MAX_SLOTS = 32  # answers decoding together in one batch at most
STEP_TIMEOUT_S = 600.0  # an answer waiting longer than this for its next token gives up (the worker is stuck)
CPU_BATCH_BYTES = 1 << 30  # a batch's buffers at most on the CPU (on a GPU: the graph cap, `decode_graph`)
log = logging.getLogger(__name__)
Choose = Callable[[Tensor], int]  # logits [V] fp32 -> the next token


def batching_wanted(model: Transformer, cache: KVCache, steps: int) -> bool:
    """Whether decoding `steps` tokens after `cache` goes through a batch: `MSA_BATCH_DECODE=1`, a step at least,
    a cache that fits fixed buffers."""
    return os.environ.get("MSA_BATCH_DECODE", "0") == "1" and steps >= 1 and fits_buffers(model, cache)


def _shape(cache: KVCache, steps: int) -> tuple[tuple[bool, ...], int, int]:
    """A slot's buffers: the prompt, the steps and a spare row, in powers of two (answers of nearby lengths
    share a batch)."""
    return buffer_shape(cache, cache.length(0) + steps + 1, 1)


class _Seat:
    """An answer's place in a batch: its slot and prompt length, how it samples, what it has produced, and the
    queue its tokens go to (ids, then the stop reason or the error that ended it)."""

    def __init__(self, batch: DecodeBatch, slot: int, start: int) -> None:
        self.batch, self.slot, self.start = batch, slot, start
        self.index = 0  # steps taken
        self.pending: tuple[int, int] | None = None  # (token, position) for the next step
        self.loaded: torch.cuda.Event | None = None  # recorded after its prompt's copies (on a GPU)
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.decoding = False  # begun, not ended: the worker feeds it
        self.left = False  # given back: its slot goes once no step runs with it
        self.position, self.limit, self.produced = 0, 0, 0
        self.stop_ids: set[int] = set()
        self.choose: Choose | None = None

    def begin(self, logits: Tensor, position: int, max_tokens: int, stop_ids: set[int],
              choose: Choose | None = None) -> None:
        """Decode up to `max_tokens` tokens after the prompt's `logits` [V], fed back from `position` on: the first
        chosen here, the rest by the worker. `choose(logits) -> token`; None: greedy."""
        room = self.batch.capacity - self.start  # rows left for the tokens fed back, and the spare one
        if not 1 <= max_tokens <= room:
            raise ValueError(f"max_tokens: expected 1 to {room} (the slot's rows after its prompt), got {max_tokens}")
        self.position, self.limit, self.stop_ids, self.choose = position, max_tokens, stop_ids, choose
        token = int(torch.argmax(logits)) if choose is None else int(choose(logits))
        with self.batch.cond:
            self.decoding = True
            self.advance(token)
            self.batch.start_worker()  # one that died earlier is replaced
            self.batch.cond.notify_all()

    def advance(self, token: int) -> None:
        """(under the lock) The token chosen after the seat's last step: streamed, and fed back at the next step
        unless it stops the answer or the answer has its length."""
        if token in self.stop_ids:
            self.end("stop")
            return
        self.out.put(token)
        self.produced += 1
        if self.produced >= self.limit:
            self.end("length")
            return
        self.pending = (token, self.position + self.produced - 1)

    def end(self, outcome: str | BaseException) -> None:
        """(under the lock) No more steps: the stop reason, or the error that ended the answer."""
        self.out.put(outcome)
        self.decoding, self.pending = False, None

    def tokens(self) -> Iterator[int | str]:
        """The answer's token ids as the worker chooses them, then its stop reason."""
        while True:
            try:
                item = self.out.get(timeout=STEP_TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(f"no batched decoding step came within {STEP_TIMEOUT_S:.0f} s") from None
            if isinstance(item, BaseException):
                raise RuntimeError("a batched decoding step failed") from item
            yield item
            if isinstance(item, str):
                return


class _BatchMixer:
    """One token per slot of slots 0 .. n-1: its K/V written at the slot's row, attention over the rows the slot
    uses: on a GPU one sparse-attention launch over all slots, reading each slot's row counts from the device
    (only the rows in use are read), elsewhere one masked SDPA over whole slots."""

    def __init__(self, batch: DecodeBatch, n: int) -> None:
        self.batch, self.n = batch, n

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        b, n = self.batch, self.n
        q, k, v = attn.project(h, rope)  # [n, H, D], [n, G, D], [n, G, D]
        slots, rows = b.arange[:n], b.rows[:n] + b.base[layer]
        b.k[layer].index_put_((slots, rows), k)
        b.v[layer].index_put_((slots, rows), v)
        if fused_kernel(q):
            return self._slots(layer, attn, q)
        local = b.local_rows[None, :] < b.lengths[:n, None]  # [n, capacity]
        if b.base[layer]:
            memory = b.memory_rows[None, :] < b.counts[layer][:n, None]  # [n, pool]
            local = torch.cat([memory, local], dim=1)
        g = attn.n_kv_heads  # a KV head's query heads are its query rows: no K/V repeated per query head
        out = F.scaled_dot_product_attention(
            q.view(n, g, -1, q.shape[-1]), b.k[layer][:n].transpose(1, 2), b.v[layer][:n].transpose(1, 2),
            attn_mask=local[:, None, None, :], scale=attn.scale)  # [n, G, H/G, D] over [n, G, rows, D]
        return out.reshape(q.shape)  # [n, H, D]

    def _slots(self, layer: int, attn: Attention, q: Tensor) -> Tensor:
        b, n, base = self.batch, self.n, self.batch.base[layer]
        k, v = b.k[layer][:n], b.v[layer][:n]
        memory = MemoryRows(k[:, :base], v[:, :base], b.memory_rows, b.counts[layer][:n]) if base else None
        out = fused.slot_attention(q[:, None], k[:, base:], v[:, base:], attn.scale, memory, lengths=b.lengths[:n])
        return out[:, 0]  # [n, H, D]


def fused_kernel(q: Tensor) -> bool:
    """The fused kernel's device and dtypes (tests force it under the Triton interpreter)."""
    return q.is_cuda and q.dtype in FLOATS


class DecodeBatch:
    """Slots of fixed capacity for answers of one shape (`_shape`) in one scope; see the module's docstring."""

    def __init__(self, model: Transformer, reads_memory: tuple[bool, ...], capacity: int, pool: int, slots: int,
                 scope: Callable[[], AbstractContextManager]) -> None:
        self.model, self.scope, self.capacity, self.pool, self.slots = model, scope, capacity, pool, slots
        device, dtype, cfg = model.embed_tokens.weight.device, model.embed_tokens.weight.dtype, model.config
        shape = (cfg.num_key_value_heads, cfg.head_dim)
        self.base = [pool if reads else 0 for reads in reads_memory]  # a layer's first local row
        self.k = [torch.zeros((slots, base + capacity, *shape), dtype=dtype, device=device) for base in self.base]
        self.v = [torch.zeros_like(k) for k in self.k]
        self.bytes = 2 * sum(k.numel() * k.element_size() for k in self.k)
        self.counts = [torch.zeros(slots, dtype=torch.int64, device=device) for _ in reads_memory]
        self.arange = torch.arange(slots, device=device)
        self.local_rows = torch.arange(capacity, device=device)
        self.memory_rows = torch.arange(pool, device=device)
        self.inputs = torch.zeros((4, slots), dtype=torch.int64, device=device)  # token, position, row, length
        self.tokens, self.positions, self.rows, self.lengths = self.inputs
        self.device = device
        self.forwards: dict[int, Callable[[], Tensor]] = {}  # n -> the step over slots 0 .. n-1
        self.seats: dict[int, _Seat] = {}
        self.running: list[_Seat] = []  # the seats of the step running now
        self.cond = threading.Condition()
        self.worker: threading.Thread | None = None
        self.steps = 0  # forwards run (tests, metrics)

    # -- the answer's side ---------------------------------------------------------------------------------
    def reserve(self, start: int) -> _Seat | None:
        """The lowest free slot for an answer whose prompt has `start` tokens; None when every slot is taken."""
        with self.cond:
            slot = next((s for s in range(self.slots) if s not in self.seats), None)
            if slot is None:
                return None
            seat = self.seats[slot] = _Seat(self, slot, start)
            return seat

    def load(self, seat: _Seat, cache: KVCache) -> None:
        """Copy the answer's prompt K/V and memory rows into its slot (the caller leaves the seat if this fails)."""
        slot = seat.slot
        for layer, base in enumerate(self.base):
            self.k[layer][slot, base:base + seat.start] = cache.k[layer]
            self.v[layer][slot, base:base + seat.start] = cache.v[layer]
            theirs = cache.memory[layer]
            used = 0 if theirs is None or not base else theirs.rows.shape[0]
            if used:
                torch.index_select(theirs.k, 0, theirs.rows, out=self.k[layer][slot, :used])
                torch.index_select(theirs.v, 0, theirs.rows, out=self.v[layer][slot, :used])
            self.counts[layer][slot] = used
        if self.device.type == "cuda":  # the worker's stream waits for these copies, whatever stream made them
            seat.loaded = torch.cuda.Event()
            seat.loaded.record(torch.cuda.current_stream(self.device))

    def join(self, cache: KVCache) -> _Seat | None:
        """`reserve` and `load` at once; None when every slot is taken."""
        seat = self.reserve(cache.length(0))
        if seat is not None:
            try:
                self.load(seat, cache)
            except BaseException:
                self.leave(seat)
                raise
        return seat

    def start_worker(self) -> None:
        """(under the lock) A worker if there is none (the worker clears `worker` under the lock as it ends)."""
        if self.worker is None:
            worker = threading.Thread(target=self._work, name="msa-decode-batch", daemon=True)
            worker.start()
            self.worker = worker

    def leave(self, seat: _Seat) -> None:
        """Give the seat back without waiting: its slot is freed now, or by the worker when the step running with
        it ends (the next answer may load the slot only then)."""
        with self.cond:
            seat.decoding, seat.pending, seat.left = False, None, True
            if seat not in self.running:
                self._free(seat)

    def _free(self, seat: _Seat) -> None:
        """(under the lock) A left seat's slot back to the free ones, reading no memory rows."""
        if self.seats.get(seat.slot) is seat:
            for counts in self.counts:
                counts[seat.slot] = 0
            del self.seats[seat.slot]
            self.cond.notify_all()

    # -- the worker ----------------------------------------------------------------------------------------
    def _work(self) -> None:
        """Steps until no answer sits in the batch. Forwards without autograd (grad mode is per thread) on the
        batch's device; a failed step ends the answers in it with its error, and the worker goes on for later
        ones. If the worker itself fails, every decoding answer is told, and the next answer to begin starts
        another."""
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        try:
            while True:
                with self.cond:
                    fed = self._gather()
                    if fed is None:
                        self.worker = None
                        return
                    self.running = [seat for seat, _, _ in fed]
                try:
                    with torch.inference_mode():
                        outcomes = self._choose(self.running, self._step(fed))
                except Exception as e:
                    log.warning("decode_batch.step_failed", exc_info=True)
                    outcomes = [e] * len(fed)
                with self.cond:
                    for seat, outcome in zip(self.running, outcomes, strict=True):
                        seat.index += 1
                        if seat.left:
                            self._free(seat)
                        elif isinstance(outcome, BaseException):
                            seat.end(outcome)
                        else:
                            seat.advance(outcome)
                    self.running = []
        except BaseException as e:  # the worker itself fails: nobody may wait for it
            log.error("decode_batch.worker_failed", exc_info=True)
            with self.cond:
                self.worker = None
                for seat in list(self.seats.values()):
                    if seat.left:
                        self._free(seat)
                    elif seat.decoding:
                        seat.end(e)
                self.running = []
            if not isinstance(e, Exception):
                raise

    def _gather(self) -> list[tuple[_Seat, int, int]] | None:
        """(under the lock) The seats with a token for the next step, as (seat, token, position); None once no
        answer sits in the batch."""
        while not any(s.pending for s in self.seats.values()):
            if not self.seats:
                return None
            self.cond.wait()
        fed = [(seat, *seat.pending) for seat in list(self.seats.values()) if seat.pending]
        for seat, _, _ in fed:
            seat.pending = None
        return fed

    def _step(self, fed: list[tuple[_Seat, int, int]]) -> Tensor:
        """One forward over slots 0 .. n-1 -> logits [n, V] fp32 (a graph's output: rewritten by its next replay)."""
        n = min(bucket(max(seat.slot for seat, _, _ in fed) + 1, 1, 1), self.slots)
        host = torch.zeros((4, n), dtype=torch.int64)
        host[2], host[3] = self.capacity - 1, 1  # idle slots: write the spare row, read one row (never NaN)
        for seat, token, position in fed:
            row = seat.start + seat.index
            host[:, seat.slot] = torch.tensor([token, position, row, row + 1])
            if seat.loaded is not None:
                torch.cuda.current_stream(self.device).wait_event(seat.loaded)
                seat.loaded = None
        self.inputs[:, :n].copy_(host)
        forward = self.forwards.get(n)
        if forward is None:
            forward = self.forwards[n] = self._forward_over(n)
        self.steps += 1
        return forward()

    @staticmethod
    def _choose(seats: list[_Seat], logits: Tensor) -> list[int | BaseException]:
        """Each seat's next token from its row of `logits`: one argmax for the greedy ones, the sampled ones' rows
        copied to the host at once for their own samplers (a sampler's error ends that answer only); nothing for
        seats left meanwhile."""
        live = [s for s in seats if not s.left]
        greedy = [s for s in live if s.choose is None]
        sampled = [s for s in live if s.choose is not None]
        chosen: dict[_Seat, int | BaseException] = {}
        if greedy:
            chosen.update(zip(greedy, logits[[s.slot for s in greedy]].argmax(-1).tolist(), strict=True))
        if sampled:
            rows = logits[[s.slot for s in sampled]].cpu()  # [S, V] one copy
            draws = list(zip(sampled, rows, strict=True))
            if len(draws) > 1:  # each draw's torch ops leave the interpreter lock: draws run side by side
                chosen.update(zip(sampled, _SAMPLERS.map(_draw, draws), strict=True))
            else:
                chosen.update((seat, _draw((seat, row))) for seat, row in draws)
        return [chosen.get(seat, 0) for seat in seats]

    def _forward_over(self, n: int) -> Callable[[], Tensor]:
        mixer = _BatchMixer(self, n)

        def forward() -> Tensor:
            return self.model(self.tokens[:n], self.positions[:n], mixer)  # [n, V] fp32

        if self.device.type == "cuda" and os.environ.get("MSA_CUDA_GRAPHS", "1") != "0":
            return CapturedForward(forward, self.device, self.scope)

        def eager() -> Tensor:
            with self.scope():
                return forward()

        return eager


def _draw(seat_row: tuple[_Seat, Tensor]) -> int | BaseException:
    """A sampled answer's next token from its row (its own seeded generator), or the error its sampler raised;
    without autograd wherever it runs (grad mode is per thread)."""
    seat, row = seat_row
    try:
        with torch.inference_mode():
            return int(seat.choose(row))
    except Exception as e:
        return e


_SAMPLERS = ThreadPoolExecutor(min(8, os.cpu_count() or 1), thread_name_prefix="msa-sample")  # threads made on use


class _Batches:
    """A model's batches by shape and scope; valid while its weights stay where they were."""

    def __init__(self, weights: tuple) -> None:
        self.weights = weights
        self.batches: dict[tuple, DecodeBatch] = {}  # most recently used last
        self.lock = threading.Lock()


@contextmanager
def seat_for(model: Transformer, cache: KVCache, steps: int, scope: Callable[[], AbstractContextManager]
             ) -> Iterator[_Seat | None]:
    """A seat in the batch of `cache`'s shape and `scope` (made when there is none), loaded with the cache;
    None when that batch is full or a slot would not fit the device's graph budget. Left on exit."""
    shape = _shape(cache, steps)
    key = (scope_key(scope), *shape)
    registry = model_registry(model, "_decode_batches", _Batches)
    with registry.lock:  # a slot is taken before the lock goes: an idle batch is never one being joined
        batch = registry.batches.pop(key, None)
        if batch is None:
            batch = _new_batch(model, shape, scope)
        seat = None
        if batch is not None:
            registry.batches[key] = batch
            seat = batch.reserve(cache.length(0))
            _forget_idle(registry, batch)
    try:
        if seat is not None:
            batch.load(seat, cache)
        yield seat
    finally:
        if seat is not None:
            batch.leave(seat)


def _new_batch(model: Transformer, shape: tuple, scope: Callable[[], AbstractContextManager]) -> DecodeBatch | None:
    """As many slots as fit the device's graph budget (MAX_SLOTS at most); None when not one fits or the
    device has no room for them (the answer then decodes on its own)."""
    weight = model.embed_tokens.weight
    slots = min(MAX_SLOTS, _batch_cap(weight.device) // buffer_bytes(model, *shape))
    if not slots:
        return None
    try:
        return DecodeBatch(model, *shape, slots, scope)
    except torch.OutOfMemoryError:
        log.warning("decode_batch.no_room", extra={"slots": slots})
        return None


def _batch_cap(device: torch.device) -> int:
    return graph_cap(device) if device.type == "cuda" else CPU_BATCH_BYTES


def _forget_idle(registry: _Batches, keep: DecodeBatch) -> None:
    """Idle batches beyond KEPT_GRAPHS caps of bytes go, the least recently used first."""
    budget = KEPT_GRAPHS * _batch_cap(keep.device)
    total = 0
    for key, batch in reversed(list(registry.batches.items())):
        if batch is keep or batch.seats:
            continue
        total += batch.bytes
        if total > budget:
            del registry.batches[key]

