"""When does the tiny model learn to copy numbers? Pretrain as stage ``base`` does and probe every N steps.

    .venv/bin/python bench/copy_onset.py --seed 0 --out study/base-s0.jsonl            # the committed settings
    .venv/bin/python bench/copy_onset.py --seed 1 --set lr=0.006 --out study/lr6-s1.jsonl
    .venv/bin/python bench/copy_onset.py --summary study/*.jsonl --threshold 0.5 --by 1000

A run reads ``seed`` and ``model`` from params.yaml (what ``make params`` composed), applies ``--set
key=value`` to ``model.pretrain`` (YAML values: ``--set "tasks={Math_PoT: 0.6, Coding: 0.5, ...}"``;
``tokenizer.<key>`` and ``arch.<key>`` change those sections: ``--set tokenizer.digits_per_token=2``),
builds the corpus, tokenizer, held-out documents (``preftree.base_model.pretraining_corpus``) and model
exactly as ``preftree.base_model.train_from_scratch`` does, and trains with the same ``preftree.models.tiny.pretrain``
loop. Every ``--every`` steps (and at step 0 and the last step) it writes one JSON line: the copy and
non-copy digit accuracy on the held-out documents (``preftree.copy_probe.measure``), the held-out loss
and the mean training loss since the last probe. The probe runs through ``pretrain``'s ``save`` hook, in
eval mode under no_grad and draws no random numbers, so the trained weights are those of a run without
it (tests/test_copy_probe.py checks this); nothing is written to models/ or metrics/.

``--summary`` prints one markdown row per run: the onset (the first probed step whose copy accuracy is
at least ``--threshold``; ``--metric later_copy_accuracy`` judges only the digits after a copied
number's first), the figures at the last step, and whether the onset is at most ``--by``. Run it in a
scratch clone under ``nice -n 19``: one 1500-step run takes ~8 minutes on 2 idle cores, ~70 minutes
with four runs side by side on 2 loaded cores (docs/tiny-world.md, "The copying onset across seeds").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_model_params(overrides: list[str]) -> tuple[Any, int]:
    """The ``model`` and ``seed`` params of stage base from params.yaml, ``overrides`` applied to model.pretrain."""
    import yaml

    from preftree.config.load import load_stage_params
    from preftree.config.model import ModelParams

    params = load_stage_params("base", {"seed": int, "model": ModelParams})
    model = params["model"]
    for item in overrides:
        key, sep, value = item.partition("=")
        section, _, field = key.rpartition(".")
        section = section or "pretrain"
        part = getattr(model, section, None) if section in {"pretrain", "tokenizer", "arch"} else None
        if not sep or part is None or field not in {f.name for f in dataclasses.fields(part)}:
            raise SystemExit(f"--set {item}: expected [tokenizer.|arch.]<model.pretrain field>=<value>")
        model = dataclasses.replace(model, **{section: dataclasses.replace(part, **{field: yaml.safe_load(value)})})
    return model, params["seed"]


class StopRun(Exception):
    """Raised by the probe hook at ``--until``: the run ends there."""


def run(args: argparse.Namespace) -> None:
    import torch

    from preftree.base_model import corpus_digest, pretraining_corpus
    from preftree.copy_probe import measure
    from preftree.models.tiny import build_model, evaluate_loss, pretrain

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, _ = load_model_params(args.set)
    seed, p = args.seed, model.pretrain
    corpus = pretraining_corpus(model, seed=seed)  # what stage base trains on
    tokenizer, train_text, held_text = corpus.tokenizer, corpus.train_text, corpus.held_text
    train_blocks, held_blocks = corpus.train_blocks, corpus.held_blocks
    torch.manual_seed(seed)
    net = build_model(model.arch, tokenizer, seed=seed)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with out.open("w") as f:
        head = {
            "kind": "run",
            "seed": seed,
            "set": args.set,
            "pretrain": dataclasses.asdict(p),
            "corpus_sha256": corpus_digest(train_text),
            "heldout_sha256": corpus_digest(held_text),
            "train_blocks": int(train_blocks.size(0)),
        }
        print(json.dumps(head), file=f, flush=True)

        def probe(step: int, records: list[dict]) -> None:
            counts = measure(net, tokenizer, held_text)
            heldout = evaluate_loss(net, held_blocks, batch_size=p.batch_size)
            recent = [r["loss"] for r in records[-args.every :]]
            row = {
                "kind": "probe",
                "step": step,
                "tokens": step * p.batch_size * p.seq_len,
                **counts.as_dict(),
                "heldout_loss": heldout,
                "train_loss": statistics.fmean(recent) if recent else None,
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(json.dumps(row), file=f, flush=True)
            print(f"seed {seed} step {step}: copy {counts.copy_accuracy:.3f} held-out {heldout:.4f}", flush=True)

        def hook(state: Any) -> None:
            probe(state.step, state.records)
            if args.until and state.step >= args.until:
                raise StopRun  # the schedule is that of the full run: the probes up to here are the same

        probe(0, [])
        try:
            records = pretrain(net, train_blocks, p, seed=seed, progress=False, save=hook, save_every=args.every)
        except StopRun:
            return
        probe(p.steps, records)


COLUMNS = (
    "run", "seed", "onset step", "copy acc. at end", "later-digit copy acc.", "whole-number copy acc.",
    "non-copy acc.", "held-out loss",
    "steps", "onset <= by",
)  # fmt: skip


def read_run(path: str) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return lines[0], [r for r in lines if r["kind"] == "probe"]


def summary(paths: list[str], threshold: float, by: int, metric: str = "copy_accuracy") -> None:
    """One markdown row per run (onset judged on ``metric``), then ``metric`` of every run at every probed step."""
    from preftree.copy_probe import onset_step

    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    runs = {Path(path).stem: read_run(path) for path in paths}
    for name, (head, rows) in runs.items():
        onset = onset_step(((r["step"], r.get(metric)) for r in rows), threshold)
        if all(r.get(metric) is None for r in rows):
            onset = "not measured"
        last = rows[-1]
        cells = [
            name,
            head["seed"],
            "none" if onset is None else onset,
            f"{last['copy_accuracy']:.3f}",
            f"{last['later_copy_accuracy']:.3f}",
            f"{last['copy_number_accuracy']:.3f}" if last.get("copy_number_accuracy") is not None else "",
            f"{last['noncopy_accuracy']:.3f}",
            f"{last['heldout_loss']:.4f}",
            f"{last['step']} of {head['pretrain']['steps']}",
            "yes" if isinstance(onset, int) and onset <= by else "no",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    steps = sorted({r["step"] for _, rows in runs.values() for r in rows})
    print()
    print(f"| {metric} at step | " + " | ".join(str(s) for s in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for name, (_, rows) in runs.items():
        at = {r["step"]: r.get(metric) for r in rows}
        print(f"| {name} | " + " | ".join(f"{at[s]:.2f}" if at.get(s) is not None else "" for s in steps) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model.pretrain override")
    ap.add_argument("--every", type=int, default=100, help="probe every N steps")
    ap.add_argument("--until", type=int, default=0, help="stop after the probe at this step (0: run every step)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default="study/copy-onset.jsonl")
    ap.add_argument("--summary", nargs="+", metavar="JSONL", help="print the table of finished runs instead")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--by", type=int, default=1000)
    metrics = ["copy_accuracy", "later_copy_accuracy", "copy_number_accuracy"]
    ap.add_argument("--metric", default="copy_accuracy", choices=metrics)
    args = ap.parse_args()
    if args.summary:
        summary(args.summary, args.threshold, args.by, args.metric)
    else:
        run(args)


if __name__ == "__main__":
    main()
