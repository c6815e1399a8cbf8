"""Write BIG-Bench Hard as one JSONL file the ``bbh`` / ``bbh_eurus`` benchmarks read (one row per example:
``task, input, target, cot_prompt``), from the BBH repository's folders or the ``lukaemon/bbh`` dataset::

    python -m preftree.evaluate.bbh_file ../shared/benchmarks/bbh --out data/bbh.jsonl
    python -m preftree.evaluate.bbh_file lukaemon/bbh --prompts BIG-Bench-Hard/cot-prompts --out data/bbh.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from preftree.evaluate.loaders_bbh import read_bbh


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write BBH as one JSONL file the bbh benchmark reads.")
    parser.add_argument("source", help="the BBH repository's data folder / a task file / a HF id (lukaemon/bbh)")
    parser.add_argument("--prompts", default=None, help="the cot-prompts folder (default: beside the data)")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks")
    parser.add_argument("--out", required=True, help="the JSONL file to write")
    args = parser.parse_args(argv)
    rows = read_bbh(args.source, prompts_dir=args.prompts, tasks=args.tasks)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows of {len({r['task'] for r in rows})} tasks to {out}")


if __name__ == "__main__":
    main()
