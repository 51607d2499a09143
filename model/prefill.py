"""Prefill of long prompts in chunks: a prompt of up to the model's whole context runs as forwards of at most
`PREFILL_CHUNK` tokens over one KV cache, with the caller's cancellation checked between them, so a call
whose client has gone (deadline, disconnect, shutdown) stops within one chunk instead of after the whole
prompt. A chunk continues the cache exactly as the next tokens of one forward would (bottom-right causal
attention), so the result is that of one forward within float tolerance (tests/test_generation.py)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from msa.model.decoder import Mixer, Transformer

PREFILL_CHUNK = 512  # tokens per forward on the CPU: a short prompt is one forward, a long one stops within a chunk
GPU_PREFILL_CHUNK = 8192  # on a GPU (MSA-4B on an H100: ~0.1 s a chunk); small chunks there are launch-bound
IsCancelled = Callable[[], bool]  # true once the caller no longer wants the result


class Cancelled(Exception):
    """The caller gave up; model work stopped at a chunk (or token) boundary."""


def check(cancelled: IsCancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("the call was cancelled; model work stopped")


def prefill(transformer: Transformer, ids: Tensor, positions: Tensor, mixer: Mixer,
            cancelled: IsCancelled | None = None, logits: bool = True, chunk: int | None = None
            ) -> Tensor | None:
    """ids, positions [T] through a mixer that extends its cache with each forward -> the last token's
    logits [V] in fp32 (None with `logits=False`: a pass for its side effects, e.g. routing). `chunk`: tokens
    per forward [the device's default]."""
    chunk = chunk or (GPU_PREFILL_CHUNK if ids.is_cuda else PREFILL_CHUNK)
    hidden = None
    for start in range(0, ids.shape[0], chunk):
        check(cancelled)
        hidden = transformer.hidden_states(ids[start:start + chunk], positions[start:start + chunk], mixer)
    return transformer.lm_head(hidden[-1:]).float()[-1] if logits else None
