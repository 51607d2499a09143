"""Ingest throughput of the whole write path as `msa load` runs it (read the file, tokenize, encode, pool, encode
blobs, LMDB commit, index patch; the next batch encoded while the previous one commits),
beside the encoder alone and the encoder's GEMM-bound floor, measured in one run on one machine.

    python bench/ingest.py [--checkpoint DIR] [--device cuda] [--tokens 2000000] [--batch 256]

Without --checkpoint the model is a random checkpoint in the embedded default's exact geometry (SmolLM2-135M:
30 layers, hidden 576, 9/3 heads, head_dim 64, router layers 11,18,19,23,24,25,26,29, 64-token chunks);
throughput depends on the geometry, not the weights. Memories are random word sequences of 40-400 words.
Floor: the encoder's linear-layer FLOPs per token at the rate of one large GEMM in the model's dtype.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import tempfile
import time
from pathlib import Path

import torch

from msa.cli.load import load_file
from msa.memstore.engine import Engine
from msa.model.api import MSAModel
from msa.model.checkpoints.random_checkpoint import WORDS, write_random_checkpoint
from msa.model.config import ModelConfig


def memories(n_tokens_goal: int, seed: int = 0) -> list[str]:
    """Random word sequences; roughly n_tokens_goal words in all."""
    rng = random.Random(seed)
    out, total = [], 0
    while total < n_tokens_goal:
        n = rng.randint(40, 400)
        out.append(" ".join(rng.choice(WORDS) for _ in range(n)) + ".")
        total += n
    return out


def linear_flops_per_token(cfg: ModelConfig) -> float:
    """2 x the multiply-adds of every projection and MLP in every layer (attention scores excluded: at
    memory lengths of a few hundred tokens they are a few percent)."""
    h, kv = cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim
    q = cfg.num_attention_heads * cfg.head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * cfg.intermediate_size
    return 2.0 * per_layer * cfg.num_hidden_layers


def gemm_rate(cfg: ModelConfig, device: str, dtype: torch.dtype, rows: int) -> float:
    """FLOP/s of [rows, hidden] x [hidden, intermediate] products (the encoder's largest)."""
    a = torch.randn(rows, cfg.hidden_size, device=device, dtype=dtype)
    b = torch.randn(cfg.hidden_size, cfg.intermediate_size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        a @ b
        reps += 1
    sync(device)
    return 2 * rows * cfg.hidden_size * cfg.intermediate_size * reps / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def profile_encoder(model: MSAModel, texts: list[str], budget: int, device: str, path: Path) -> None:
    """Where one encoder pass of about `budget` tokens spends its time: the profiler's op tables."""
    from torch.profiler import ProfilerActivity, profile

    batch, total = [], 0
    for text in texts:
        batch.append(text)
        total += len(text.split())
        if total >= budget:
            break
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        model.encode_documents(batch, max_batch_tokens=budget)
        sync(device)
    keys = ["cpu_time_total"] + (["self_device_time_total"] if device.startswith("cuda") else [])
    path.write_text("".join(f"## {len(batch)} memories, ~{total} tokens, by {key}\n"
                            f"{prof.key_averages().table(sort_by=key, row_limit=30)}\n" for key in keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="model directory [a random one in the default's geometry]")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="model dtype [float32 on CPU, bfloat16 on a GPU]")
    ap.add_argument("--tokens", type=int, default=60_000, help="words to write in all (about as many tokens)")
    ap.add_argument("--batch", type=int, default=64, help="memories per write (one encode, one transaction)")
    ap.add_argument("--encode-batch-tokens", type=int, nargs="+", default=[16384],
                    help="tokens per forward pass for the encoder-alone rows (the write path uses the model's own)")
    ap.add_argument("--json", type=Path, help="append the result row here")
    ap.add_argument("--profile", type=Path, help="write a torch.profiler table of one encoder pass here")
    args = ap.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.checkpoint) if args.checkpoint else write_random_checkpoint(
            Path(tmp) / "model", family="llama", preset="smollm2-135m", dtype="float32")
        model = MSAModel.from_pretrained(path, device=args.device, dtype=dtype)
        texts = memories(args.tokens)
        warm = texts[: args.batch]
        model.encode_documents(warm)  # first-call costs (allocations, kernel compiles) out of the timings
        sync(args.device)

        encoder = {}  # tokens per encode call -> tokens/s
        for budget in args.encode_batch_tokens:
            start = time.perf_counter()
            encoded_tokens = 0
            for i in range(0, len(texts), args.batch):
                encoded_tokens += sum(len(e.token_ids) for e in model.encode_documents(
                    texts[i:i + args.batch], max_batch_tokens=budget))
            sync(args.device)
            encoder[budget] = round(encoded_tokens / (time.perf_counter() - start))
        if args.profile:
            profile_encoder(model, texts, args.encode_batch_tokens[-1], args.device, args.profile)

        lines = Path(tmp) / "memories.jsonl"
        lines.write_text("".join(json.dumps({"id": f"m{i}", "text": t, "metadata": {"n": str(i)}}) + "\n"
                                 for i, t in enumerate(texts)))
        engine = Engine.open(Path(tmp) / "store", model, create=True)
        start = time.perf_counter()
        _, _, written = load_file(engine, "bench", lines, args.batch, lambda _: None)  # `msa load`'s path
        sync(args.device)
        write_s = time.perf_counter() - start
        engine.close()
        disk = sum(f.stat().st_size for f in (Path(tmp) / "store").iterdir())

        cfg = model.config
        rate = gemm_rate(cfg, args.device, model.dtype, rows=4096)
        floor = rate / linear_flops_per_token(cfg)
    row = {
        "date": str(datetime.date.today()),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
        or platform.machine(), "threads": torch.get_num_threads(), "dtype": dtype, "batch": args.batch,
        "memories": len(texts), "tokens": written, "encoder_tokens_per_s": encoder,
        "write_tokens_per_s": round(written / write_s), "floor_tokens_per_s": round(floor),
        "gemm_gflops": round(rate / 1e9, 1), "bytes_on_disk_per_token": round(disk / written, 1),
    }
    print("| device | dtype | batch | tokens | whole write path tok/s | encoder alone tok/s (tokens per pass) "
          "| GEMM floor tok/s | floor / write path | disk bytes/token |")
    print("|---|---|---|---|---|---|---|---|---|")
    alone = ", ".join(f"{v} ({k})" for k, v in encoder.items())
    print(f"| {row['device']} ({row['threads']} threads) | {dtype} | {args.batch} | {written} | "
          f"{row['write_tokens_per_s']} | {alone} | {row['floor_tokens_per_s']} | "
          f"{floor / row['write_tokens_per_s']:.2f}x | {row['bytes_on_disk_per_token']} |")
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
