"""Decoding steps replayed from a CUDA graph, reused answer after answer.

A decoding step at batch 1 is a few dozen small kernels per layer, each costing the host ~8 us to launch (a
Triton launch ~20 us): on MSA-4B's 36 layers the host, not the GPU, sets the pace. Captured once, a step is
one graph launch: the token, its position, the cache length and each layer's count of memory rows live in device
buffers the graph reads; the local K/V and the memory rows an answer reads are copied into buffers of a fixed
capacity, and attention reads how many rows are in use from the device (`kernels.sparse_attn.fused`). A graph
serves any answer that fits its capacities, so after the first answer of a shape nothing is captured again.
`MSA_CUDA_GRAPHS=0` turns it off (`graphs_wanted`). `CapturedForward` (eager first, captured at the second call,
replayed after) serves these steps and those of answers decoded together (`decode_batch`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.sparse_attn import fused
from msa.kernels.sparse_attn.naive import MemoryRows
from msa.model.decoder import Attention, KVCache, Rope, Transformer

MIN_STEPS = 4  # fewer steps than this do not repay a capture (about two eager steps)
MIN_CAPACITY = 256  # local rows of the smallest graph
MIN_POOL = 64  # memory rows of a layer in the smallest graph; pools are powers of two from there
GRAPH_SHARE = 16  # a graph's buffers take at most 1/16 of the device's memory (an H100: 5 GB, MSA-4B's K/V of ~33K
# tokens); a longer answer decodes eagerly
MAX_GRAPH_BYTES: int | None = None  # that cap in bytes instead (tests)
KEPT_GRAPHS = 2  # idle graphs' buffers kept per model: up to twice the cap, most recently used first
_CAPTURING = threading.Lock()  # one first step or capture at a time, on the one capture stream
_REGISTRIES = threading.Lock()  # a model's registries are made once
log = logging.getLogger(__name__)


@functools.cache
def _capture_stream(device: torch.device) -> torch.cuda.Stream:
    """The stream every first step and capture runs on. Streams come round-robin from a pool of 32 per device: two
    answers' streams of their own could be one stream, and one's work would land in the other's capture. (Other
    code drawing pooled streams could still get this one: nothing in msa does.)"""
    return torch.cuda.Stream(device)


def graphs_wanted(model: Transformer, cache: KVCache, steps: int) -> bool:
    """Whether decoding `steps` tokens after `cache` runs from a graph: on a GPU, in the fused kernel's dtypes,
    with enough steps and buffers within `graph_cap`, unless `MSA_CUDA_GRAPHS=0` (eager decoding, to compare
    or to rule the graphs out)."""
    weight = model.embed_tokens.weight
    return (weight.is_cuda and weight.dtype in FLOATS and steps >= MIN_STEPS and fits_buffers(model, cache)
            and os.environ.get("MSA_CUDA_GRAPHS", "1") != "0"
            and buffer_bytes(model, *_shape(cache, steps)) <= graph_cap(weight.device))


def fits_buffers(model: Transformer, cache: KVCache) -> bool:
    """Whether `cache` can be copied into fixed buffers: every layer's K/V there and of one length, memory rows
    in the model's dtype."""
    dtype = model.embed_tokens.weight.dtype
    return (all(k is not None for k in cache.k) and len({k.shape[0] for k in cache.k}) == 1
            and all(m is None or m.k.dtype == dtype for m in cache.memory))


def graph_cap(device: torch.device) -> int:
    if MAX_GRAPH_BYTES is not None:
        return MAX_GRAPH_BYTES
    return torch.cuda.get_device_properties(device).total_memory // GRAPH_SHARE


