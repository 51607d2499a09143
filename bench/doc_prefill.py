"""Document-causal attention for encoding (decoder.PackedCausal: documents scattered into a padded batch,
one fused causal SDPA call) against the bf16 GEMM rate measured in the same run — issue 7's doc_prefill
question: does PyTorch's own attention reach >= 70% of the GEMM rate at document lengths 256-4096?

    python bench/doc_prefill.py [--tokens 65536]

MSA-4B geometry: 32 query heads, 8 KV heads, head_dim 128, bf16; documents of one length per row, as many
as fill --tokens. Useful FLOPs of causal attention: 2 matmuls x 2 FLOPs x L(L+1)/2 x heads x head_dim.
"""

from __future__ import annotations

import argparse
import datetime

import torch

from bench.route import timed_ms
from msa.model.decoder import PackedCausal

HEADS, KV_HEADS, DIM = 32, 8, 128


def gemm_rate(n: int = 8192) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    return 2 * n**3 / (timed_ms(lambda: a @ b) / 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    args = ap.parse_args()
    rate = gemm_rate()
    print(f"{datetime.date.today()}; {torch.cuda.get_device_name()}; bf16 GEMM {rate / 1e12:.0f} TFLOP/s")
    print("| document length | documents | ms | TFLOP/s | % of GEMM rate |")
    print("|---|---|---|---|---|")
    for length in args.lengths:
        docs = max(1, args.tokens // length)
        cu = torch.arange(docs + 1, device="cuda") * length
        q = torch.randn(docs * length, HEADS, DIM, device="cuda", dtype=torch.bfloat16)
        k, v = (torch.randn(docs * length, KV_HEADS, DIM, device="cuda", dtype=torch.bfloat16) for _ in range(2))
        attend = PackedCausal(cu)
        ms = timed_ms(lambda a=attend, q=q, k=k, v=v: a(q, k, v, DIM ** -0.5))
        flops = 4 * docs * length * (length + 1) / 2 * HEADS * DIM
        tflops = flops / ms / 1e9
        print(f"| {length} | {docs} | {ms:.3f} | {tflops:.0f} | {100 * tflops * 1e12 / rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
