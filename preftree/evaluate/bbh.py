"""BIG-Bench Hard (Suzgun et al. 2022) with 3-shot chain-of-thought prompts, as the paper reports it
(paper §4, Table 3 "BBH"): the prompt and the two answer rules.

* :func:`bbh_prompt`: a task's CoT prompt file (the BBH repository's ``cot-prompts/<task>.txt``: a canary
  header, ``-----``, the task instruction and three ``Q: ... A: Let's think step by step. ... So the
  answer is X.`` examples) followed by ``Q: <input>`` and ``A: Let's think step by step.``, after the
  instruction Eurus's ``evaluate_bbh.py`` adds ("Follow the given examples and answer the question.").
* ``exact`` (benchmark ``bbh``; the BBH authors' rule): the answer is the text after the last "So the
  answer is" (cut at a following ``"\\nQ:"``), stripped, one trailing period removed; correct when it
  equals the target exactly.
* ``substring`` (benchmark ``bbh_eurus``; Eurus's ``evaluate_bbh.py --is_cot``, the rule behind Table
  3's column): the generation up to its first ``"Q:"``, stripped; correct when it contains the target.
"""

from __future__ import annotations

INSTRUCTION = "Follow the given examples and answer the question.\n\n"  # Eurus's evaluate_bbh.py
ANSWER_MARK = "So the answer is"
COT_CUE = "A: Let's think step by step."
RULES = ("exact", "substring")


def strip_canary(cot_prompt: str) -> str:
    """The CoT prompt without the BBH files' canary header (everything up to a ``-----`` line)."""
    head, sep, rest = cot_prompt.partition("\n-----\n")
    return rest.strip() if sep and "canary" in head.lower() else cot_prompt.strip()


def question_text(cot_prompt: str, question: str) -> str:
    """The few-shot text with the question appended, as the BBH repository builds it."""
    return f"{strip_canary(cot_prompt)}\n\nQ: {question}\n{COT_CUE}"


def bbh_prompt(text: str) -> str:
    """The user message for a few-shot text that ends with the question and the CoT cue."""
    return INSTRUCTION + text


def bbh_answer(response: str) -> str | None:
    """The text after the last "So the answer is" (before any following ``"\\nQ:"``), stripped, with one
    trailing period removed; None when the response never says it."""
    body = response.split("\nQ:")[0]
    at = body.rfind(ANSWER_MARK)
    if at < 0:
        return None
    answer = body[at + len(ANSWER_MARK) :].strip()
    return answer[:-1].strip() if answer.endswith(".") else answer


def bbh_match(response: str, target: str, rule: str = "exact") -> tuple[bool, str | None]:
    """(correct, the answer read) under ``rule``: ``exact`` or Eurus's ``substring``."""
    if rule == "exact":
        answer = bbh_answer(response)
        return answer is not None and answer == target.strip(), answer
    if rule == "substring":
        head = response.lstrip().split("Q:")[0].strip()
        return target.strip() in head, bbh_answer(response)
    raise ValueError(f"unknown BBH rule {rule!r}; known: {', '.join(RULES)}")
