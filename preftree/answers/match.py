"""The hand-written answer equivalence: the fast path of the one answer checker
(``preftree.answers.check``) and the gsm-style base of the benchmark checkers (``preftree.answers.bench``).

``answers_match`` compares a stated answer with the ground truth numerically (thousands separators,
fractions, ``\\frac`` / ``\\dfrac``, percentages, currency, a leading ``x =``, unit words after the
number), element-wise for tuples / lists, else as normalised strings. ``matches_gold`` accepts several
gold answers in any order (WikiTableQuestions). Logic: the option letter an action picks
(``logic_answer``, also by the option's text) and HotpotQA's normalisation for free-text answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from preftree.answers.core import canonical_number, last_boxed
from preftree.answers.extract import answer_line, extract_answer

_TEXT_CMDS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_NUMPY_WRAP = re.compile(r"^(?:np|numpy)\.\w+\((.*)\)$")
_LEAD = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer\b\s*(?:is)?\s*:?\s*)", re.IGNORECASE)
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*\s*=(?!=)\s*")
_PLAIN = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_THOUSANDS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_UNIT = r"(?:[A-Za-z]+(?:[ ./-][A-Za-z]+)*(?:\^\{?\d\}?|[²³])?\.?)"
_NOT_UNITS = {"pi", "sqrt", "i", "e", "x", "y", "z", "n", "k", "log", "ln", "sin", "cos", "tan", "times", "cdot"}
_FRAC = re.compile(r"\\frac\s*(?:\{([^{}]*)\}|(\d))\s*(?:\{([^{}]*)\}|(\d))")
_OPTION = re.compile(r"^\s*\(?([A-Z])[.)]\s+(.+?)\s*$", re.MULTILINE)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES_NO = {"true": "yes", "false": "no"}


def _clean(text: str) -> str:
    """Strip the presentation around an answer: boxes, $...$, \\left/\\right, \\text{}, labels, periods."""
    s = text.strip()
    if "\\boxed" in s or "\\fbox" in s:
        boxed = last_boxed(s)
        if boxed is not None:
            s = boxed
    for _ in range(3):
        s = s.strip()
        for lo, hi in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) > len(lo) + len(hi) and s.startswith(lo) and s.endswith(hi):
                s = s[len(lo) : -len(hi)].strip()
        s = re.sub(r"\\[dt]frac", r"\\frac", s)
        s = re.sub(r"\\left\b|\\right\b|\\!|\\,|\\;|\\:|\\ ", "", s)
        s = s.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
        s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)
        prev = None
        while prev != s:
            prev, s = s, _TEXT_CMDS.sub(r"\1", s)
        s = s.strip().rstrip(".").strip()
        m = _NUMPY_WRAP.match(s)
        if m:
            s = m.group(1)
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1]
        s = _LEAD.sub("", s)
        s = _ASSIGN.sub("", s)
    return s.strip()


def _plain_number(text: str) -> Fraction | None:
    text = text.strip()
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:].strip()
    if re.fullmatch(_THOUSANDS, text) or re.fullmatch(_PLAIN, text):
        canon = canonical_number(sign + text)
        if canon is not None:
            return Fraction(canon)
    return None


def _number_core(text: str) -> Fraction | None:
    """A plain number, a/b, \\frac{a}{b} (also \\frac34), or a mixed number 2\\frac{1}{2}."""
    s = text.strip()
    value = _plain_number(s)
    if value is not None:
        return value
    m = re.fullmatch(rf"([+-]?)\s*({_PLAIN})\s*/\s*([+-]?{_PLAIN})", s)
    if m:
        num, den = _plain_number(m.group(2)), _plain_number(m.group(3))
        if num is not None and den:
            return (-1 if m.group(1) == "-" else 1) * num / den
        return None
    m = re.fullmatch(r"([+-]?)\s*(\d+)?\s*(\\frac.*)", s)
    if m:
        fm = _FRAC.fullmatch(m.group(3).strip())
        if fm is None:
            return None
        num = _plain_number(fm.group(1) if fm.group(1) is not None else fm.group(2))
        den = _plain_number(fm.group(3) if fm.group(3) is not None else fm.group(4))
        if num is None or not den:
            return None
        value = num / den
        if m.group(2):  # mixed number: 2\frac{1}{2} = 2.5
            if value < 0:
                return None
            value = int(m.group(2)) + value
        return -value if m.group(1) == "-" else value
    return None


def _numbers(text: str) -> list[Fraction] | None:
    """The values a cleaned answer may mean ("50%" -> [50, 0.5]); None when it is not one number."""
    s = text.strip()
    s = re.sub(r"^([+-]?)\s*\$\s*", r"\1", s)  # currency: "$5", "-$5"
    percent = False
    m = re.fullmatch(rf"(.*?)\s*%\s*{_UNIT}?", s) or re.fullmatch(r"(.*?)\s*(?:percent|per cent)\b\.?", s)
    if m:
        s, percent = m.group(1), True
    value = _number_core(s)
    if value is None:  # unit words after the number: "5 apples", "12.5 km/h", "3cm", "\frac{1}{2} cup"
        m = re.fullmatch(rf"(.*?[\d}}])(\s*)({_UNIT})", s)
        if m and (m.group(2) or len(re.match(r"[A-Za-z]*", m.group(3)).group()) >= 2):
            first = re.match(r"[A-Za-z]+", m.group(3)).group().lower()
            if first not in _NOT_UNITS:
                value = _number_core(m.group(1))
    if value is None:
        return None
    return [value, value / 100] if percent else [value]


def number_values(text: str) -> list[Fraction] | None:
    """The values an answer may mean when it is one plain number ("$1,000" -> [1000], "50%" -> [50, 0.5],
    "5 apples" -> [5]); None otherwise (an expression, a tuple, text)."""
    cleaned = _clean(str(text))
    return _numbers(cleaned) if cleaned else None


def _close(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except OverflowError:
        return False
    return abs(fa - fb) <= max(rel_tol * max(abs(fa), abs(fb)), 1e-9)


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _bracketed(text: str) -> bool:
    return len(text) > 1 and text[0] in "([{" and text[-1] in ")]}"


def _norm_str(text: str) -> str:
    s = re.sub(r"\s+", "", text).casefold()
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    return s.rstrip(".")


def answers_match(pred: str, truth: str, *, rel_tol: float = 1e-4) -> bool:
    """True when ``pred`` states ``truth``: numerically within ``rel_tol`` (thousands separators,
    fractions, ``\\frac`` / ``\\dfrac``, percentages, currency, a leading ``x =``, unit words after
    the number), element-wise for tuples / lists, else as normalised strings (spaces, ``\\left`` /
    ``\\right``, ``\\!``, ``\\text{}``, a trailing period and case ignored)."""
    if pred is None or truth is None:
        return False
    p, t = _clean(str(pred)), _clean(str(truth))
    if not p or not t:
        return False
    pn, tn = _numbers(p), _numbers(t)
    if pn is not None and tn is not None:
        if any(_close(a, b, rel_tol) for a in pn for b in tn):
            return True
    if _norm_str(p) == _norm_str(t):
        return True
    # tuples / lists / intervals: same brackets, same number of parts, each part matches
    p_wrapped, t_wrapped = _bracketed(p), _bracketed(t)
    if p_wrapped and t_wrapped and (p[0], p[-1]) == (t[0], t[-1]):
        p, t = p[1:-1], t[1:-1]
    elif p_wrapped or t_wrapped:
        return False
    pp, tp = _split_top(p), _split_top(t)
    if len(pp) > 1 and len(pp) == len(tp):
        return all(answers_match(a, b, rel_tol=rel_tol) for a, b in zip(pp, tp, strict=True))
    return False


def matches_gold(pred: str, golds: Sequence[str]) -> bool:
    """``answers_match`` against the gold answers joined with ", "; several golds in any order."""
    if answers_match(pred, ", ".join(golds)):
        return True
    if len(golds) < 2:
        return False
    text = _clean(pred)
    if _bracketed(text):
        text = text[1:-1]
    unused = [part.strip() for part in _split_top(text)]
    if len(unused) != len(golds):
        return False
    for gold in golds:
        hit = next((k for k, part in enumerate(unused) if answers_match(part, gold)), None)
        if hit is None:
            return False
        unused.pop(hit)
    return True


# ----------------------------------------------------------------------------- Logic


def logic_answer(action: str, problem: str) -> str | None:
    """The option letter; when the action names an option by its text instead, that option's letter
    (an answer repeating an option that starts like a letter, "A scientist ...", is read as that option)."""
    line = answer_line(action)
    if line is not None:
        said = _norm_str(line.strip().strip("*"))
        hits = {m.group(1) for m in _OPTION.finditer(problem) if _norm_str(m.group(2)) == said}
        if len(hits) == 1:
            return hits.pop()
    return extract_answer(action, "Logic")


def option_letter(truth: str) -> str:
    """A Logic ground truth as the bare upper-case letter ("(b)." -> "B")."""
    return truth.strip().strip("()").strip().rstrip(".").upper()


def normalize_text_answer(text: str) -> str:
    """HotpotQA's answer normalisation: lower case, punctuation and articles removed, spaces collapsed;
    "true" / "false" read as "yes" / "no" (StrategyQA's boolean answers)."""
    s = text.casefold()
    s = "".join(ch for ch in s if ch.isalnum() or ch.isspace())
    s = " ".join(_ARTICLES.sub(" ", s).split())
    return _YES_NO.get(s, s)


def is_option_letter(truth: str) -> bool:
    """True when a Logic ground truth is an option letter ("B", "(B)", "b."): judged by letter."""
    return re.fullmatch(r"\(?[A-Ha-h]\)?\.?", truth.strip()) is not None
