"""The decoder: Qwen3 and Llama families in plain PyTorch, one unbatched sequence at a time.

Who attends to what is not decided here: every layer hands its normalised hidden state to a `Mixer`,
which projects Q/K/V with the layer's `Attention` and returns the attention output. The dense causal
forward, document encoding (attention within each document) and MSA prefill (memory chunks before the
question) are mixers over this one decoder. Shapes: T tokens, H query heads, G KV heads, D head_dim.
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msa.kernels.rms_norm import rms_norm
from msa.kernels.rope import rope
from msa.kernels.sparse_attn import MemoryRows, sparse_attention
from msa.kernels.sparse_attn import cpu as cpu_attention
from msa.model.config import ModelConfig, RopeScaling


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.weight, self.eps)  # fp32 statistics, the weight applied in x's dtype


def rope_inv_freq(head_dim: int, theta: float, scaling: RopeScaling) -> Tensor:
    """Inverse frequencies [D/2] in fp32 on the host, with "linear" or "llama3" rope_scaling applied (made on
    the host even under a meta-device context: the meta versions of these ops import torch._dynamo)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device="cpu").float() / head_dim)
    if scaling.rope_type == "linear":
        inv_freq = inv_freq / scaling.factor
    elif scaling.rope_type == "llama3":
        old_len = scaling.original_max_position_embeddings
        low_wavelen = old_len / scaling.low_freq_factor
        high_wavelen = old_len / scaling.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
        smooth = (old_len / wavelen - scaling.low_freq_factor) / (
            scaling.high_freq_factor - scaling.low_freq_factor)
        smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv_freq = torch.where(medium, smoothed, scaled)
    return inv_freq


class Rope:
    """cos/sin tables for a set of positions; applied with the rotate-half convention."""

    def __init__(self, inv_freq: Tensor, positions: Tensor, dtype: torch.dtype) -> None:
        freqs = positions.float()[:, None] * inv_freq.to(positions.device)[None, :]  # [T, D/2]
        emb = torch.cat([freqs, freqs], dim=-1)  # [T, D]
        self.cos = emb.cos().to(dtype)  # [T, D]
        self.sin = emb.sin().to(dtype)

    def __call__(self, x: Tensor, norm: RMSNorm | None = None) -> Tensor:
        """x [T, heads, D] -> rotated, after `norm` over each head's D (Qwen3's q_norm / k_norm) if given."""
        if norm is None:
            return rope(x, self.cos, self.sin)
        return rope(x, self.cos, self.sin, norm.weight, norm.eps)


class Attention(nn.Module):
    """Projections of one layer. `router_*` exist on router layers of decoupled-router checkpoints."""

    def __init__(self, cfg: ModelConfig, has_router: bool) -> None:
        super().__init__()
        h, d, g = cfg.num_attention_heads, cfg.head_dim, cfg.num_key_value_heads
        self.n_heads, self.n_kv_heads, self.head_dim = h, g, d
        self.scale = cfg.attention_scale
        self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, g * d, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, g * d, bias=False)
        self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(d, cfg.rms_norm_eps) if cfg.has_qk_norm else None
        self.k_norm = RMSNorm(d, cfg.rms_norm_eps) if cfg.has_qk_norm else None
        self.router_q_proj = nn.Linear(cfg.hidden_size, h * d, bias=False) if has_router else None
        self.router_k_proj = nn.Linear(cfg.hidden_size, g * d, bias=False) if has_router else None

    def project(self, h: Tensor, rope: Rope) -> tuple[Tensor, Tensor, Tensor]:
        """h [T, hidden] -> q [T, H, D], k [T, G, D] (after q/k norm and RoPE), v [T, G, D]."""
        t = h.shape[0]
        q = self.q_proj(h).view(t, self.n_heads, self.head_dim)  # [T, H, D]
        k = self.k_proj(h).view(t, self.n_kv_heads, self.head_dim)  # [T, G, D]
        v = self.v_proj(h).view(t, self.n_kv_heads, self.head_dim)  # [T, G, D]
        return rope(q, self.q_norm), rope(k, self.k_norm), v  # one kernel each on a GPU (`kernels.rope`)

    def routing_query(self, h: Tensor) -> Tensor:
        """Decoupled routing query: router_q_proj(h), no norm, no RoPE. [T, H, D]."""
        return self.router_q_proj(h).view(h.shape[0], self.n_heads, self.head_dim)

    def routing_key(self, h: Tensor) -> Tensor:
        """Decoupled routing key: router_k_proj(h), no norm, no RoPE. [T, G, D]."""
        return self.router_k_proj(h).view(h.shape[0], self.n_kv_heads, self.head_dim)


