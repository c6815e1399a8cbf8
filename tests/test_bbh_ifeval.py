"""BBH (3-shot CoT, exact match after "So the answer is"; Eurus's substring rule) and IFEval (prompt-level
loose accuracy): loaders, prompts and scorers on hand-written fixtures, and on the real files when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import check_references as cr
from preftree.evaluate import load_benchmark
from preftree.evaluate.bbh import COT_CUE, INSTRUCTION, bbh_answer, bbh_match, strip_canary
from preftree.evaluate.bbh_file import main as write_bbh_file
from preftree.evaluate.ifeval import CHECKS, count_sentences, follows, judge, loose_variants
from preftree.evaluate.items import BenchmarkFormatError
from preftree.evaluate.loaders_bbh import parse_bbh, read_bbh
from preftree.evaluate.registry import BENCHMARKS
from preftree.evaluate.scoring import score_many

FIX = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=5.0)


@pytest.fixture
def bbh_file(tmp_path: Path) -> Path:
    out = tmp_path / "bbh.jsonl"
    write_bbh_file([str(FIX / "bbh"), "--out", str(out)])
    return out


# ----------------------------------------------------------------------------- BBH


def test_bbh_answer_is_the_text_after_the_last_marker():
    assert bbh_answer("So the answer is No. Wait. 3 is odd. So the answer is (B).") == "(B)"
    assert bbh_answer("So the answer is Yes.\nQ: Is 1 odd?\nA: So the answer is No.") == "Yes"
    assert bbh_answer("The result is Yes.") is None
    assert bbh_answer("So the answer is [ ] }.") == "[ ] }"


def test_exact_and_eurus_rules_differ_where_eurus_is_lenient():
    hedged = "It could be True, but checking again it is not. So the answer is False."
    assert bbh_match(hedged, "False") == (True, "False")
    assert bbh_match(hedged, "True", "exact")[0] is False
    assert bbh_match(hedged, "True", "substring")[0] is True  # the target occurs before "Q:"
    assert bbh_match("So the answer is True.\nQ: next", "True", "substring")[0] is True
    assert bbh_match("Q: So the answer is True.", "True", "substring")[0] is False  # nothing before "Q:"
    with pytest.raises(ValueError, match="unknown BBH rule"):
        bbh_match("x", "y", "fuzzy")


def test_bbh_folder_becomes_a_combined_file_and_items(bbh_file: Path):
    rows = [json.loads(line) for line in bbh_file.read_text().splitlines()]
    assert [r["target"] for r in rows] == ["No", "Yes", "(B)"] and {r["task"] for r in rows} == {"toy_parity"}
    items = load_benchmark("bbh", bbh_file)
    first = items[0]
    assert first.kind == "bbh" and first.id == "toy_parity/0" and first.meta["rule"] == "exact"
    assert first.prompt.startswith(INSTRUCTION + "Decide small arithmetic questions.\n\nQ: Is 2 + 2 even?")
    assert first.prompt.endswith("\n\nQ: " + rows[0]["input"] + "\n" + COT_CUE)
    assert "canary" not in first.prompt and first.prompt.count("So the answer is") == 3
    assert load_benchmark("bbh_eurus", bbh_file)[0].meta["rule"] == "substring"
    assert read_bbh(FIX / "bbh" / "data" / "toy_parity.json") == rows  # one task file, prompts found beside


def test_eurus_layout_rows_and_bad_rows():
    text = (
        "Decide.\n\nQ: Is 2 even?\nA: Let's think step by step. 2 is even. So the answer is Yes.\n\nQ: Is 5 even?\n"
        + COT_CUE
    )
    (item,) = parse_bbh([{"text": text, "reference": "No", "task_name": "toy"}], "eurus.jsonl", benchmark="bbh")
    assert item.prompt == INSTRUCTION + text and item.answer == "No" and item.id == "toy/0"
    with pytest.raises(BenchmarkFormatError, match="row 0: field 'cot_prompt'"):
        parse_bbh([{"task": "t", "input": "q", "target": "No"}], "f.jsonl")
    with pytest.raises(BenchmarkFormatError, match="field 'target': empty"):
        parse_bbh([{"text": text, "reference": " ", "task_name": "t"}], "f.jsonl")
    assert strip_canary("no header here\nQ: x") == "no header here\nQ: x"


def test_bbh_references_score_fully_and_shuffled_ones_do_not(bbh_file: Path):
    for name in ("bbh", "bbh_eurus"):
        items = load_benchmark(name, bbh_file)
        assert cr.check(items, limits=LIMITS).rate == 1.0
        assert cr.check(items, shuffle=True, limits=LIMITS).accepted == 0


@pytest.mark.skipif(not (SHARED / "bbh" / "data").is_dir(), reason="../shared/benchmarks/bbh absent")
def test_real_bbh_targets_fed_back_score_100_percent(tmp_path: Path):
    out = tmp_path / "bbh.jsonl"
    write_bbh_file([str(SHARED / "bbh"), "--out", str(out)])
    items = load_benchmark("bbh", out)
    assert len(items) == 6511 and len({i.meta["task"] for i in items}) == 27
    result = cr.check(items, limits=LIMITS)
    assert result.accepted == result.total == 6511
    assert BENCHMARKS["bbh"].max_new_tokens == {"cot": 2048} and BENCHMARKS["bbh"].stop == ("\nQ:",)


# ----------------------------------------------------------------------------- IFEval

FOLLOWS = [  # (instruction, kwargs, a response that follows it, one that does not)
    ("punctuation:no_comma", {}, "No commas here.", "One, two."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "one two three four five", "one two"),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "one two", "one two three"),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "Dr. Who came. He left.",
     "It rained. It poured. It stopped."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part.\n***\nSecond part.",
     "First.\n***\n\n***\nSecond."),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "Intro here.\n\n\"Then, more.", "Intro here.\n\nNext, more."),
    ("keywords:existence", {"keywords": ["lamp", "desk"]}, "A LAMP on a desk.", "A lamp on a table."),
    ("keywords:forbidden_words", {"forbidden_words": ["bulb"]}, "Bulbous shapes.", "A bulb glows."),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "at least"}, "Tea, then tea.", "Tea once."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "less than"}, "Zoo.", "Zzz."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", "*one* and ** **"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b", "* a\n* b\n* c"),
    ("detectable_format:title", {}, "<<Night Tea>>\nText.", "<< >> Text."),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nA\nSection 2\nB", "Section 1\nA"),
    ("detectable_format:constrained_response", {}, "My answer is maybe.", "Perhaps."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name] at [address]", "Dear [name]"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\np.s. bye", "Hi. Bye."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say hi. Hi!", "Hi! Say hi."),
    ("combination:two_responses", {}, "Yes.\n******\nNo.", "Yes.\n******\nYes."),
    ("startend:quotation", {}, ' "Quoted." ', '"Half quoted.'),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Done. any other questions?"',
     "Any other questions? Done."),
    ("change_case:english_lowercase", {}, "the quick brown fox jumps over the lazy dog near the river bank",
     "The quick brown fox jumps over the lazy dog near the river bank"),
    ("change_case:english_capital", {}, "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG NEAR THE RIVER",
     "THE QUICK BROWN FOX jumps OVER THE LAZY DOG"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "USE WELL-KNOWN tools", "Use WELL-known tools"),
    ("language:response_language", {"language": "de"},
     "Der schnelle braune Fuchs springt über den faulen Hund am Fluss.",
     "The quick brown fox jumps over the lazy dog by the river."),
]  # fmt: skip


@pytest.mark.parametrize(("instruction", "kwargs", "good", "bad"), FOLLOWS, ids=[f[0] for f in FOLLOWS])
def test_each_instruction_type(instruction, kwargs, good, bad):
    assert follows(instruction, good, kwargs) is True
    assert follows(instruction, bad, kwargs) is False


def test_every_instruction_type_of_ifeval_is_tested():
    assert {f[0] for f in FOLLOWS} == set(CHECKS) and len(CHECKS) == 25


def test_loose_accepts_a_first_line_preamble_and_markdown_stars():
    response = 'Sure! Here it is:\n"A quiet note for you."'
    verdict = judge(response, ["startend:quotation"], [{}])
    assert verdict.strict == (False,) and verdict.loose == (True,)
    starred = judge(
        "Done.\n**Any other questions?**", ["startend:end_checker"], [{"end_phrase": "Any other questions?"}]
    )
    assert starred.prompt_strict is False and starred.prompt_loose is True
    assert len(loose_variants("a\nb\nc")) == 8
    assert judge("   ", ["punctuation:no_comma"], [{}]).loose == (False,)  # a blank response follows nothing


def test_sentence_counter():
    assert count_sentences("Dr. Smith arrived at 3.5 p.m. on Monday. J. R. R. Tolkien wrote it! Did he?") == 3
    assert count_sentences('He said "stop." Then he left.') == 2 and count_sentences("") == 0


def test_ifeval_items_score_prompt_level_loose():
    items = load_benchmark("ifeval", FIX / "ifeval" / "input_data.jsonl")
    assert [i.kind for i in items] == ["ifeval"] * 3 and items[2].meta["kwargs"][2] == {"forbidden_words": ["bulb"],
                                                                                        "num_words": None}  # fmt: skip
    responses = [
        'Here you go:\n"Hello neighbour.\nYour cat visited us today."',  # loose only: the first line is dropped
        "A kettle is a metal pot that boils water for tea and coffee in a kitchen. Any other questions?",
        "<<The Lamp>>\nA lamp with a bulb.\nThe bulb is bright.",  # the forbidden word, in every loose variant
    ]
    verdicts = score_many(items, responses, ["cot"] * 3, limits=LIMITS)
    assert [v.correct for v in verdicts] == [True, True, False]
    assert verdicts[0].answer == "loose 2/2, strict 1/2" and verdicts[2].answer == "loose 2/3, strict 2/3"


def test_ifeval_rows_with_unknown_instructions_or_bad_kwargs_fail():
    row = {"key": 9, "prompt": "p", "instruction_id_list": ["no:such"], "kwargs": [{}]}
    with pytest.raises(BenchmarkFormatError, match="row 0: field 'instruction_id_list': unknown"):
        BENCHMARKS["ifeval"].loader([row], "x.jsonl")
    with pytest.raises(BenchmarkFormatError, match="field 'kwargs'"):
        BENCHMARKS["ifeval"].loader([{**row, "instruction_id_list": ["punctuation:no_comma"], "kwargs": []}], "x")


@pytest.mark.skipif(not (SHARED / "ifeval" / "input_data.jsonl").is_file(), reason="../shared/benchmarks/ifeval absent")
def test_real_ifeval_file_loads_and_scores():
    items = load_benchmark("ifeval", SHARED / "ifeval" / "input_data.jsonl")
    assert len(items) == 541 and BENCHMARKS["ifeval"].hf_split == "train"
    verdicts = score_many(items, [item.prompt for item in items], ["cot"] * len(items), limits=LIMITS)
    assert all(v.answer and v.answer.startswith("loose ") for v in verdicts)
    share = sum(v.correct for v in verdicts) / len(verdicts)
    assert 0.0 < share < 0.5  # echoing the prompt follows some instructions, never most prompts
