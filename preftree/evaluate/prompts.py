"""0-shot prompts, following Eurus's evaluation prompts (paper §4, App. C; the official evaluation code).

Eurus also *prefills* the assistant turn (HumanEval ``" ```python\\ndef"``, MBPP ``"```python\\ndef"``,
LeetCode ``"```python"``). The ``generate`` protocol of ``preftree.evaluate.runner`` takes chat
messages only, so no prefill is applied; the scorers accept a full fenced program instead.
"""

from __future__ import annotations

import ast
import re

from preftree.schema import INSTRUCTION_PREFIXES

CODE_PREFIX = INSTRUCTION_PREFIXES["Coding"]  # "Write Python code to solve the task.\n"
COT_PREFIX = INSTRUCTION_PREFIXES["Math_CoT"]
# Eurus's PoT prompt: the UltraInteract Math_PoT prefix with " Present code in ```python```" appended
# to the notebook sentence.
POT_PREFIX = INSTRUCTION_PREFIXES["Math_PoT"].replace(
    "Jupyter notebook environment.\n", "Jupyter notebook environment. Present code in ```python```\n"
)
THEOREMQA_POT_FORMS = (
    "The final answer must be printed as one of: an integer, a float, a list of integers or floats "
    "such as [1, 2.5], True/False, or an option such as (a).\n"
)


def signature(source: str, name: str | None) -> str | None:
    """``name(args) -> ret`` of function ``name`` defined in ``source`` (the first def when name is None)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _signature_regex(source, name)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (name is None or node.name == name):
            sig = f"{node.name}({ast.unparse(node.args)})"
            if node.returns is not None:
                sig += f" -> {ast.unparse(node.returns)}"
            return sig
    return None


def _signature_regex(source: str, name: str | None) -> str | None:
    head = re.escape(name) if name else r"\w+"
    pattern = r"^\s*def\s+(" + head + r"\s*\(.*?\)\s*(?:->\s*[^:]+)?):"
    m = re.search(pattern, source, re.MULTILINE | re.DOTALL)
    return re.sub(r"\s+", " ", m.group(1)).strip() if m else None


def humaneval_prompt(prompt: str, entry_point: str) -> str:
    """Eurus P1: the HumanEval stub inside a python fence, after the function's signature."""
    sig = signature(prompt, entry_point) or entry_point
    return (
        f"{CODE_PREFIX}Write a Python function `{sig}` to solve the following problem: "
        f"Present code in ```python```\n```python\n{prompt}```\n"
    )


def mbpp_prompt(description: str, first_test: str, sig: str | None) -> str:
    """Eurus P2: the description and the first assert, after the function's signature."""
    head = f"Write a Python function `{sig}` to solve the following problem: " if sig else ""
    return f"{CODE_PREFIX}{head}Present code in ```python```\n{description.strip()}\n>>> {first_test.strip()}\n"


def leetcode_prompt(prompt: str) -> str:
    """LeetCode: Eurus sends the dataset's own prompt (problem + ``class Solution`` stub) unchanged."""
    return prompt


def math_prompts(question: str) -> tuple[str, str]:
    """(CoT, PoT) prompts for a math question."""
    q = question.strip()
    return COT_PREFIX + q, POT_PREFIX + q


def theoremqa_prompts(question: str) -> tuple[str, str]:
    """TheoremQA: ``"Question: {Q}"`` after the CoT prefix; the PoT prompt lists the allowed answer forms."""
    q = f"Question: {question.strip()}"
    return COT_PREFIX + q, POT_PREFIX + THEOREMQA_POT_FORMS + q


def multiple_choice_prompt(question: str) -> str:
    """MINT MMLU: the question with its ``Options: A ) ...`` line; the answer is an option letter."""
    return (
        "Solve the following problem step-by-step.\nPresent your final answer as the option letter, "
        f"e.g. \\boxed{{A}}.\n{question.strip()}"
    )


def text_prompt(question: str) -> str:
    """MINT HotpotQA (no search tool): answer in a few words."""
    return f"Solve the following problem step-by-step.\nEnd with 'Answer: <your short answer>'.\n{question.strip()}"
