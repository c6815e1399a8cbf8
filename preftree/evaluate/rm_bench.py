"""Reward-model benchmarks on local files (or Hugging Face ids) in their published layouts: the paper's
reward-model table (paper §5, Table 4: RewardBench without its prior sets, and agreement with MT-Bench
human judgements).

Layouts:

* ``rewardbench`` (``allenai/reward-bench``, split ``filtered``): ``prompt, chosen, rejected, subset, id``.
  A pair is won when the reward of (prompt, chosen) is strictly greater than that of (prompt, rejected)
  (RewardBench's ``run_rm.py``: a tie is a loss). Accuracy per subset, then per section (Chat, Chat Hard,
  Safety, Reasoning) as RewardBench weights it: the mean of its subsets' accuracies weighted by
  :data:`EXAMPLE_COUNTS` (math-prm counts 984, the six HumanEvalPack languages together, so math and code
  weigh alike), over the subsets present. ``average`` is the plain mean of the four sections (the paper's
  "Avg": no prior sets). Subsets outside the four sections are reported, never averaged in.
* ``mtbench`` (``lmsys/mt_bench_human_judgments``, split ``human``): ``question_id, model_a, model_b,
  winner, judge, conversation_a, conversation_b, turn``. Each judgement is one pair: the conversation of
  the model the judge preferred (up to the judged turn: 2 messages for turn 1, 4 for turn 2) against the
  other one. Rule: judgements whose ``winner`` starts with ``tie`` (``tie``, ``tie (bothbad)``) are
  excluded and counted (``ties_excluded``); the RM agrees when it gives the judged winner the strictly
  higher reward. Subsets: ``turn1`` / ``turn2`` and MT-Bench's category, read from the question id
  (81-90 writing, 91-100 roleplay, 101-110 reasoning, 111-120 math, 121-130 coding, 131-140 extraction,
  141-150 stem, 151-160 humanities).

:func:`evaluate_pairs` takes any scoring callable (conversations -> rewards), so everything but the model
is testable without one; the CLI loads a trained RM folder (``preftree.train.reward.load_reward_model``,
as ``rerank`` does)::

    python -m preftree.evaluate.rm_bench --rm models/rm/bt_dr --layout rewardbench --path filtered.parquet
    python -m preftree.evaluate.rm_bench --rm models/rm/bt_dr --layout mtbench \\
        --path lmsys/mt_bench_human_judgments --split human --out metrics/rm_mtbench.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preftree.evaluate.items import BenchmarkFormatError
from preftree.evaluate.loaders import Row, field_value, nonempty_field, read_records, str_field

Messages = list[dict[str, str]]
Scorer = Callable[[Sequence[Messages]], Sequence[float]]  # conversations -> one reward each

LAYOUTS = ("rewardbench", "mtbench")
HF_DEFAULTS = {
    "rewardbench": ("allenai/reward-bench", "filtered"),
    "mtbench": ("lmsys/mt_bench_human_judgments", "human"),
}

# RewardBench (allenai/reward-bench, rewardbench/constants.py): examples per subset, the section weights
EXAMPLE_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28,
    "mt-bench-med": 40, "mt-bench-hard": 37, "llmbar-natural": 100, "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46, "refusals-dangerous": 100,
    "refusals-offensive": 100, "xstest-should-refuse": 154, "xstest-should-respond": 250, "donotanswer": 136,
    "math-prm": 984, "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164,
    "hep-rust": 164,
}  # fmt: skip
SECTIONS: dict[str, tuple[str, ...]] = {
    "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "Chat Hard": ("mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"),
    "Safety": ("refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
               "donotanswer"),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}  # fmt: skip
MTBENCH_CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


@dataclass(frozen=True)
class Pair:
    id: str
    subsets: tuple[str, ...]  # every subset the pair counts in
    chosen: Messages
    rejected: Messages


# ----------------------------------------------------------------------------- layouts


def rewardbench_pairs(rows: Sequence[Row], source: str) -> list[Pair]:
    pairs = []
    for i, row in enumerate(rows):
        prompt = nonempty_field(row, "prompt", source, i)
        user = {"role": "user", "content": prompt}
        pairs.append(
            Pair(
                id=str(field_value(row, "id", source, i, default=i)),
                subsets=(nonempty_field(row, "subset", source, i),),
                chosen=[user, {"role": "assistant", "content": str_field(row, "chosen", source, i)}],
                rejected=[user, {"role": "assistant", "content": str_field(row, "rejected", source, i)}],
            )
        )
    return pairs


def _conversation(row: Row, key: str, turn: int, source: str, i: int) -> Messages:
    value = field_value(row, key, source, i)
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list) or not all(isinstance(m, Mapping) for m in value):
        raise BenchmarkFormatError(source, i, key, "expected a list of {role, content} messages")
    messages = [{"role": str(m.get("role")), "content": str(m.get("content"))} for m in value[: 2 * turn]]
    if len(messages) < 2 * turn or messages[-1]["role"] != "assistant":
        raise BenchmarkFormatError(source, i, key, f"turn {turn} needs {2 * turn} messages ending with the assistant's")
    return messages


def mtbench_category(question_id: int) -> str:
    """MT-Bench's category of a question id (81-160, ten per category)."""
    index = (question_id - 81) // 10
    return MTBENCH_CATEGORIES[index] if 0 <= index < len(MTBENCH_CATEGORIES) else "other"