def bucket(n: int, least: int, bits: int) -> int:
    """n rounded up to its top `bits` bits (1: a power of two), at least `least`."""
    step = 1 << max(0, n.bit_length() - bits)
    return max(least, -(-n // step) * step)


def buffer_shape(cache: KVCache, rows: int, bits: int) -> tuple[tuple[bool, ...], int, int]:
    """The buffers an answer of `rows` local rows needs: which layers read memory rows, local rows (rounded up to
    their top `bits` bits), memory rows per such layer (a power of two)."""
    reads_memory = tuple(m is not None for m in cache.memory)
    pool = bucket(max((m.rows.shape[0] for m in cache.memory if m is not None), default=1), MIN_POOL, 1)
    return reads_memory, bucket(rows, MIN_CAPACITY, bits), pool if any(reads_memory) else 0


def _shape(cache: KVCache, steps: int) -> tuple[tuple[bool, ...], int, int]:
    return buffer_shape(cache, cache.length(0) + steps, 3)  # at most 25% over: long prompts' K/V are large


def buffer_bytes(model: Transformer, reads_memory: tuple[bool, ...], capacity: int, pool: int) -> int:
    cfg, weight = model.config, model.embed_tokens.weight
    row = 2 * cfg.num_key_value_heads * cfg.head_dim * weight.element_size()  # K and V of one row
    return row * (len(reads_memory) * capacity + sum(reads_memory) * pool)


class _StepMixer:
    """One token's attention over buffers of fixed capacity: its K/V written at row `slot`, attention over the
    first `length` local rows and the first `count` rows of the layer's memory buffers."""

    def __init__(self, k: list[Tensor], v: list[Tensor], memory: list[MemoryRows | None], slot: Tensor,
                 length: Tensor) -> None:
        self.k, self.v, self.memory, self.slot, self.length = k, v, memory, slot, length

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)  # [1, H, D], [1, G, D], [1, G, D]
        self.k[layer].index_copy_(0, self.slot, k)
        self.v[layer].index_copy_(0, self.slot, v)
        return fused.sparse_attention(q, self.k[layer], self.v[layer], attn.scale, self.memory[layer],
                                      length=self.length)


class StepGraph:
    """One decoding step over buffers of `capacity` local rows and `pool` memory rows on each layer that reads
    memory (`reads_memory`), run inside `scope()` (an adapter's weights are those the graph reads).

    `load(cache)` takes an answer's prompt K/V and memory rows; `step(token, position, index)` -> logits [V] fp32.
    The first step of a new graph runs eagerly, the capture comes with the second (`CapturedForward`), so it never
    delays a first token."""

    def __init__(self, model: Transformer, reads_memory: tuple[bool, ...], capacity: int, pool: int,
                 scope: Callable[[], AbstractContextManager]) -> None:
        self.model = model
        device, dtype, cfg = model.embed_tokens.weight.device, model.embed_tokens.weight.dtype, model.config
        shape = (cfg.num_key_value_heads, cfg.head_dim)
        self.k = [torch.zeros((capacity, *shape), dtype=dtype, device=device) for _ in reads_memory]
        self.v = [torch.zeros((capacity, *shape), dtype=dtype, device=device) for _ in reads_memory]
        rows = torch.arange(pool, device=device)
        self.memory = [MemoryRows(torch.zeros((pool, *shape), dtype=dtype, device=device),
                                  torch.zeros((pool, *shape), dtype=dtype, device=device), rows,
                                  torch.zeros(1, dtype=torch.int64, device=device)) if reads else None
                       for reads in reads_memory]
        self.token, self.position, self.slot, self.length = (torch.zeros(1, dtype=torch.int64, device=device)
                                                             for _ in range(4))
        self.mixer = _StepMixer(self.k, self.v, self.memory, self.slot, self.length)
        self.run = CapturedForward(self._forward, device, scope)
        self.start = 0

    def load(self, cache: KVCache) -> None:
        """Copy an answer's prompt K/V (rows 0 .. start-1 of every layer) and memory rows into the buffers."""
        self.start = cache.length(0)
        for layer, (k, v) in enumerate(zip(cache.k, cache.v, strict=True)):
            self.k[layer][:self.start] = k
            self.v[layer][:self.start] = v
            mine, theirs = self.memory[layer], cache.memory[layer]
            if mine is not None:
                used = 0 if theirs is None else theirs.rows.shape[0]
                if used:
                    torch.index_select(theirs.k, 0, theirs.rows, out=mine.k[:used])
                    torch.index_select(theirs.v, 0, theirs.rows, out=mine.v[:used])
                mine.count.fill_(used)

    def step(self, token: int, position: int, index: int) -> Tensor:
        """Logits after `token` at `position`, the `index`-th step (0-based) after the loaded prompt."""
        self.token.fill_(token)
        self.position.fill_(position)
        self.slot.fill_(self.start + index)
        return self.run()

    def _forward(self) -> Tensor:
        torch.add(self.slot, 1, out=self.length)
        return self.model(self.token, self.position, self.mixer)[-1]  # [V] fp32


class CapturedForward:
    """A forward over fixed buffers, run inside `scope()`: eagerly at its first call in a thread (on the one capture
    stream: its kernels compiled, the stream warmed and the thread's cuBLAS handles made, as a capture needs; the
    result goes out at once), captured as a CUDA graph at a later call in a thread that ran it eagerly (about one
    eager call of host time), replayed from then on, from any thread. A failed capture is logged and the forward
    runs eagerly from then on (`broken`)."""

    def __init__(self, forward: Callable[[], Tensor], device: torch.device,
                 scope: Callable[[], AbstractContextManager]) -> None:
        self.forward, self.device, self.scope = forward, device, scope
        self.stream = _capture_stream(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: Tensor | None = None
        self.warm = threading.local()  # .done: this thread has run the forward eagerly (a batch's worker may change)
        self.broken = False  # its capture failed

    def __call__(self) -> Tensor:
        """-> the forward's output (a graph's is rewritten by its next replay)."""
        if self.graph is not None:
            self.graph.replay()
            return self.out
        if self.broken:
            with self.scope():
                return self.forward()
        current = torch.cuda.current_stream(self.device)
        with _CAPTURING:
            self.stream.wait_stream(current)
            try:
                with torch.cuda.stream(self.stream), self.scope():
                    if getattr(self.warm, "done", False):
                        self._capture()
                    out = self.forward() if self.graph is None else None  # a first call, or a failed capture's
            finally:  # what a raising call queued is ordered before the caller's next work too
                current.wait_stream(self.stream)
        self.warm.done = True
        if self.graph is not None:
            self.graph.replay()
            return self.out
        out.record_stream(current)  # made on the capture stream, read on this one
        return out

    def _capture(self) -> None:
        """Not `torch.cuda.graph`: that also runs the garbage collector and empties the allocator's cache."""
        _clear_cublas_workspaces()  # the capture then makes its own, in its private pool: replays never share one
        graph = torch.cuda.CUDAGraph()
        graph.capture_begin(capture_error_mode="thread_local")  # other threads' requests go on meanwhile
        try:
            out = self.forward()  # rewritten by every replay
        except Exception:
            with contextlib.suppress(Exception):
                graph.capture_end()
            _clear_cublas_workspaces()
            log.warning("decode_graph.capture_failed", exc_info=True)
            self.broken = True
            return
        graph.capture_end()
        _clear_cublas_workspaces()  # the graph keeps its own; the next step or capture here makes a fresh one
        self.graph, self.out = graph, out


def _clear_cublas_workspaces() -> None:
    """cuBLAS keeps one workspace per handle and stream: without this, every graph captured on the one capture
    stream would bake in the same workspace, and two graphs replaying at once (or a capture beside a replay) would
    share it. PyTorch's own graph trees clear them around each capture the same way."""
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()


class _Shelf:
    """A model's idle graphs, by what they were made for; valid while its weights stay where they were."""

    def __init__(self, weights: tuple) -> None:
        self.weights = weights
        self.idle: list[tuple[tuple, StepGraph]] = []  # (key, graph), most recently used last
        self.lock = threading.Lock()


def weight_addresses(model: Transformer) -> tuple:
    """Where the model's modules and tensors are: a graph reads them by address, so any change retires its graphs
    (an adapter installed, weights moved or merged anew)."""
    return (tuple(id(m) for m in model.modules()), tuple(t.data_ptr() for t in model.parameters()),
            tuple(t.data_ptr() for t in model.buffers()))


def model_registry(model: Transformer, name: str, make: Callable[[tuple], Any]) -> Any:
    """The model's registry `name` (its graphs, its batches), made anew by `make(weights)` when the model's
    weights are no longer where they were (the registry's `weights`): its graphs read them by address."""
    weights = weight_addresses(model)
    with _REGISTRIES:
        registry = model.__dict__.get(name)
        if registry is None or registry.weights != weights:
            registry = model.__dict__[name] = make(weights)
        return registry


def scope_key(scope: Callable[[], AbstractContextManager]) -> tuple:
    """The same scope whatever bound-method object names it (`model.reading` is a new object at every access)."""
    return getattr(scope, "__func__", scope), id(getattr(scope, "__self__", None))


@contextmanager
def graph_for(model: Transformer, cache: KVCache, steps: int, scope: Callable[[], AbstractContextManager]
              ) -> Iterator[StepGraph]:
    """An idle graph that fits `cache` and `steps` more tokens (captured anew only when none does), loaded with
    the cache; back on the model's shelf afterwards."""
    shape = _shape(cache, steps)
    key = (scope_key(scope), *shape)
    shelf = model_registry(model, "_step_graphs", _Shelf)
    with shelf.lock:
        found = next((i for i, (k, _) in enumerate(shelf.idle) if k == key), None)
        graph = shelf.idle.pop(found)[1] if found is not None else None
    graph = graph or StepGraph(model, *shape, scope)
    graph.load(cache)
    idle = False  # an answer that raised leaves its graph off the shelf (a failed step may still be running)
    try:
        yield graph
        idle = True
    except GeneratorExit:  # its reader stopped early, between steps
        idle = True
        raise
    finally:
        if idle and not graph.run.broken:
            _shelve(model, shelf, key, graph)


def _shelve(model: Transformer, shelf: _Shelf, key: tuple, graph: StepGraph) -> None:
    with shelf.lock:
        shelf.idle.append((key, graph))
        kept, total = [], 0
        cap = KEPT_GRAPHS * graph_cap(model.embed_tokens.weight.device)
        for k, g in reversed(shelf.idle):  # the most recently used first, up to KEPT_GRAPHS caps
            total += buffer_bytes(model, *k[1:])
            if total <= cap:
                kept.append((k, g))
        shelf.idle = kept[::-1]