def attend(q: Tensor, k: Tensor, v: Tensor, scale: float, mask: Tensor | None = None) -> Tensor:
    """GQA attention, q [Tq, H, D], k/v [Tk, G, D] -> [Tq, H, D].

    Without `mask`: bottom-right causal, query i of Tq sees keys 0 .. Tk - Tq + i (keys before the last
    Tq are a prefix every query sees). With `mask` [Tq, Tk] (True = attend): exactly that.
    """
    tq, tk = q.shape[0], k.shape[0]
    causal = mask is None and tq > 1 and tq == tk  # square: SDPA's own causal mask, fused kernels allowed
    if mask is None and tq > 1 and not causal:
        i = torch.arange(tq, device=q.device)[:, None]
        j = torch.arange(tk, device=q.device)[None, :]
        mask = j <= i + (tk - tq)  # [Tq, Tk]
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),  # [heads, T, D]
        attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=True)
    return out.transpose(0, 1)  # [Tq, H, D]


def segment_mask(segments: Tensor, prefix: int = 0) -> Tensor:
    """Causal attention within each packed segment, after a prefix every token sees.

    segments [T] (segment id per token, segments contiguous) -> mask [T, prefix + T], True = attend.
    """
    t = segments.shape[0]
    causal = torch.ones(t, t, dtype=torch.bool, device=segments.device).tril()
    local = causal & (segments[:, None] == segments[None, :])
    return torch.cat([torch.ones(t, prefix, dtype=torch.bool, device=segments.device), local], dim=1)


class PackedCausal:
    """Causal attention within each document of a packed sequence: q [T, H, D], k/v [T, G, D] -> [T, H, D].

    Runs: consecutive documents of one length are a [docs, length, ...] view of the packed tensors, so each
    run is one fused causal SDPA call with no copy (encoding sorts documents by length, so runs are few); on the
    CPU without a gradient, one call of `kernels.sparse_attn.cpu.causal_attention`.
    Padded, on a GPU when there are more than `MAX_RUNS` runs: the documents are scattered into one
    [docs, longest, ...] batch for a single call (right padding cannot reach a real token under a causal
    mask). Both have a backward.
    """

    MAX_RUNS = 16

    def __init__(self, cu_seqlens: Tensor, padded: bool | None = None) -> None:
        bounds = cu_seqlens.tolist()
        self.runs: list[tuple[int, int, int]] = []  # (first token, documents, length)
        for start, end in itertools.pairwise(bounds):
            if self.runs and self.runs[-1][2] == end - start:
                first, docs, length = self.runs[-1]
                self.runs[-1] = (first, docs + 1, length)
            else:
                self.runs.append((start, 1, end - start))
        self.padded = cu_seqlens.is_cuda and len(self.runs) > self.MAX_RUNS if padded is None else padded
        if self.padded:
            lengths = cu_seqlens[1:] - cu_seqlens[:-1]
            self.docs, self.longest = len(lengths), int(lengths.max())
            doc = torch.repeat_interleave(torch.arange(self.docs, device=lengths.device), lengths)  # [T]
            offset = torch.arange(len(doc), device=lengths.device) - cu_seqlens[doc]
            self.slot = doc * self.longest + offset  # [T]: each token's row in the padded batch

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
        if not self.padded:
            return torch.cat([self._run(q, k, v, scale, *run) for run in self.runs])
        out = F.scaled_dot_product_attention(*(self._pad(x) for x in (q, k, v)), is_causal=True, scale=scale,
                                             enable_gqa=True)  # [docs, H, longest, D]
        return out.transpose(1, 2).flatten(0, 1)[self.slot]

    @staticmethod
    def _run(q: Tensor, k: Tensor, v: Tensor, scale: float, first: int, docs: int, length: int) -> Tensor:
        end = first + docs * length
        batch = [x[first:end].view(docs, length, *x.shape[1:]) for x in (q, k, v)]  # [docs, length, heads, D]
        if cpu_attention.applies(q, k, v):  # blocked float32 matmuls: SDPA's grouped-heads path is slow there
            out = cpu_attention.causal_attention(*batch, scale)
        else:
            out = F.scaled_dot_product_attention(*(x.transpose(1, 2) for x in batch), is_causal=True, scale=scale,
                                                 enable_gqa=True).transpose(1, 2)
        return out.reshape(docs * length, *q.shape[1:])

    def _pad(self, x: Tensor) -> Tensor:  # [T, heads, D] -> [docs, heads, longest, D]
        batch = x.new_zeros(self.docs * self.longest, *x.shape[1:]).index_copy(0, self.slot, x)
        return batch.view(self.docs, self.longest, *x.shape[1:]).transpose(1, 2)


