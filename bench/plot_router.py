"""Plot router training: held-out recall vs step (docs/router_training_log.jsonl) and held-out recall@1
per layer after training every layer (docs/router_layers_summary.json) -> docs/router_training.png.

    python bench/plot_router.py   (needs matplotlib)
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main() -> None:
    log = [json.loads(line) for line in (DOCS / "router_training_log.jsonl").read_text().splitlines()]
    summary = json.loads((DOCS / "router_layers_summary.json").read_text())
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["step"] for r in log]
    for k in ("1", "4", "16"):
        a.plot(steps, [r["recall"]["mean"][k] for r in log], marker="o", label=f"recall@{k}")
    a.set(xlabel="training step", ylabel="held-out recall (1,000 memories)", ylim=(0, 1.02),
          title="Trained routers, 8 layers, mean over layers")
    a.legend()
    a.grid(alpha=0.3)
    layers = sorted(int(k) for k in summary["per_layer"] if k != "mean")
    b.bar(layers, [summary["per_layer"][str(i)]["1"] for i in layers])
    b.set(xlabel="layer", ylabel="held-out recall@1", title="One router per layer, 1,000 steps", ylim=(0, 1))
    b.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(DOCS / "router_training.png", dpi=110)


if __name__ == "__main__":
    main()