def mtbench_pairs(rows: Sequence[Row], source: str) -> tuple[list[Pair], int]:
    """(pairs, judgements excluded as ties)."""
    pairs, ties = [], 0
    for i, row in enumerate(rows):
        winner = nonempty_field(row, "winner", source, i).strip()
        if winner.startswith("tie"):
            ties += 1
            continue
        if winner not in ("model_a", "model_b"):
            raise BenchmarkFormatError(source, i, "winner", f"{winner!r} is not model_a, model_b or a tie")
        turn = int(field_value(row, "turn", source, i))
        if turn not in (1, 2):
            raise BenchmarkFormatError(source, i, "turn", f"{turn} is not 1 or 2")
        a = _conversation(row, "conversation_a", turn, source, i)
        b = _conversation(row, "conversation_b", turn, source, i)
        qid = int(field_value(row, "question_id", source, i))
        chosen, rejected = (a, b) if winner == "model_a" else (b, a)
        key = f"{qid}/{row.get('model_a')}/{row.get('model_b')}/{row.get('judge')}/{turn}"
        pairs.append(Pair(key, (f"turn{turn}", mtbench_category(qid)), chosen, rejected))
    return pairs, ties


# ----------------------------------------------------------------------------- scoring


def wins(pairs: Sequence[Pair], scorer: Scorer) -> list[bool]:
    """Whether each pair's chosen conversation gets the strictly higher reward (one scorer call)."""
    rewards = list(scorer([p.chosen for p in pairs] + [p.rejected for p in pairs]))
    if len(rewards) != 2 * len(pairs):
        raise ValueError(f"the scorer returned {len(rewards)} rewards for {2 * len(pairs)} conversations")
    n = len(pairs)
    return [float(rewards[k]) > float(rewards[n + k]) for k in range(n)]