class Mixer(Protocol):
    """Computes one layer's attention output [T, H, D] from its normalised hidden state h [T, hidden]."""

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor: ...


class KVCache:
    """Per-layer keys and values [T, G, D] seen so far (prefix + local tokens), grown by `extend`, and the
    memory rows a router layer reads besides them (placed in every local token's past).

    After the first extension a layer's K/V live in buffers with room to spare (doubled when full), so a
    decoding step writes its one row instead of copying the whole cache; `k[layer]` / `v[layer]` are views of
    the rows written, and a view handed out earlier keeps its rows (later steps write past them)."""

    def __init__(self, num_layers: int) -> None:
        self.k: list[Tensor | None] = [None] * num_layers
        self.v: list[Tensor | None] = [None] * num_layers
        self.memory: list[MemoryRows | None] = [None] * num_layers
        self._room: list[tuple[Tensor, Tensor] | None] = [None] * num_layers  # buffers behind k / v

    def extend(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        old_k, old_v = self.k[layer], self.v[layer]
        if old_k is None:  # the first part (a prefill) is kept as given
            self.k[layer], self.v[layer] = k, v
            return k, v
        length, end = old_k.shape[0], old_k.shape[0] + k.shape[0]
        room = self._room[layer]
        if room is None or room[0].shape[0] < end or (room[0].data_ptr(), room[1].data_ptr()) != (
                old_k.data_ptr(), old_v.data_ptr()):
            room = tuple(old.new_empty((max(2 * end, 64), *old.shape[1:])) for old in (old_k, old_v))
            room[0][:length], room[1][:length] = old_k, old_v
            self._room[layer] = room
        room[0][length:end], room[1][length:end] = k, v
        self.k[layer], self.v[layer] = room[0][:end], room[1][:end]
        return self.k[layer], self.v[layer]

    def length(self, layer: int) -> int:
        return 0 if self.k[layer] is None else self.k[layer].shape[0]


class CachedMixer:
    """Local tokens attend causally to everything already in the cache (prefix or earlier tokens) and to
    the layer's memory rows (`msa.kernels.sparse_attn`: read through their index on a GPU)."""

    def __init__(self, cache: KVCache) -> None:
        self.cache = cache

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)
        k_all, v_all = self.cache.extend(layer, k, v)
        return sparse_attention(q, k_all, v_all, attn.scale, self.cache.memory[layer])


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, index: int) -> None:
        super().__init__()
        self.index = index
        has_router = cfg.msa.decouple_router and index in cfg.msa.router_layers
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, has_router)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, rope: Rope, mixer: Mixer) -> Tensor:
        h = self.input_layernorm(x)
        out = mixer(self.index, self.self_attn, h, rope)  # [T, H, D]
        x = x + self.self_attn.o_proj(out.reshape(x.shape[0], -1))
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        # given an empty weight, the table skips its random init: on the meta device (`load_transformer`) that
        # init imports torch._dynamo, 1.2-1.7 s of every process's first load
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size,
                                         _weight=torch.empty(cfg.vocab_size, cfg.hidden_size))
        self.layers = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.register_buffer(
            "inv_freq", rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling), persistent=False)

    def hidden_states(self, input_ids: Tensor, positions: Tensor, mixer: Mixer, num_layers: int | None = None
                      ) -> Tensor:
        """input_ids, positions [T] -> final-normed hidden states [T, hidden]; with `num_layers`, the
        un-normed residual stream after that many layers (for passes that only need lower layers)."""
        x = self.embed_tokens(input_ids)  # [T, hidden]
        rope = Rope(self.inv_freq, positions, x.dtype)
        for layer in self.layers[:num_layers]:
            x = layer(x, rope, mixer)
        return x if num_layers is not None else self.norm(x)

    def forward(self, input_ids: Tensor, positions: Tensor, mixer: Mixer) -> Tensor:
        """-> logits [T, vocab] in fp32."""
        return self.lm_head(self.hidden_states(input_ids, positions, mixer)).float()

    def causal_logits(self, input_ids: Tensor) -> Tensor:
        """Plain causal LM forward with positions 0..T-1 (backbone parity, dense reading)."""
        positions = torch.arange(input_ids.shape[0], device=input_ids.device)
        return self(input_ids, positions, CachedMixer(KVCache(len(self.layers))))
