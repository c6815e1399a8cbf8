"""Per-family pass@1 with CIs, and multiple-choice families against chance."""

import polars as pl
import pytest

from preftree.families import families_markdown, family_rates, option_count

LOGIC = "Context:\nx\n\nOptions:\nA. one\nB. two\nC. three\nD. four"


def _frame(rows):
    return pl.DataFrame([{"benchmark": "tiny", "id": i, "family": f, "mode": "cot", "correct": c} for i, f, c in rows])


@pytest.mark.parametrize(
    ("text", "expected"),
    [(LOGIC, 4), (LOGIC + "\nE. five", 5), ("A) yes\nB) no", 2), ("Add 5 to A. Then B.", 0), ("no options", 0)],
)
def test_option_count(text, expected):
    assert option_count(text) == expected


def test_rates_per_family_and_chance():
    rows = [(f"l{i}", "Logic", i < 50) for i in range(100)] + [(f"c{i}", "Coding", i < 90) for i in range(100)]
    problems = {f"l{i}": LOGIC for i in range(100)} | {f"c{i}": "Write a function." for i in range(100)}
    result = family_rates({"sft": _frame(rows)}, problems, seed=0)
    assert result.rates["sft"]["Logic"].effect == pytest.approx(0.5)
    assert result.rates["sft"]["Coding"].effect == pytest.approx(0.9)
    assert result.rates["sft"]["all"].n == 200
    assert result.chance == {"Logic": pytest.approx(0.25)}  # Coding has no options: no chance level
    margin = result.above_chance["sft"]["Logic"]
    assert margin.effect == pytest.approx(0.25) and margin.ci_low > 0.1  # 50 % on 4 options: well above chance
    text = families_markdown(result, ["sft", "missing"])
    assert "| sft | 90.0 [" in text and "Logic against chance (25.0 %" in text and "missing" not in text


def test_at_chance_the_margin_spans_zero():
    rows = [(f"l{i}", "Logic", i % 4 == 0) for i in range(200)]
    result = family_rates({"base": _frame(rows)}, {f"l{i}": LOGIC for i in range(200)}, seed=1)
    margin = result.above_chance["base"]["Logic"]
    assert margin.ci_low < 0 < margin.ci_high
