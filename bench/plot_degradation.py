"""Plot the degradation curve from `msa eval --json` rows: recall@4 and answer accuracy against memory size
(log scale), ours beside the baselines -> a PNG.

    python bench/plot_degradation.py docs/degradation_2026-12-02.jsonl docs/degradation.png   (needs matplotlib)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STYLE = {"ours": ("tab:blue", "o"), "bm25": ("tab:orange", "s"), "minilm": ("tab:green", "^")}
LABEL = {"ours": "ours (routers + routing adapter)", "bm25": "BM25, same reader", "minilm": "MiniLM-L6, same reader"}


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, (color, marker) in STYLE.items():
        ranked = sorted((r["tokens"], r["recall"]["4"]) for r in rows if r.get("retriever") == name and "recall" in r)
        read = sorted((r["tokens"], r["answered"]) for r in rows if r.get("retriever") == name and "top_k" in r)
        for axis, points in ((left, ranked), (right, read)):
            if points:
                axis.plot(*zip(*points, strict=True), color=color, marker=marker, label=LABEL[name])
    for axis, title in ((left, "routing recall@4"), (right, "answers right (top 4 notes, same reader)")):
        axis.set_xscale("log")
        axis.set_xlabel("memory (tokens)")
        axis.set_ylim(0, 1.02)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.legend(loc="lower left", fontsize=8)
    where = rows[0].get("where", "")
    fig.suptitle(f"Accuracy as memory grows (msa eval; {where})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
