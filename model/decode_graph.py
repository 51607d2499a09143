"""Decoding steps replayed from a CUDA graph.

A decoding step at batch 1 is a few dozen small kernels per layer, each costing the host ~8 us to launch (a
Triton launch ~20 us): on MSA-4B's 36 layers the host, not the GPU, sets the pace. Captured once per answer,
a step is one graph launch: the token, its position and the cache length live in device buffers the graph
reads, the local K/V in buffers with room for every step, and attention reads how many rows are written from
the device (`kernels.sparse_attn.fused`, `length`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.sparse_attn import fused
from msa.model.decoder import Attention, KVCache, Rope, Transformer

MIN_STEPS = 4  # fewer steps than this do not repay a capture (about two eager steps)


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
    """`step(token, position)` -> logits [V] fp32 of that token, for up to `steps` consecutive tokens after
    `cache` (whose K/V are copied into buffers once; `cache` itself is not extended). Every forward runs inside
    `scope()`, captured with it (an adapter's weights are those the graph reads)."""

    def __init__(self, model: Transformer, cache: KVCache, steps: int,
                 scope: Callable[[], AbstractContextManager]) -> None:
        device = model.embed_tokens.weight.device
        self.start = cache.length(0)  # local rows before the first step (every layer holds as many)
        capacity = self.start + steps
        self.k, self.v = [], []
        for k, v in zip(cache.k, cache.v, strict=True):
            for old, bufs in ((k, self.k), (v, self.v)):
                buf = old.new_empty((capacity, *old.shape[1:]))  # [capacity, G, D]
                buf[:self.start] = old
                bufs.append(buf)
        self.token = torch.zeros(1, dtype=torch.int64, device=device)
        self.position = torch.zeros(1, dtype=torch.int64, device=device)
        self.slot = torch.full((1,), self.start, dtype=torch.int64, device=device)
        self.length = self.slot + 1  # rows written once the step has written its own
        mixer = _StepMixer(self.k, self.v, cache, self.slot, self.length)
        self.graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream(device)  # capture needs a stream of its own
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream), scope():
            model(self.token, self.position, mixer)  # compiles the Triton kernels outside the capture
            # not `torch.cuda.graph`: it also runs the garbage collector and empties the allocator's cache
            self.graph.capture_begin(capture_error_mode="thread_local")  # other threads' requests go on
            try:
                torch.add(self.slot, 1, out=self.length)
                self.logits = model(self.token, self.position, mixer)[-1]  # [V] fp32, rewritten by every replay
            finally:
                self.graph.capture_end()
        torch.cuda.current_stream(device).wait_stream(stream)

    def step(self, token: int, position: int, index: int) -> Tensor:
        """Logits after `token` at `position`, the `index`-th step (0-based) after the cache."""
        self.token.fill_(token)
        self.position.fill_(position)
        self.slot.fill_(self.start + index)
        self.graph.replay()
        return self.logits
