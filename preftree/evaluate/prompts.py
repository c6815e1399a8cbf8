"""0-shot prompts, following Eurus's evaluation prompts (paper §4, App. C; the official evaluation code).

Eurus also *prefills* the assistant turn (HumanEval ``" ```python\\ndef"``, MBPP ``"```python\\ndef"``,
LeetCode ``"```python"``): that text is the benchmark's ``prefill`` in ``preftree.evaluate.registry``,
sent as a trailing assistant message that the engine continues; the scored response is the prefill
followed by the continuation. The subset benchmarks' PoT prompt (GSM-Plus, SVAMP, ASDiv) is
:data:`SUBSET_POT_SYSTEM` as a system message followed by the CoT prompt (registry ``pot_system``).
"""

from __future__ import annotations

import ast
import re

from preftree.schema import INSTRUCTION_PREFIXES

CODE_PREFIX = INSTRUCTION_PREFIXES["Coding"]  # "Write Python code to solve the task.\n"
COT_PREFIX = INSTRUCTION_PREFIXES["Math_CoT"]
_NOTEBOOK = "Jupyter notebook environment.\n"
TOOL_TEXT = INSTRUCTION_PREFIXES["Math_PoT"][: INSTRUCTION_PREFIXES["Math_PoT"].index(_NOTEBOOK) + len(_NOTEBOOK)]
# Eurus's PoT prompt: the UltraInteract Math_PoT prefix with " Present code in ```python```" appended
# to the notebook sentence.
POT_PREFIX = INSTRUCTION_PREFIXES["Math_PoT"].replace(
    _NOTEBOOK, "Jupyter notebook environment. Present code in ```python```\n"
)
# GSM-Plus / SVAMP / ASDiv PoT: this as the system message, the CoT prompt as the user's.
SUBSET_POT_SYSTEM = TOOL_TEXT.replace(_NOTEBOOK, "Jupyter notebook environment. Present code in ```python```\n")
# TheoremQA PoT: the tool text (without "Present code ..."), then the allowed answer forms.
THEOREMQA_POT_FORMS = (
    "Solve the following math problem step-by-step.\nSimplify your answer as much as possible. "
    "The answer can only be one of the following forms:\n1. a numerical value like 0.1, no symbol at all.\n"
    "2. a list of number like [2, 3, 4].\n3. True/False.\n4. an option like (a), (b), (c), (d)\n\n"
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
    """Eurus P2: the description (cut before a " https://www." link, as Eurus does) and the first assert,
    after the function's signature."""
    head = f"Write a Python function `{sig}` to solve the following problem: " if sig else ""
    text = description.split(" https://www.")[0].strip()
    return f"{CODE_PREFIX}{head}Present code in ```python```\n{text}\n>>> {first_test.strip()}\n"


def leetcode_prompt(prompt: str) -> str:
    """LeetCode: Eurus sends the dataset's own prompt (problem + ``class Solution`` stub) unchanged."""
    return prompt


def math_prompts(question: str) -> tuple[str, str]:
    """(CoT, PoT) prompts for a math question."""
    q = question.strip()
    return COT_PREFIX + q, POT_PREFIX + q


def theoremqa_prompts(question: str) -> tuple[str, str]:
    """TheoremQA: ``"Question: {Q}"`` after the CoT prefix; the PoT prompt is the tool text and the allowed
    answer forms (Eurus's TheoremQA PoT prompt does not ask for a python fence)."""
    q = f"Question: {question.strip()}"
    return COT_PREFIX + q, TOOL_TEXT + THEOREMQA_POT_FORMS + q


def multiple_choice_prompt(question: str) -> str:
    """MINT MMLU: the question with its ``Options: A ) ...`` line; the answer is an option letter."""
    return (
        "Solve the following problem step-by-step.\nPresent your final answer as the option letter, "
        f"e.g. \\boxed{{A}}.\n{question.strip()}"
    )


def text_prompt(question: str) -> str:
    """MINT HotpotQA (no search tool): answer in a few words."""
    return f"Solve the following problem step-by-step.\nEnd with 'Answer: <your short answer>'.\n{question.strip()}"
