"""Text-mode answer accuracy on held-out generated memories (relations, templates and names unseen in
router training): a question is answered when its answer string appears in the generated text.

    python bench/answer_accuracy.py [--checkpoint PATH] [--memories 1000] [--questions 100] [--top-k 1 2 4]
                                    [--device cuda]

With a reader adapter in the checkpoint, every top_k is answered with and without it (same routing).
"""

from __future__ import annotations

import argparse
import datetime
import time

from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory
from msa.model.train.synthetic import make_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint directory (default: the embedded default model)")
    ap.add_argument("--memories", type=int, default=1000)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--top-k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    path = args.checkpoint or default_model()
    model = MSAModel.from_pretrained(path, device=args.device)
    readers = {"adapter": model.reader, "base": None} if model.reader else {"base": None}
    ds, _ = make_dataset("heldout", args.memories, args.questions * 2, seed=args.seed)
    single = [e for e in ds.examples if e.hops == 1][: args.questions]
    start = time.perf_counter()
    memory = Memory(model.encode_documents(ds.memories))
    print(f"{datetime.date.today()}; {args.device}; checkpoint {path}; {args.memories} held-out memories encoded "
          f"in {time.perf_counter() - start:.0f} s; {len(single)} single-hop questions")
    print("| reader | top_k | answered | routed (gold read) |")
    print("|---|---|---|---|")
    for name, reader in readers.items():
        model.reader = reader
        for k in args.top_k:
            answered = routed = 0
            for e in single:
                result = model.generate(e.question, memory, top_k=k, max_new_tokens=32)
                answered += e.answer.lower() in result.text.lower()
                routed += bool(set(e.gold) & set(result.documents))
            print(f"| {name} | {k} | {answered / len(single):.2f} | {routed / len(single):.2f} |", flush=True)


if __name__ == "__main__":
    main()
