"""How close stage `base`'s pretraining step is to the machine's dense matmul throughput.

    .venv/bin/python bench/compute_bound.py                  # params.yaml's model, 40 steps, 2 threads
    .venv/bin/python bench/compute_bound.py --steps 60 --threads 2

The question it answers: can `base` (the 2500-step pretraining of the tiny world) get much faster on
this machine without training fewer tokens or a smaller model? It measures, in one process:

* the step: ``preftree.models.tiny.pretrain`` (the loop `base` runs) on the corpus and model that `base`
  builds from params.yaml, ``--steps`` steps of the committed batch size and sequence length, timed
  after ``--warmup`` steps; its arithmetic is counted as ``6 * N * T`` (N: the weights a token passes
  through, the tied embedding counted once as the output head; T: tokens per step) plus attention's
  ``12 * layers * seq_len * hidden`` per token (scores and weighted values, forward and backward, causal
  masking not discounted);
* the baseline: fp32 matmuls at the same thread count, of the model's own largest shape (tokens per
  step x hidden times hidden x intermediate) and of a large square shape (2048^3), best of 5 each.

It prints both rates, their ratio (the step's share of the best matmul rate), and the time `base`'s
full schedule would take at the step's rate and at the matmul rate: the second is a floor for any
speed-up that keeps the model and the tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matmul_rate(m: int, k: int, n: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 GFLOP/s of an (m x k) @ (k x n) product."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        inner = max(1, int(2e9 // (2 * m * k * n)))  # ~2 GFLOP per timing
        t0 = time.perf_counter()
        for _ in range(inner):
            a @ b
        best = min(best, (time.perf_counter() - t0) / inner)
    return 2 * m * k * n / best / 1e9


def step_flops(arch, tokens: int, seq_len: int, vocab: int) -> float:
    """Training FLOPs of one step: 6 N T + attention (see the module docstring)."""
    h, inter, layers = arch.hidden_size, arch.intermediate_size, arch.num_hidden_layers
    head_dim = h // arch.num_attention_heads
    kv = arch.num_key_value_heads * head_dim
    per_layer = h * h + 2 * h * kv + h * h + 3 * h * inter  # q, k, v, o, gate/up/down
    n = layers * per_layer + h * vocab  # the output head (tied to the embedding, counted once)
    return 6.0 * n * tokens + 12.0 * layers * seq_len * h * tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from preftree.base_model import pretraining_corpus
    from preftree.config.load import load_stage_params
    from preftree.config.model import ModelParams
    from preftree.models.tiny import build_model, pretrain

    torch.set_num_threads(args.threads)
    model_params: ModelParams = load_stage_params("base", {"model": ModelParams, "seed": int}, root=ROOT)["model"]
    arch, pre = model_params.arch, model_params.pretrain
    corpus = pretraining_corpus(model_params, seed=0)
    model = build_model(arch, corpus.tokenizer, seed=0)
    records = pretrain(model, corpus.train_blocks, dataclasses.replace(pre, steps=args.steps), seed=0, progress=False)
    seconds = [r["seconds"] for r in records]
    step_s = (seconds[-1] - seconds[args.warmup - 1]) / (args.steps - args.warmup)
    tokens = pre.batch_size * pre.seq_len
    flops = step_flops(arch, tokens, pre.seq_len, len(corpus.tokenizer))
    step_rate = flops / step_s / 1e9

    own = matmul_rate(tokens, arch.hidden_size, arch.intermediate_size)
    square = matmul_rate(2048, 2048, 2048)
    best = max(own, square)
    print(f"threads {args.threads}, {tokens} tokens per step, {flops / 1e9:.1f} GFLOP per step")
    print(f"pretraining step: {step_s * 1000:.0f} ms, {step_rate:.1f} GFLOP/s")
    print(f"fp32 matmul {tokens}x{arch.hidden_size} @ {arch.hidden_size}x{arch.intermediate_size}: {own:.1f} GFLOP/s")
    print(f"fp32 matmul 2048^3: {square:.1f} GFLOP/s")
    print(
        f"base's {pre.steps} steps: {pre.steps * step_s:.0f} s at the step's rate, "
        f"{pre.steps * flops / best / 1e9:.0f} s at the best matmul rate"
    )
    print(f"ratio step / best matmul rate: {step_rate / best:.2f}")


if __name__ == "__main__":
    main()
