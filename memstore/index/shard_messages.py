"""The wire protocol between rank 0 and the shard ranks: one typed message per rank per round.

A round is the same on every rank (`exchange`): rank 0 sends a message per rank, each rank handles its own,
rank 0 collects the replies. A routing query (`Select`, the same on every rank) travels as tensors only: a
header, the queries, the candidates back; any other message is pickled. A message's own error is a reply
(`RankError`), so every rank always finishes the round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from msa.memstore.server.logs import log

logger = logging.getLogger(__name__)
SELECT = 1  # a round's kind in its header: 0 (all zeros) a pickled message per rank, 1 a routing query
FIELDS, MAX_LAYERS, MAX_QUESTIONS = 11, 128, 64  # a round's header: kind, namespace, epoch, spec, k, layers,
# questions, allowed ordinals (-1: no filter), S, H, D; then the layers; then each question's routing tokens

RoutingRows = dict[int, list[tuple[int, Tensor]]]  # layer -> (ordinal, routing keys [C, G, D]) in ordinal order


@dataclass(frozen=True)
class Learn:
    """Remember `term` (a namespace name or a RouteSpec) as `term_id`, so routing queries carry ids only."""

    term_id: int
    term: Hashable


@dataclass(frozen=True)
class Load:
    """Build a namespace's shard from this rank's documents and open `epoch`."""

    ns: str
    epoch: int
    layers: tuple[int, ...]
    rows: RoutingRows


@dataclass(frozen=True)
class Patch:
    """A committed change to this rank's documents of a loaded namespace; opens `epoch`."""

    ns: str
    epoch: int
    added: dict[int, dict[int, Tensor]] = field(default_factory=dict)  # ordinal -> {layer: routing keys}
    removed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Drop:
    ns: str


@dataclass(frozen=True)
class Select:
    """Route B questions over `layers` of the namespace `ns_id` at `epoch`: q [B, L, S, H, D], question b's first
    tokens[b] of S rows; every rank answers its candidates for the top k (`selection.candidates`) among the
    `allowed` ordinals [N] (a filter's documents) when given."""

    ns_id: int
    epoch: int
    layers: tuple[int, ...]
    q: Tensor
    tokens: tuple[int, ...]
    spec_id: int
    k: int
    allowed: Tensor | None = None


@dataclass(frozen=True)
class CountBytes:
    """How many bytes of routing keys this rank holds."""


@dataclass(frozen=True)
class Ping:
    """A heartbeat: a rank that died or hangs fails the round."""


@dataclass(frozen=True)
class Stop:
    """Leave the loop (`serve_rank`)."""


Message = Learn | Load | Patch | Drop | Select | CountBytes | Ping | Stop
Handler = Callable[[Message], Any]


@dataclass(frozen=True)
class RankError:
    """A message that raised on a rank (the round itself completed)."""

    message: str


def exchange(handle: Handler, messages: list[Message] | None) -> tuple[Message, list | None]:
    """One round, the same on every rank: rank 0 passes a message per rank (`messages`; None elsewhere), each
    rank handles its own, rank 0 collects the replies (None elsewhere). -> (this rank's message, replies)."""
    device = _comm_device()
    header = torch.zeros(FIELDS + MAX_LAYERS + MAX_QUESTIONS, dtype=torch.int64)
    mine = messages[0] if messages is not None else None
    if isinstance(mine, Select):
        if len(mine.layers) > MAX_LAYERS or len(mine.tokens) > MAX_QUESTIONS:
            raise ValueError(f"a round takes at most {MAX_LAYERS} router layers and {MAX_QUESTIONS} questions")
        header[:FIELDS] = torch.tensor([SELECT, mine.ns_id, mine.epoch, mine.spec_id, mine.k, len(mine.layers),
                                        len(mine.tokens), -1 if mine.allowed is None else len(mine.allowed),
                                        *mine.q.shape[2:]])
        header[FIELDS:FIELDS + len(mine.layers)] = torch.tensor(mine.layers)
        header[FIELDS + MAX_LAYERS:FIELDS + MAX_LAYERS + len(mine.tokens)] = torch.tensor(mine.tokens)
    sent = header.to(device)
    dist.broadcast(sent, src=0)
    fields = header.tolist() if messages is not None else sent.cpu().tolist()
    if fields[0] == SELECT:
        return _select_round(handle, mine, fields, device)
    box = [None]
    dist.scatter_object_list(box, messages, src=0)
    (mine,) = box
    reply = None if isinstance(mine, Stop) else _reply(handle, mine)
    replies = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(reply, replies, dst=0)
    return mine, replies


def _select_round(handle: Handler, mine: Select | None, fields: list[int], device: torch.device
                  ) -> tuple[Select, list | None]:
    """The rest of a routing query's round: broadcast the queries, score, gather every rank's candidates
    packed in one int64 tensor [B, L + 1, M + 1] (row 0: ordinals, then the status; rows 1..L: the fp32
    scores' bits)."""
    _, ns_id, epoch, spec_id, k, n_layers, questions, n_allowed, *shape = fields[:FIELDS]
    layers = tuple(fields[FIELDS:FIELDS + n_layers])
    tokens = tuple(fields[FIELDS + MAX_LAYERS:FIELDS + MAX_LAYERS + questions])
    if mine is not None:
        q = mine.q.to(device, torch.float32).contiguous()
    else:
        q = torch.empty(questions, n_layers, *shape, device=device)
    dist.broadcast(q, src=0)
    allowed = None
    if n_allowed >= 0:
        allowed = (mine.allowed.to(device) if mine is not None
                   else torch.empty(n_allowed, dtype=torch.int64, device=device))
        dist.broadcast(allowed, src=0)
    mine = Select(ns_id, epoch, layers, q, tokens, spec_id, k, allowed)
    reply = _reply(handle, mine)
    width = (n_layers + 2 if n_layers > 1 else 1) * k
    packed = torch.zeros(questions, n_layers + 1, width + 1, dtype=torch.int64, device=device)
    if isinstance(reply, RankError):
        packed[:, 0, -1] = -1
    else:
        packed[:, 0, :width] = reply[0]
        packed[:, 1:, :width] = reply[1].contiguous().view(torch.int32)
    world, rank = dist.get_world_size(), dist.get_rank()
    parts = [torch.empty_like(packed) for _ in range(world)] if rank == 0 else None
    dist.gather(packed, parts, dst=0)
    if rank != 0:
        return mine, None
    parts = torch.stack(parts).cpu()  # one copy to the host, where the merge happens
    lost = RankError("scoring failed (see that rank's log)")  # only rank 0's own message is at hand
    return mine, [(reply if r == 0 else lost) if p[0, 0, -1] < 0 else (
        p[:, 0, :width], p[:, 1:, :width].to(torch.int32).view(torch.float32)) for r, p in enumerate(parts)]


def _comm_device() -> torch.device:
    """Where tensors travel: the GPU under NCCL, the host under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _reply(handle: Handler, message: Message) -> Any:
    try:
        return handle(message)
    except Exception as e:
        log(logger, logging.ERROR, "shard message failed", rank=dist.get_rank(), message=type(message).__name__,
            error=str(e))
        return RankError(f"{type(e).__name__}: {e}")
