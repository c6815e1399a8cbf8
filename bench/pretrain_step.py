"""Pretraining step time of stage `base`: the eager loop against the same loop on ``torch.compile(model)``.

    .venv/bin/python bench/pretrain_step.py                  # params.yaml's model, 60 steps, 2 repeats
    .venv/bin/python bench/pretrain_step.py --steps 100 --repeats 3 --threads 2

Both sides run ``preftree.models.tiny.pretrain`` (the loop `base` runs) on the corpus and model that
`base` builds from params.yaml (``preftree.base_model.pretraining_corpus``, ``build_model``, seed 0), for
``--steps`` steps of the committed batch size and sequence length; the compiled side passes
``torch.compile(model)`` instead of the model. Each measurement is a fresh subprocess, trials interleaved
(eager, compiled, compiled, eager, ...). Step time is measured from the end of step ``--warmup`` to the
last step (compilation happens in the first steps and is reported apart, as ``first steps s``). The
last line prints the ratio eager / compiled of the median step times, and the largest difference of
the per-step losses (compiled code reorders float operations, so weights are not bit-identical).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(side: str, steps: int, warmup: int, threads: int) -> dict:
    import dataclasses

    import torch

    from preftree.base_model import pretraining_corpus
    from preftree.config.load import load_stage_params
    from preftree.config.model import ModelParams
    from preftree.models.tiny import build_model, pretrain

    torch.set_num_threads(threads)
    model_params: ModelParams = load_stage_params("base", {"model": ModelParams, "seed": int}, root=ROOT)["model"]
    corpus = pretraining_corpus(model_params, seed=0)
    model = build_model(model_params.arch, corpus.tokenizer, seed=0)
    params = dataclasses.replace(model_params.pretrain, steps=steps)
    runner = torch.compile(model) if side == "compiled" else model
    records = pretrain(runner, corpus.train_blocks, params, seed=0, progress=False)
    seconds = [r["seconds"] for r in records]
    return {
        "side": side,
        "first_steps_s": seconds[warmup - 1],
        "step_s": (seconds[-1] - seconds[warmup - 1]) / (steps - warmup),
        "losses": [r["loss"] for r in records],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the step time (compilation)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per measurement")
    ap.add_argument("--one", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 0 < args.warmup < args.steps:
        ap.error("--warmup must be between 0 and --steps")
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.warmup, args.threads)))
        return
    order = [s for k in range(args.repeats) for s in (("eager", "compiled") if k % 2 == 0 else ("compiled", "eager"))]
    results: dict[str, list[dict]] = {"eager": [], "compiled": []}
    for side in order:
        cmd = [sys.executable, __file__, "--one", side, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads)]  # fmt: skip
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"bench/pretrain_step.py: the {side} side failed:\n{out.stderr[-3000:]}")
        results[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[side][-1]
        print(f"{side:9s} step {1000 * r['step_s']:7.1f} ms   first {args.warmup} steps {r['first_steps_s']:6.1f} s")
    med = {s: statistics.median(r["step_s"] for r in rs) for s, rs in results.items()}
    diff = max(abs(a - b) for a, b in zip(results["eager"][0]["losses"], results["compiled"][0]["losses"], strict=True))
    print(
        f"median step: eager {1000 * med['eager']:.1f} ms, compiled {1000 * med['compiled']:.1f} ms; "
        f"ratio eager/compiled {med['eager'] / med['compiled']:.2f}x; "
        f"largest per-step loss difference {diff:.2e} over {args.steps} steps"
    )


if __name__ == "__main__":
    main()
