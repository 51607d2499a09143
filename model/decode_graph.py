"""Decoding steps replayed from a CUDA graph.

A decoding step at batch 1 is a few dozen small kernels per layer, each costing the host ~8 us to launch (a
Triton launch ~20 us): on MSA-4B's 36 layers the host, not the GPU, sets the pace. Captured once per answer,
a step is one graph launch: the token, its position and the cache length live in device buffers the graph
reads, the local K/V in buffers with room for every step, and attention reads how many rows are written from
the device (`kernels.sparse_attn.fused`, `length`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.sparse_attn import fused
from msa.model.decoder import Attention, KVCache, Rope, Transformer

MIN_STEPS = 4  # fewer steps than this do not repay a capture (about two eager steps)
_CAPTURING = threading.Lock()  # one first step or capture at a time, on the one capture stream


@functools.cache
def _capture_stream(device: torch.device) -> torch.cuda.Stream:
    """The stream every first step and capture runs on. Streams come round-robin from a pool of 32 per device: two
    answers' streams of their own could be one stream, and one's work would land in the other's capture."""
    return torch.cuda.Stream(device)


def graphs_wanted(model: Transformer, cache: KVCache, steps: int) -> bool:
    """Whether decoding `steps` tokens after `cache` runs from a graph: on a GPU, in the fused kernel's dtypes,
    with enough steps; `MSA_CUDA_GRAPHS=0` turns it off (to compare, or to rule it out)."""
    weight = model.embed_tokens.weight
    memory_dtypes = {m.k.dtype for m in cache.memory if m is not None}
    return (weight.is_cuda and weight.dtype in FLOATS and memory_dtypes <= {weight.dtype} and steps >= MIN_STEPS
            and all(k is not None for k in cache.k) and os.environ.get("MSA_CUDA_GRAPHS", "1") != "0")


class _StepMixer:
    """One token's attention over buffers of fixed capacity: its K/V written at row `slot`, attention over the
    first `length` rows and the layer's memory rows."""

    def __init__(self, k: list[Tensor], v: list[Tensor], cache: KVCache, slot: Tensor, length: Tensor) -> None:
        self.k, self.v, self.memory, self.slot, self.length = k, v, cache.memory, slot, length

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)  # [1, H, D], [1, G, D], [1, G, D]
        self.k[layer].index_copy_(0, self.slot, k)
        self.v[layer].index_copy_(0, self.slot, v)
        return fused.sparse_attention(q, self.k[layer], self.v[layer], attn.scale, self.memory[layer],
                                      length=self.length)


class GraphedSteps:
    """`step(token, position, index)` -> logits [V] fp32 of that token, for up to `steps` consecutive tokens after
    `cache` (whose K/V are copied into buffers once; `cache` itself is not extended). Every forward runs inside
    `scope()`, captured with it (an adapter's weights are those the graph reads).

    The first step runs eagerly through the same buffers and kernels (compiling them and warming the capture
    stream, as a capture needs) and its logits go out at once; the capture (about one eager step of host time)
    comes with the second step, so it never delays the first token."""

    def __init__(self, model: Transformer, cache: KVCache, steps: int,
                 scope: Callable[[], AbstractContextManager]) -> None:
        self.model, self.scope, self.device = model, scope, model.embed_tokens.weight.device
        self.start = cache.length(0)  # local rows before the first step (every layer holds as many)
        capacity = self.start + steps
        self.k, self.v = [], []
        for k, v in zip(cache.k, cache.v, strict=True):
            for old, bufs in ((k, self.k), (v, self.v)):
                buf = old.new_empty((capacity, *old.shape[1:]))  # [capacity, G, D]
                buf[:self.start] = old
                bufs.append(buf)
        self.token = torch.zeros(1, dtype=torch.int64, device=self.device)
        self.position = torch.zeros(1, dtype=torch.int64, device=self.device)
        self.slot = torch.zeros(1, dtype=torch.int64, device=self.device)
        self.length = torch.zeros(1, dtype=torch.int64, device=self.device)  # rows written, its own included
        self.mixer = _StepMixer(self.k, self.v, cache, self.slot, self.length)
        self.stream = _capture_stream(self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: Tensor | None = None
        self.warm = False  # the first step has run eagerly

    def step(self, token: int, position: int, index: int) -> Tensor:
        """Logits after `token` at `position`, the `index`-th step (0-based) after the cache."""
        self.token.fill_(token)
        self.position.fill_(position)
        self.slot.fill_(self.start + index)
        if self.graph is not None:
            self.graph.replay()
            return self.logits
        current = torch.cuda.current_stream(self.device)
        with _CAPTURING:
            self.stream.wait_stream(current)
            with torch.cuda.stream(self.stream), self.scope():
                logits = None if self.warm else self._forward()
                if self.warm:
                    self._capture()
            current.wait_stream(self.stream)
        if not self.warm:  # the first step: its logits, computed eagerly
            self.warm = True
            logits.record_stream(current)  # made on the capture stream, read on this one
            return logits
        self.graph.replay()
        return self.logits

    def _forward(self) -> Tensor:
        torch.add(self.slot, 1, out=self.length)
        return self.model(self.token, self.position, self.mixer)[-1]  # [V] fp32

    def _capture(self) -> None:
        # not `torch.cuda.graph`: it also runs the garbage collector and empties the allocator's cache
        graph = torch.cuda.CUDAGraph()
        graph.capture_begin(capture_error_mode="thread_local")  # other threads' requests go on meanwhile
        try:
            self.logits = self._forward()  # rewritten by every replay
        finally:
            graph.capture_end()
        self.graph = graph