def accuracy_by_subset(pairs: Sequence[Pair], won: Sequence[bool]) -> dict[str, dict[str, float | int]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for pair, w in zip(pairs, won, strict=True):
        for subset in pair.subsets:
            groups[subset].append(w)
    return {s: {"accuracy": sum(v) / len(v), "n": len(v)} for s, v in sorted(groups.items())}


def rewardbench_sections(subsets: Mapping[str, Mapping[str, float | int]]) -> dict[str, Any]:
    """Section scores (EXAMPLE_COUNTS-weighted over the subsets present), their mean, and completeness."""
    sections: dict[str, Any] = {}
    for name, members in SECTIONS.items():
        present = [m for m in members if m in subsets]
        if not present:
            continue
        weight = sum(EXAMPLE_COUNTS[m] for m in present)
        score = sum(float(subsets[m]["accuracy"]) * EXAMPLE_COUNTS[m] for m in present) / weight
        sections[name] = {"score": score, "subsets": len(present), "complete": len(present) == len(members)}
    complete = len(sections) == len(SECTIONS) and all(s["complete"] for s in sections.values())
    average = sum(s["score"] for s in sections.values()) / len(sections) if sections else None
    return {"sections": sections, "average": average, "complete": complete}


def evaluate_pairs(layout: str, rows: Sequence[Row], source: str, scorer: Scorer) -> dict[str, Any]:
    """The metrics of one benchmark file: accuracy overall and by subset (+ RewardBench's sections)."""
    if layout == "rewardbench":
        pairs, ties = rewardbench_pairs(rows, source), 0
    elif layout == "mtbench":
        pairs, ties = mtbench_pairs(rows, source)
    else:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if not pairs:
        raise ValueError(f"{source}: no pairs to score")
    won = wins(pairs, scorer)
    subsets = accuracy_by_subset(pairs, won)
    out: dict[str, Any] = {
        "layout": layout,
        "source": source,
        "pairs": len(pairs),
        "accuracy": sum(won) / len(won),
        "subsets": subsets,
    }
    if layout == "rewardbench":
        out |= rewardbench_sections(subsets)
    else:
        out["ties_excluded"] = ties
    return out


def read_rows(layout: str, path_or_hf_id: str, *, split: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows of a local file, else (when no such path exists) of a Hugging Face dataset."""
    path = Path(path_or_hf_id).expanduser()
    if path.exists():
        return read_records(path), str(path)
    if path_or_hf_id.startswith((".", "/", "~")) or path.suffix:
        raise FileNotFoundError(f"{layout}: file not found: {path_or_hf_id}")
    import datasets

    default_split = HF_DEFAULTS[layout][1]
    ds = datasets.load_dataset(path_or_hf_id, split=split or default_split)
    return [dict(r) for r in ds], f"hf:{path_or_hf_id}"


def rm_scorer(folder: str | Path, *, device: str = "cpu", batch_size: int = 8) -> Scorer:
    """Rewards from a trained reward-model folder (as ``rerank`` loads one)."""
    import torch

    from preftree.train.reward import load_reward_model, reward_scores

    model, tokenizer = load_reward_model(Path(folder), dtype=torch.float32 if device == "cpu" else torch.bfloat16)
    model.to(device)

    def score(conversations: Sequence[Messages]) -> list[float]:
        return [float(v) for v in reward_scores(model, tokenizer, list(conversations), batch_size=batch_size)]

    return score


def render(metrics: Mapping[str, Any]) -> str:
    lines = [f"{metrics['layout']} {metrics['source']}: {metrics['pairs']} pairs, accuracy {metrics['accuracy']:.3f}"]
    for name, entry in metrics.get("sections", {}).items():
        lines.append(f"  {name:10s} {entry['score']:.3f} ({entry['subsets']} subsets)")
    if metrics.get("average") is not None:
        lines.append(f"  {'average':10s} {metrics['average']:.3f}{'' if metrics['complete'] else ' (incomplete)'}")
    if "ties_excluded" in metrics:
        lines.append(f"  ties excluded: {metrics['ties_excluded']}")
    lines += [f"  {s:24s} {e['accuracy']:.3f} (n={e['n']})" for s, e in metrics["subsets"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pairwise accuracy of a reward model on RewardBench / MT-Bench.")
    parser.add_argument("--rm", required=True, help="a trained reward-model folder (models/rm/<key>)")
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--path", required=True, help="a local file, or a Hugging Face dataset id")
    parser.add_argument("--split", default=None, help="HF split (default: filtered / human)")
    parser.add_argument("--limit", type=int, default=None, help="the first N rows only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    rows, source = read_rows(args.layout, args.path, split=args.split)
    rows = rows[: args.limit] if args.limit else rows
    metrics = evaluate_pairs(
        args.layout, rows, source, rm_scorer(args.rm, device=args.device, batch_size=args.batch_size)
    )
    metrics["rm"] = str(args.rm)
    print(render(metrics))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
