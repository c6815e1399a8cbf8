"""The benchmark registry and ``load_benchmark(name, path_or_hf_id, limit=None)``.

Each :class:`BenchmarkSpec` carries the benchmark's protocol as the official Eurus evaluation code
runs it (github.com/OpenBMB/Eurus, ``eval/``; paper §4, App. C): new tokens per prompt style, stop
strings, the assistant prefill, the PoT prompt's shape, how the program is read from a code response
and how it is run, the sandbox timeout, the paper's column it fills, and every remaining departure
from the official code (``departures``; the report prints them under Table 3). Execution timeouts:
HumanEval / MBPP 3 s, LeetCode 10 s, program-of-thought 5 s, MINT's code tasks 10 s. The full
side-by-side table: docs/evaluation-protocol.md.

``hf_id`` / ``hf_config`` / ``hf_split`` are the defaults used when ``path_or_hf_id`` is not a local
file (``datasets.load_dataset``; nothing bundled with the project is needed at run time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from preftree.evaluate import loaders
from preftree.evaluate.ifeval_loader import parse_ifeval
from preftree.evaluate.items import Item
from preftree.evaluate.loaders_bbh import parse_bbh
from preftree.evaluate.loaders_code import parse_humaneval, parse_leetcode, parse_mbpp, parse_mbpp_eurus
from preftree.evaluate.loaders_math import (
    parse_asdiv,
    parse_gsm8k,
    parse_gsm_plus,
    parse_math,
    parse_svamp,
    parse_theoremqa,
)
from preftree.evaluate.loaders_mint import parse_mint_code, parse_mint_mmlu, parse_mint_reasoning, parse_mint_theoremqa
from preftree.evaluate.loaders_tiny import parse_tiny

Loader = Callable[[Sequence[loaders.Row], str], list[Item]]
_FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".parquet")
Extraction = Literal["first_fence", "last_fence"]
Harness = Literal["plain", "mbpp"]


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    loader: Loader  # rows -> items
    kind: str  # the scorer: an Item kind (see preftree.evaluate.items)
    family: str  # Coding | Math | Reasoning | (tiny: per record)
    timeout_s: float  # sandbox wall clock for code / PoT programs
    modes: tuple[str, ...]  # prompt styles the runner evaluates (math: cot and pot, the better is reported)
    hf_id: str | None = None
    hf_config: str | None = None
    hf_split: str = "test"
    description: str = ""
    # --- the protocol (the official code's settings; docs/evaluation-protocol.md) ---
    max_new_tokens: dict[str, int] = field(default_factory=dict, hash=False)  # prompt style -> new tokens
    stop: tuple[str, ...] = ()  # stop strings of every request (cut before them)
    stop_print_entry: bool = False  # also stop at "\n\nprint(<the item's entry point>" (MBPP)
    prefill: str = ""  # the assistant turn starts with this text; the scored response is prefill + continuation
    pot_system: bool = False  # PoT prompt = the tool text as a system message + the CoT prompt as the user's
    extraction: Extraction = "last_fence"  # code items: which fenced block is the program
    harness: Harness = "plain"  # code items: "mbpp" = the official MBPP harness (stripping, namespace)
    column: str = ""  # the report's column for this data ("" = the name)
    rows: int | None = None  # rows of the complete set; the report labels a partial run with its size
    official: str = ""  # the official code this follows (a path under OpenBMB/Eurus eval/, or another repository)
    departures: tuple[str, ...] = ()  # every remaining difference from the official code, and why


def _spec(name: str, loader: Loader, kind: str, family: str, timeout_s: float, **kw: Any) -> BenchmarkSpec:
    modes = ("cot", "pot") if kind in ("math", "numeric", "theoremqa") else ("cot",)
    kw.setdefault("max_new_tokens", {"cot": 1024, "pot": 2048} if len(modes) == 2 else {"cot": 1024})
    return BenchmarkSpec(name, functools.partial(loader, benchmark=name), kind, family, timeout_s, modes, **kw)


# Official settings (OpenBMB/Eurus @ fd72db1, eval/): the departures every benchmark of a group shares.
MATH_STOP = ("\n###\nProblem: ",)
_GREEDY = (
    "decoding is greedy (the maintainers' statement, OpenBMB/Eurus issue #2), where the script's default "
    "temperature is 0.2"
)
_POT = (
    "PoT: the official code runs every code block as a separate fresh process and reads the whole stdout of "
    "the last block; here the blocks run as one notebook-style program (the prompt promises a stateful "
    "notebook) and the answer is its last stdout line",
    "PoT: the official executor collects results in completion order (as_completed), so answers drift to other "
    "problems (OpenBMB/Eurus issue #14); here each answer stays with its problem (the correct behaviour kept)",
)
_CHECKER = (
    "answers are compared by preftree.answers.check, not the official grader (docs/evaluation-protocol.md, Answers)"
)
_SUBSET = (
    *_POT,
    _CHECKER,
    "PoT: a chat template without a system role gets the tool text folded into the user turn with a blank line; "
    "the official code concatenates the two texts with no separator",
)
_MBPP = (
    "prompt: the signature shown is the tested function's (the one the first assert calls); the official code "
    "shows the reference's first def, and its lstrip('def ') also drops leading d/e/f letters of the name",
    "stop: \\n\\nprint(<this item's function>; the official code stops every item at the print of any function "
    "of the whole file (the stop list grows over the dataset), so it depends on which rows are loaded",
    "program: prefill + continuation always; the official code prepends 'def' only when the completion lacks "
    "the substring 'def', so a solution using defaultdict or a nested def loses its def line and fails",
)
_MINT = (
    "single turn: preftree's prompt for the task kind, not MINT's; multi-turn: eval.multiturn.protocol=mint runs "
    "MINT's own protocol (preftree.evaluate.mint: its prompts, two proposals, 512 tokens; departures in "
    "docs/evaluation-protocol.md#multi-turn-mint), protocol=feedback preftree's loop (up to max_turns full answers)",
)

_BBH_SHOTS = (
    "prompt: the three examples and the question in one user message after Eurus's instruction; "
    "the official code gives each example as a user turn and an assistant turn"
)

_SPECS: list[BenchmarkSpec] = [
    _spec("humaneval", parse_humaneval, "code", "Coding", 3.0, hf_id="openai_humaneval",
          description="HumanEval (164), pass@1, 3 s",
          max_new_tokens={"cot": 1024}, prefill=" ```python\ndef", extraction="first_fence", column="HumanE",
          rows=164, official="eval/Coding/human_eval/evaluate_human_eval.py",
          departures=(_GREEDY,)),
    _spec("mbpp", parse_mbpp, "code", "Coding", 3.0, hf_id="mbpp", hf_config="full",
          description="MBPP full schema (974 rows; test split = task_id 11-510), 3 s",
          max_new_tokens={"cot": 512}, stop=("\nassert", "assert", "\ndef "), stop_print_entry=True,
          prefill="```python\ndef", extraction="first_fence", harness="mbpp", column="MBPP (full)",
          official="eval/Coding/mbpp/evaluate_mbpp.py (run on the full MBPP data)",
          departures=("data: full MBPP, not the paper's 399-row set (mbpp_eurus); test_setup_code runs before "
                      "the asserts (two tasks build their inputs with it)", *_MBPP)),
    _spec("mbpp_eurus", parse_mbpp_eurus, "code", "Coding", 3.0,
          description="Eurus's 399-row sanitized MBPP (new_mbpp.json), 3 s",
          max_new_tokens={"cot": 512}, stop=("\nassert", "assert", "\ndef "), stop_print_entry=True,
          prefill="```python\ndef", extraction="first_fence", harness="mbpp", column="MBPP", rows=399,
          official="eval/Coding/mbpp/evaluate_mbpp.py",
          departures=(*_MBPP, "test_imports (import math, 10 rows) run before the asserts; the official harness "
                      "never runs them, so those rows' math.isclose asserts fail whatever the answer (a defect: "
                      "the correct behaviour is kept)")),
    _spec("leetcode", parse_leetcode, "code", "Coding", 10.0,
          description="LeetCode contest problems as Eurus ships them (180), 10 s",
          max_new_tokens={"cot": 1024}, prefill="```python", extraction="first_fence", column="LeetC", rows=180,
          official="eval/Coding/leetcode/evaluate_leetcode.py, test.py, evaluation.py",
          departures=(
              "program: the prefilled block; the official match_code searches the continuation only, so a later "
              "```python block (or the prose between two fences) replaces the prefilled code",
          )),
    _spec("gsm8k", parse_gsm8k, "numeric", "Math", 5.0, hf_id="openai/gsm8k", hf_config="main",
          description="GSM8K test (1,319)", stop=MATH_STOP, pot_system=True, column="GSM8K", rows=1319,
          official="eval/Math/subset/evaluate_subset_{cot,pot}.py (the settings of its GSM-Plus run)",
          departures=("not a Table 3 column: the paper reports GSM8K in Table 5 and Figure 4 only", *_SUBSET)),
    _spec("svamp", parse_svamp, "numeric", "Math", 5.0, description="SVAMP (1,000)", stop=MATH_STOP,
          pot_system=True, column="SVAMP", rows=1000, official="eval/Math/subset/evaluate_subset_{cot,pot}.py",
          departures=_SUBSET),
    _spec("math", parse_math, "math", "Math", 5.0, description="MATH test (also PRIME's column JSON)",
          stop=MATH_STOP, column="MATH", rows=5000, official="eval/Math/math/evaluate_math_{cot,pot}.py",
          departures=(*_POT, _CHECKER)),
    _spec("math500", parse_math, "math", "Math", 5.0, hf_id="HuggingFaceH4/MATH-500",
          description="MATH-500 (500)", stop=MATH_STOP, column="MATH-500", rows=500,
          official="eval/Math/math/evaluate_math_{cot,pot}.py (run on MATH-500)",
          departures=("data: MATH-500, not the MATH test set the paper reports (its column MATH)", *_POT, _CHECKER)),
    _spec("theoremqa", parse_theoremqa, "theoremqa", "Math", 5.0, description="TheoremQA (800), 4% tolerance",
          max_new_tokens={"cot": 1024, "pot": 1024}, stop=("Question:",), column="TheoQA", rows=800,
          official="eval/Math/theorem_qa/evaluate_theorem_qa_{cot,pot}.py", departures=(*_POT, _CHECKER)),
    _spec("asdiv", parse_asdiv, "numeric", "Math", 5.0, description="ASDiv, Lila layout, split == test (618)",
          stop=MATH_STOP, pot_system=True, column="ASDiv", rows=618,
          official="eval/Math/subset/evaluate_subset_{cot,pot}.py", departures=_SUBSET),
    _spec("gsm_plus", parse_gsm_plus, "numeric", "Math", 5.0, description="GSM-Plus perturbations",
          stop=MATH_STOP, pot_system=True, column="GSM+",
          official="eval/Math/subset/evaluate_subset_{cot,pot}.py", departures=_SUBSET),
    _spec("mint_humaneval", parse_mint_code, "code", "Coding", 10.0, description="MINT HumanEval (45)",
          max_new_tokens={"cot": 512}, column="MINT HumanEval", rows=45, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("mint_mbpp", parse_mint_code, "code", "Coding", 10.0, description="MINT MBPP (91)",
          max_new_tokens={"cot": 512}, column="MINT MBPP", rows=91, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("mint_gsm8k", parse_mint_reasoning, "numeric", "Math", 5.0, description="MINT GSM8K (48)",
          max_new_tokens={"cot": 512, "pot": 512}, column="MINT GSM8K", rows=48, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("mint_math", parse_mint_reasoning, "numeric", "Math", 5.0, description="MINT MATH (100)",
          max_new_tokens={"cot": 512, "pot": 512}, column="MINT MATH", rows=100, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("mint_theoremqa", parse_mint_theoremqa, "theoremqa", "Math", 5.0, description="MINT TheoremQA (49)",
          max_new_tokens={"cot": 512, "pot": 512}, column="MINT TheoremQA", rows=49,
          official="xingyaoww/mint-bench", departures=_MINT),
    _spec("mint_mmlu", parse_mint_mmlu, "multiple-choice", "Math", 5.0, description="MINT MMLU math (76)",
          max_new_tokens={"cot": 512}, column="MINT MMLU", rows=76, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("mint_hotpotqa", parse_mint_reasoning, "text", "Reasoning", 5.0, description="MINT HotpotQA (43)",
          max_new_tokens={"cot": 512}, column="MINT HotpotQA", rows=43, official="xingyaoww/mint-bench",
          departures=_MINT),
    _spec("tiny", parse_tiny, "tiny", "tiny", 5.0, description="the tiny world's held-out set",
          max_new_tokens={"cot": 256}, column="Tiny"),
    # issue #15 item 5: BBH (3-shot CoT) and IFEval (prompt-level loose); docs/evaluation-protocol.md#bbh, #ifeval
    _spec("bbh", parse_bbh, "bbh", "Reasoning", 5.0, max_new_tokens={"cot": 2048}, stop=("\nQ:",),
          description="BIG-Bench Hard, 27 tasks (6,511), 3-shot CoT; exact match after the last 'So the answer is'",
          column="BBH (exact match)", rows=6511, official="eval/Reasoning/bbh/evaluate_bbh.py --is_cot",
          departures=(_BBH_SHOTS, "answer: the text after the last 'So the answer is' must equal the target (the BBH "
                      "authors' rule); the official code counts the target as a substring of the generation before "
                      "'Q:' (benchmark bbh_eurus)")),
    _spec("bbh_eurus", parse_bbh, "bbh", "Reasoning", 5.0, max_new_tokens={"cot": 2048}, stop=("\nQ:",),
          description="BIG-Bench Hard scored by Eurus's rule: the target is a substring of the generation before 'Q:'",
          column="BBH", rows=6511, official="eval/Reasoning/bbh/evaluate_bbh.py --is_cot",
          departures=(_BBH_SHOTS,)),
    _spec("ifeval", parse_ifeval, "ifeval", "Instruction", 5.0, hf_id="google/IFEval", hf_split="train",
          max_new_tokens={"cot": 1024}, stop=("Question:",), column="IFEval", rows=541,
          description="IFEval (541 prompts), prompt-level loose accuracy",
          official="eval/Ins-Following/if_eval/ (evaluate_if_eval.py, evaluation_main.py)",
          departures=("decoding: greedy; the official script samples at temperature 0.7 (1.0 before Eurus 69d06cb)",
                      "checks: preftree.evaluate.ifeval, not Google's code (no offline package runs it): "
                      "number_sentences counts with a rule-based splitter instead of NLTK punkt, and "
                      "capital_word_frequency reads words by regex instead of NLTK word_tokenize")),
]  # fmt: skip
BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in _SPECS}

# Eurus's MINT subsets: code = HumanEval + MBPP (136), math = MATH + TheoremQA + MMLU (225).
MINT_CODE = ("mint_humaneval", "mint_mbpp")
MINT_MATH = ("mint_math", "mint_theoremqa", "mint_mmlu")


def official_max_new_tokens(name: str, mode: str) -> int:
    """The official new-token budget of benchmark ``name`` for prompt style ``mode`` (cot | pot)."""
    spec = BENCHMARKS[name]
    budget = spec.max_new_tokens.get(mode, spec.max_new_tokens.get("cot"))
    if budget is None:
        raise ValueError(f"benchmark {name}: the registry sets no max_new_tokens for prompt style {mode!r}")
    return budget


def max_new_tokens_for(name: str, mode: str, cap: int | None = None) -> int:
    """The budget a request gets: the official one, lowered to ``cap`` when a cap is set
    (``eval.generation.max_new_tokens``; null = the official budget)."""
    official = official_max_new_tokens(name, mode)
    return official if cap is None else min(official, cap)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(_FILE_SUFFIXES) or "\\" in text


def _hf_rows(spec: BenchmarkSpec, hf_id: str, config: str | None, split: str | None) -> list[dict[str, Any]]:
    import datasets

    ds = datasets.load_dataset(hf_id, config or (spec.hf_config if hf_id == spec.hf_id else None),
                               split=split or spec.hf_split)  # fmt: skip
    return [dict(row) for row in ds]


def load_benchmark(
    name: str,
    path_or_hf_id: str | Path | None = None,
    limit: int | None = None,
    *,
    config: str | None = None,
    split: str | None = None,
) -> list[Item]:
    """Items of benchmark ``name`` from a local file, else (only when no such path exists) a Hugging Face
    dataset id (``datasets.load_dataset(id, config, split=split)``; default: the spec's ``hf_id``).
    ``limit`` keeps the first N items. Something that looks like a file path but does not exist is a
    FileNotFoundError, never a download attempt."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    spec = BENCHMARKS[name]
    target = str(path_or_hf_id) if path_or_hf_id is not None else spec.hf_id
    if target is None:
        raise ValueError(f"{name}: no path given and no default Hugging Face dataset id")
    path = Path(target).expanduser()
    if path.exists():
        rows: list[Any] = loaders.read_records(path)
        source = str(path)
    elif _looks_like_path(target):
        raise FileNotFoundError(f"{name}: benchmark file not found: {target}")
    else:
        rows = _hf_rows(spec, target, config, split)
        source = f"hf:{target}"
    items = spec.loader(rows, source)
    return items[:limit] if limit is not None else items
