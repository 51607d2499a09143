"""Router training: teach router_q_proj / router_k_proj where memories are, backbone frozen.

Scores are computed exactly as inference ranks documents (cosine per head, mean over heads, max over
routing tokens, max over a document's chunks; see kernels/route), on cached features
(`router_features`). The head mean of cosines is linear, so per-head normalised vectors are
concatenated (queries divided by H, key heads repeated per GQA group) and one matmul scores all heads.
Loss: InfoNCE over the documents of a store, decoupled per positive (MSA_SPEC.md section 8), τ = 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msa.model.train.router_features import Ragged


class Routers(nn.Module):
    """router_q_proj and router_k_proj of the trained layers."""

    def __init__(self, layers: list[int], hidden: int, n_heads: int, n_kv_heads: int, head_dim: int) -> None:
        super().__init__()
        self.layers, self.n_heads, self.n_kv_heads, self.head_dim = list(layers), n_heads, n_kv_heads, head_dim
        self.q = nn.ModuleDict({str(i): nn.Linear(hidden, n_heads * head_dim, bias=False) for i in layers})
        self.k = nn.ModuleDict({str(i): nn.Linear(hidden, n_kv_heads * head_dim, bias=False) for i in layers})

    def query_vectors(self, layer: int, h: Tensor) -> Tensor:
        """h [T, hidden] -> [T, H*D]: per-head unit vectors / H (so a dot product is the head mean)."""
        q = self.q[str(layer)](h).view(h.shape[0], self.n_heads, self.head_dim)
        return (F.normalize(q, dim=-1) / self.n_heads).flatten(1)

    def key_vectors(self, layer: int, h: Tensor) -> Tensor:
        """pooled h [C, hidden] -> [C, H*D]: per-head unit vectors, each KV head repeated for its group."""
        k = F.normalize(self.k[str(layer)](h).view(h.shape[0], self.n_kv_heads, self.head_dim), dim=-1)
        return k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1).flatten(1)

    def state(self) -> dict[str, Tensor]:
        """Weights under checkpoint names."""
        out = {}
        for i in self.layers:
            out[f"model.layers.{i}.self_attn.router_q_proj.0.weight"] = self.q[str(i)].weight.detach().cpu()
            out[f"model.layers.{i}.self_attn.router_k_proj.0.weight"] = self.k[str(i)].weight.detach().cpu()
        return out


def reduce_rows(scores: Tensor, offsets: Tensor, dim: int) -> Tensor:
    """Max over the ragged rows of `scores` along `dim` -> one entry per row."""
    owner = torch.repeat_interleave(torch.arange(len(offsets) - 1, device=scores.device),
                                    offsets[1:] - offsets[:-1])
    moved = scores.movedim(dim, 0)  # [N_total, ...]
    out = torch.full((len(offsets) - 1, *moved.shape[1:]), float("-inf"), device=scores.device,
                     dtype=scores.dtype)
    index = owner.view(-1, *([1] * (moved.dim() - 1))).expand_as(moved)
    return out.scatter_reduce(0, index, moved, reduce="amax", include_self=True).movedim(0, dim)


def layer_scores(routers: Routers, layer: int, queries: Ragged, docs: Ragged) -> Tensor:
    """Document scores [Q, N] of every query against every document at one layer."""
    qv = routers.query_vectors(layer, queries.data[layer])  # [T, H*D]
    kv = routers.key_vectors(layer, docs.data[layer])  # [C, H*D]
    token_chunk = qv @ kv.T  # [T, C]
    per_query = reduce_rows(token_chunk, queries.offsets, 0)  # [Q, C] max over routing tokens
    return reduce_rows(per_query, docs.offsets, 1)  # [Q, N] max over each document's chunks


def decoupled_infonce(scores: Tensor, gold: Tensor, temperature: float) -> Tensor:
    """scores [Q, N], gold [Q, N] bool: -log(e^{s_p/τ} / (e^{s_p/τ} + Σ_neg e^{s_n/τ})), mean over positives."""
    logits = scores / temperature
    neg = torch.logsumexp(logits.masked_fill(gold, float("-inf")), dim=1, keepdim=True)  # [Q, 1]
    per_pos = -(logits - torch.logaddexp(logits, neg))  # [Q, N]
    return per_pos[gold].mean()


@dataclass
class Store:
    """One training or evaluation store: documents, questions and their gold documents."""

    docs: Ragged
    queries: Ragged
    gold: list[tuple[int, ...]]

    def gold_mask(self, rows: Tensor) -> Tensor:
        mask = torch.zeros(len(rows), self.docs.rows, dtype=torch.bool)
        for r, q in enumerate(rows.tolist()):
            mask[r, list(self.gold[q])] = True
        return mask

    def select(self, rows: Tensor) -> Ragged:
        """The queries at `rows` as a new Ragged."""
        sizes = self.queries.offsets[1:] - self.queries.offsets[:-1]
        parts = [torch.arange(int(self.queries.offsets[r]), int(self.queries.offsets[r + 1])) for r in rows]
        idx = torch.cat(parts).to(self.queries.offsets.device)
        offsets = torch.zeros(len(rows) + 1, dtype=torch.long, device=idx.device)
        offsets[1:] = torch.cumsum(sizes[rows.to(sizes.device)], 0)
        return Ragged({k: v[idx] for k, v in self.queries.data.items()}, offsets)


@torch.no_grad()
def evaluate(routers: Routers, store: Store, ks: tuple[int, ...] = (1, 4, 16), batch: int = 256,
             layers: list[int] | None = None) -> dict[str, dict[int, float]]:
    """Recall@k per layer and of the mean-aggregated ranking over `layers` (a question counts as found at
    k when any of its gold documents is in the top k)."""
    layers = layers or routers.layers
    found = {str(i): dict.fromkeys(ks, 0) for i in routers.layers} | {"mean": dict.fromkeys(ks, 0)}
    n = len(store.gold)
    for start in range(0, n, batch):
        rows = torch.arange(start, min(n, start + batch))
        queries, gold = store.select(rows), store.gold_mask(rows).to(store.docs.offsets.device)
        total = 0
        for i in routers.layers:
            s = layer_scores(routers, i, queries, store.docs)
            if i in layers:
                total = total + s
            _count(found[str(i)], s, gold, ks)
        _count(found["mean"], total, gold, ks)
    return {name: {k: v / n for k, v in counts.items()} for name, counts in found.items()}


def _count(counts: dict[int, int], scores: Tensor, gold: Tensor, ks: tuple[int, ...]) -> None:
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    hit_rank = gold.gather(1, order).float().argmax(1)  # first gold position in the ranking
    for k in ks:
        counts[k] += int((hit_rank < k).sum())


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch: int = 64
    lr: float = 1e-3
    temperature: float = 0.1  # infonce_loss_temp of the MSA recipe
    seed: int = 0


def train_steps(routers: Routers, stores: list[Store], cfg: TrainConfig, start_step: int = 0,
                optimizer: torch.optim.Optimizer | None = None):
    """Yield (step, loss) while training; each step scores a batch of questions against every document
    of one store (its distractors are the hard negatives) and averages the per-layer losses."""
    opt = optimizer or torch.optim.AdamW(routers.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + start_step)
    for step in range(start_step, cfg.steps):
        store = stores[step % len(stores)]
        rows = torch.randint(len(store.gold), (cfg.batch,), generator=gen)
        queries, gold = store.select(rows), store.gold_mask(rows).to(store.docs.offsets.device)
        loss = sum(decoupled_infonce(layer_scores(routers, i, queries, store.docs), gold, cfg.temperature)
                   for i in routers.layers) / len(routers.layers)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        yield step, loss.item(), opt
