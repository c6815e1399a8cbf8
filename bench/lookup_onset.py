"""When does the tiny model learn a copy found by content? Train it from scratch on lookup drills only.

Trials U and V (docs/tiny-world.md) found no content-keyed copy in the 0.9 M model after its 2500-step
pretraining, even with 4000 lookup drills in the corpus. This script isolates the mechanism: a fresh model
of the default architecture (``model.arch``) with a given tokenizer trains on nothing but lookup drills
(trial V's format, generated here) through the pipeline's own pretraining loop
(``preftree.models.tiny.pretrain``, ``model.pretrain``'s settings with ``--steps`` and ``--lr`` replaced).
Every ``--every`` steps it scores the first token of every value in 150 held-out drills, teacher-forced
(greedy prediction), next to the baseline of the same run and the ratio to it: a random pick among the
drill's listed values (one over the pairs). "train loss" is the mean over the steps since the last row.

    python bench/lookup_onset.py TOKENIZER_DIR [--steps 1500] [--every 100] [--seed 0] [--drills 20000]
                                  [--lr LR] [--ordered]

TOKENIZER_DIR is a trained model folder (``models/base``); only its tokenizer is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time

import torch
from transformers import AutoTokenizer

from preftree.base_model import chat_document
from preftree.compose import from_conf
from preftree.config.model import ModelParams
from preftree.copy_probe import greedy_predictions
from preftree.models.tiny import build_model, pack_documents, pretrain
from preftree.sources.synthetic.common import PEOPLE
from preftree.sources.synthetic.logic import CATEGORIES

# Trial V's proposition words: the made-up category words less four that O's tokenizer cuts into pieces.
WORDS = [w for w in CATEGORIES if w not in ("vexils", "clemms", "gloams", "humlocks")]
INSTRUCTION = "Each pair below is a word and the word that goes with it.\nPairs: "


def _value(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(WORDS)
    if kind < 0.75:
        return rng.choice(PEOPLE)[0]
    return str(rng.randint(10, 99))


def lookup_drills(n: int, *, seed: int, ordered: bool = False) -> list[dict[str, str]]:
    """Trial V's lookup drills (commit 5390a25, ``drills.lookup_drills``): 3 to 8 pairs "key value." with
    distinct keys, some keys asked in a random order, answered "key value." each. ``ordered``: the keys are
    asked in the order they are listed, so each value can be found by position alone (the control)."""
    rng = random.Random(f"preftree.drills.lookup|{seed}")
    docs = []
    for _ in range(n):
        keys = rng.sample(WORDS, rng.randint(3, 8))
        pairs = {k: _value(rng) for k in keys}
        asked = rng.sample(keys, rng.randint(1, len(keys)))
        if ordered:
            asked = [k for k in keys if k in asked]
        instruction = (
            INSTRUCTION
            + " ".join(f"{k} {v}." for k, v in pairs.items())
            + "\nGive the word that goes with each of: "
            + ", ".join(asked)
        )
        docs.append({"instruction": instruction, "response": " ".join(f"{k} {pairs[k]}." for k in asked)})
    return docs


def value_slots(tokenizer, drill) -> tuple[list[int], list[int], float]:  # type: ignore[no-untyped-def]
    """Token ids of the drill as a chat document, the positions of each value's first token, and the
    random-pick baseline (one over the listed pairs)."""
    doc = chat_document(tokenizer, drill["instruction"], drill["response"])
    base = doc.rindex(drill["response"])
    enc = tokenizer(doc, add_special_tokens=False, return_offsets_mapping=True)
    at, pos = [], base
    for pair in drill["response"].rstrip(".").split(". "):
        key = pair.split(" ")[0]
        start = pos + len(key) + 1
        at.append(next(t for t, (a, b) in enumerate(enc["offset_mapping"]) if a <= start < b))
        pos += len(pair) + 2
    listed = drill["instruction"].split("Pairs: ", 1)[1].split("\n", 1)[0].count(".")
    return enc["input_ids"], at, 1 / listed


def score(model, slots) -> float:  # type: ignore[no-untyped-def]
    model.eval()
    right = total = 0
    with torch.no_grad():
        for ids, at, _ in slots:
            pred = greedy_predictions(model, ids)
            right += sum(pred[t] == ids[t] for t in at)
            total += len(at)
    model.train()
    return right / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tokenizer_dir")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drills", type=int, default=20000)
    ap.add_argument("--ordered", action="store_true", help="keys asked in their listed order (positional control)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: model.pretrain.lr)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    params = from_conf(ModelParams, "model")
    p = params.pretrain
    assert p is not None and params.arch is not None
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_dir)
    train = [
        chat_document(tokenizer, d["instruction"], d["response"])
        for d in lookup_drills(args.drills, seed=args.seed, ordered=args.ordered)
    ]
    blocks = pack_documents(tokenizer, train, p.seq_len)
    held = [value_slots(tokenizer, d) for d in lookup_drills(150, seed=10_000 + args.seed, ordered=args.ordered)]
    baseline = sum(len(at) * b for _, at, b in held) / sum(len(at) for _, at, _ in held)
    model = build_model(params.arch, tokenizer, seed=args.seed)
    schedule = dataclasses.replace(p, steps=args.steps, lr=args.lr or p.lr)
    print(
        f"{blocks.shape[0]} blocks of {p.seq_len} tokens from {args.drills} drills; held-out values: "
        f"{sum(len(at) for _, at, _ in held)}; random-pick baseline {baseline:.3f}"
    )
    print("| step | tokens (M) | held-out value accuracy | ratio to the random pick | train loss | s |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()

    def probe(step: int, records: list[dict]) -> None:
        acc = score(model, held)
        recent = [r["loss"] for r in records[-args.every :]]
        loss = f"{statistics.fmean(recent):.3f}" if recent else ""
        print(
            f"| {step} | {step * p.batch_size * p.seq_len / 1e6:.2f} | {acc:.3f} | {acc / baseline:.2f} | {loss} "
            f"| {time.perf_counter() - start:.0f} |",
            flush=True,
        )

    probe(0, [])
    records = pretrain(
        model, blocks, schedule, seed=args.seed, progress=False, save=lambda st: probe(st.step, st.records),
        save_every=args.every,
    )  # fmt: skip
    probe(args.steps, records)


if __name__ == "__main__":
    main()
