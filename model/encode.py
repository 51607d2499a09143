"""Encoding memories: every document on its own, with its own positions (document-wise RoPE).

Documents are packed into one varlen sequence; each attends causally only within itself in every
layer. On router layers their K (after k_norm and RoPE), V and routing K are mean-pooled over chunks
of `pooling_kernel_size` tokens (MSA_SPEC.md section 2). The 3-token template head is encoded the same
way once per model; its K/V on every layer is the hidden prefix of every question.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from msa.kernels.chunk_pool import chunk_pool
from msa.model.config import ModelConfig, MSAParams
from msa.model.decoder import Attention, CachedMixer, KVCache, PackedCausal, Rope, Transformer
from msa.model.memory import EncodedDocument
from msa.model.prompts import TEMPLATE_HEAD, document_text
from msa.model.tokenizer import Tokenizer


class DocumentMixer:
    """Causal attention inside each packed document; pools what router layers store."""

    def __init__(self, cu_seqlens: Tensor, msa: MSAParams, store_layers: tuple[int, ...] | None = None) -> None:
        self.cu_seqlens = cu_seqlens
        self.cu_host = cu_seqlens.cpu()  # chunk geometry is computed on the host: no sync per pooling
        self.attend = PackedCausal(cu_seqlens)
        self.msa = msa
        self.store_layers = set(msa.router_layers if store_layers is None else store_layers)
        # layer -> pooled (K, V, routing K), each [C, G, D] over all packed documents
        self.pooled: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        self.cu_chunks: Tensor | None = None

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)  # [T, H, D], [T, G, D], [T, G, D]
        out = self.attend(q, k, v, attn.scale)
        if layer in self.store_layers:
            # Without decoupled routers the pooled attention key is the routing key (spec 2.3).
            rk = attn.routing_key(h) if self.msa.decouple_router else k
            size = self.msa.pooling_kernel_size
            pk, self.cu_chunks = chunk_pool(k, self.cu_host, size)
            pv, _ = chunk_pool(v, self.cu_host, size)
            prk = pk if rk is k else chunk_pool(rk, self.cu_host, size)[0]
            self.pooled[layer] = (pk, pv, prk)
        return out


def token_batches(token_ids: list[list[int]], max_tokens: int) -> Iterator[tuple[int, int]]:
    """Consecutive [start, end) ranges of documents with at most `max_tokens` tokens (a longer one goes alone)."""
    start = 0
    while start < len(token_ids):
        end, total = start, 0
        while end < len(token_ids) and (end == start or total + len(token_ids[end]) <= max_tokens):
            total, end = total + len(token_ids[end]), end + 1
        yield start, end
        start = end


def pack(token_ids: list[list[int]], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Documents -> (ids [T], positions [T] restarting at 0 per document, cu_seqlens [N+1])."""
    lengths = torch.tensor([len(t) for t in token_ids])
    cu = torch.zeros(len(token_ids) + 1, dtype=torch.long)
    cu[1:] = torch.cumsum(lengths, 0)
    ids = torch.tensor([i for t in token_ids for i in t])
    positions = torch.cat([torch.arange(n) for n in lengths.tolist()])
    return ids.to(device), positions.to(device), cu.to(device)


def encode_batch(model: Transformer, token_ids: list[list[int]]) -> tuple[DocumentMixer, Tensor]:
    """One packed forward over documents; returns the mixer holding pooled tensors and chunk offsets."""
    ids, positions, cu = pack(token_ids, model.embed_tokens.weight.device)
    mixer = DocumentMixer(cu, model.config.msa)
    model.hidden_states(ids, positions, mixer)
    return mixer, mixer.cu_chunks


CPU_PASS_TOKENS = 16384  # wider forwards are no faster on a CPU
GPU_ACTIVATION_BYTES = 4 << 30  # for the widest activations of one forward on a GPU


def pass_tokens(config: ModelConfig, device: torch.device, dtype: torch.dtype) -> int:
    """Tokens per encoding forward. A GPU runs a small model's many small kernels launch-bound: wider forwards
    are faster (SmolLM2 geometry on an H200: 70K tokens/s at 16K tokens a forward, 242K at 256K;
    docs/benchmarks.md), up to the memory that the MLP's [T, intermediate] activations (about four live at
    once) may take."""
    if device.type != "cuda":
        return CPU_PASS_TOKENS
    size = torch.empty((), dtype=dtype).element_size()
    fits = GPU_ACTIVATION_BYTES // (4 * config.intermediate_size * size)
    return max(CPU_PASS_TOKENS, min(1 << 18, 1 << (fits.bit_length() - 1)))


def encode_documents(model: Transformer, tok: Tokenizer, texts: list[str], numbers: list[int],
                     max_batch_tokens: int = CPU_PASS_TOKENS, out_device: torch.device | None = None
                     ) -> list[EncodedDocument]:
    """Encode documents packed into forwards of at most `max_batch_tokens` (a longer one goes alone),
    shortest first so that each forward holds documents of similar length (little padding on a GPU).
    Pooled tensors are returned on `out_device` (default: the model's), copied there once per forward and
    tensor kind, not once per document. Each document's are views of its forward's pooled tensors, which hold
    that forward's documents only (a copy per document, layer and kind cost a GPU forward of 262K tokens ~1 s of
    host time): their memory returns once every document of the forward is gone."""
    if len(texts) != len(numbers):
        raise ValueError(f"{len(texts)} texts but {len(numbers)} document numbers")
    rendered = tok.encode_many([document_text(n, t) for n, t in zip(numbers, texts, strict=True)])
    order = sorted(range(len(texts)), key=lambda i: len(rendered[i]))
    out: list[EncodedDocument | None] = [None] * len(texts)
    for start, end in token_batches([rendered[i] for i in order], max_batch_tokens):
        mixer, cu_chunks = encode_batch(model, [rendered[i] for i in order[start:end]])
        pooled = {}
        for layer, (pk, pv, prk) in mixer.pooled.items():  # without decoupled routers the routing key is the key
            moved = pk.to(out_device)
            pooled[layer] = (moved, pv.to(out_device), moved if prk is pk else prk.to(out_device))
        cu_chunks = cu_chunks.tolist()
        for j, i in enumerate(order[start:end]):
            a, b = cu_chunks[j], cu_chunks[j + 1]
            doc = EncodedDocument(number=numbers[i], text=texts[i], token_ids=rendered[i])
            for layer, (pk, pv, prk) in pooled.items():
                doc.keys[layer], doc.values[layer], doc.routing_keys[layer] = pk[a:b], pv[a:b], prk[a:b]
            out[i] = doc
    return out


def encode_template(model: Transformer, tok: Tokenizer) -> tuple[list[int], KVCache]:
    """Template head tokens and their K/V [P, G, D] on every layer (positions 0..P-1, causal)."""
    ids = tok.encode(TEMPLATE_HEAD)
    cache = KVCache(len(model.layers))
    device = model.embed_tokens.weight.device
    model.hidden_states(torch.tensor(ids, device=device), torch.arange(len(ids), device=device),
                        CachedMixer(cache))
    return ids, cache
