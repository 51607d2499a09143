"""What int8 weights would give CPU decoding: the default model in bf16, answered as shipped and with its
decoding steps (one token: the merged reader's linear layers and the head) run through int8 per-channel
weights (`torch.ops.aten._weight_int8pack_mm`); prefill, encoding and routing stay bf16. An experiment that
patches the loaded model, not a product path.

    python bench/int8_decode.py [--memories 200] [--questions 16]

Prints decode ms per token (median over questions) for both and how many answers are identical.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
import types

import torch
from torch import Tensor, nn

from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory
from msa.model.train.synthetic import make_dataset


def int8_per_channel(w: Tensor) -> tuple[Tensor, Tensor]:
    """w [out, in] -> (int8 [out, in], bf16 scales [out]): symmetric, one scale per output channel."""
    scale = (w.float().abs().amax(1) / 127).clamp_min(1e-12)
    return torch.round(w.float() / scale[:, None]).to(torch.int8), scale.bfloat16()


def decode_in_int8(module: nn.Module, weight: Tensor, when) -> None:
    """One-token forwards of `module` (while `when(module)`) through int8 copies of `weight`."""
    w8, scale = int8_per_channel(weight)
    plain = module.forward

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] == 1 and when(self):
            return torch.ops.aten._weight_int8pack_mm(x.bfloat16().contiguous(), w8, scale).to(x.dtype)
        return plain(x)

    module.forward = types.MethodType(forward, module)


def answers(model: MSAModel, memory: Memory, examples) -> tuple[list[str], float]:
    """Replies (up to 32 tokens) and the median decode ms per token (the answer less its first token)."""
    replies, per_token = [], []
    for ex in examples:
        start = time.perf_counter()
        model.generate(ex.question, memory, max_new_tokens=1)
        first = time.perf_counter() - start
        start = time.perf_counter()
        result = model.generate(ex.question, memory, max_new_tokens=32)
        whole = time.perf_counter() - start
        replies.append(result.answer)
        per_token.append((whole - first) / max(1, len(result.token_ids) - 1))
    return replies, 1e3 * statistics.median(per_token)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=200)
    ap.add_argument("--questions", type=int, default=16)
    args = ap.parse_args()
    model = MSAModel.from_pretrained(default_model(), dtype="bfloat16")
    ds, _ = make_dataset("heldout", args.memories, args.questions, seed=1)
    memory = Memory(model.encode_documents(ds.memories))
    shipped, shipped_ms = answers(model, memory, ds.examples)
    for module in model.reader.modules.values():
        decode_in_int8(module, module.merged, lambda m: m.switch.on)
    decode_in_int8(model.transformer.lm_head, model.transformer.lm_head.weight, lambda m: True)
    int8, int8_ms = answers(model, memory, ds.examples)
    same = sum(a == b for a, b in zip(shipped, int8, strict=True))
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, {datetime.date.today()}, {args.memories} memories")
    print(f"bf16 decode {shipped_ms:.1f} ms/token; int8 decode {int8_ms:.1f} ms/token; "
          f"same answers {same}/{len(shipped)}")


if __name__ == "__main__":
    main()
