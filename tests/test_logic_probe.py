"""preftree.logic_probe: each decision slot of a correct Logic solution points at the token that makes
the decision, and measure() counts a model that always predicts the text (an oracle) right at every slot
and one that never does wrong at every slot."""

from __future__ import annotations

import json
import random

import pytest

from preftree.base_model import chat_document
from preftree.compose import from_conf
from preftree.config.model import TokenizerParams
from preftree.logic_probe import SlotCounts, decision_slots, measure, table
from preftree.models.tokenizer import train_tokenizer
from preftree.sources.synthetic.problems import generate, render_solution

from .test_copy_probe import ScriptedLM


@pytest.fixture(scope="module")
def items() -> list[tuple[str, str, dict]]:
    frame = generate(40, seed=3, min_steps=2, max_steps=2, tasks={"Logic": 1.0})
    out = []
    for r in frame.to_dicts():
        response = render_solution(r, rng=random.Random(0))
        assert response is not None
        out.append((r["instruction"], response, json.loads(r["reference"])))
    return out


def test_slots_point_at_each_decision(items):
    kinds = set()
    for _, response, ref in items:
        slots = decision_slots(response, ref)
        at = {s.name: [] for s in slots}
        for s in slots:
            at[s.name].append(response[s.start :])
        kinds.add(ref["kind"])
        letter = [s for s in slots if s.name == "letter"]
        assert len(letter) == 1 and letter[0].chance == 1 / len(ref["options"])
        assert at["letter"][0].startswith(ref["answer"] + ".")
        if ref["kind"] == "ordering":
            clues = ref["clues"]
            first = [c["more"] if c["more_first"] else c["less"] for c in clues]
            assert [t.split(" ")[0] for t in at["clue_first"]] == first
            assert all(s.chance == 1 / len(ref["people"]) for s in slots if s.name == "clue_first")
            assert len(at["order"]) == len(ref["people"])
            assert sorted(t.split(",")[0].split(".")[0] for t in at["order"]) == sorted(ref["people"])
            correct = ref["options"][ref["answer_index"]]
            assert at["pick"][0].startswith(correct + ",")
        else:
            chain = ref["chain"]
            assert at["chain"][0].startswith(chain[0] + ",")
            assert [t.split(" ")[0].rstrip(",") for t in at["conclusion"]] == [chain[0], chain[-1]]
    assert kinds == {"ordering", "syllogism"}
    assert decision_slots("Step 1: x", {"kind": "other"}) == []


def test_measure_counts_an_oracle_right_and_a_wrong_model_wrong(items):
    texts = [text for instruction, response, _ in items for text in (instruction, response)]
    tokenizer = train_tokenizer(texts, from_conf(TokenizerParams, "model.tokenizer", vocab_size=400, split_digits=True))
    vocab = len(tokenizer)
    for instruction, response, ref in items[:6]:
        ids = tokenizer(chat_document(tokenizer, instruction, response), add_special_tokens=False)["input_ids"]
        oracle = ScriptedLM(vocab, lambda prefix, ids=ids: ids[len(prefix)] if len(prefix) < len(ids) else 0)
        oracle.train()
        right = measure(oracle, tokenizer, [(instruction, response, ref)])
        assert oracle.training  # measure() leaves the model's mode as it found it
        n = len(decision_slots(response, ref))
        assert sum(c.total for c in right.values()) == n and all(c.correct == c.total for c in right.values())
        wrong = measure(
            ScriptedLM(vocab, lambda prefix: tokenizer.pad_token_id), tokenizer, [(instruction, response, ref)]
        )
        assert sum(c.total for c in wrong.values()) == n and all(c.correct == 0 for c in wrong.values())
    assert "| ordering | 2 | letter | 1 / 2 | 50.0 | 25.0 |" in table(
        {("ordering", 2, "letter"): SlotCounts(1, 2, 0.5)}
    )


def test_own_answers_tally_right_and_unnamed_answers_by_kind(tmp_path, capsys):
    """A right letter, a wrong letter, a letter past the options, an option's text and no answer line."""
    import polars as pl

    from preftree.logic_probe import AnswerCounts, answers_table, main, own_answers

    frame = generate(40, seed=3, min_steps=2, max_steps=2, tasks={"Logic": 1.0}).to_dicts()
    rows, want = [], {}
    for k, r in enumerate(frame[:10]):
        ref = json.loads(r["reference"])
        n = len(ref["options"])
        wrong = "ABCDE"[(ref["answer_index"] + 1) % n]
        text = ref["options"][ref["answer_index"]]
        text = text["text"] if isinstance(text, dict) else text
        response, right, named = [
            (f"Answer:\n{ref['answer']}", True, True),
            (f"Answer:\n{wrong}", False, True),
            ("Answer:\nE" if n < 5 else "Answer:\nH", False, False),
            (f"Step 1: ...\n\nAnswer:\n{text}", True, True),
            ("I do not know.", False, False),
        ][k % 5]
        rows.append((ref, r["problem"], response, right))
        key = (ref["kind"], len(ref.get("clues", ref.get("premises", []))))
        want[key] = want.get(key, AnswerCounts()) + AnswerCounts(1, int(right), int(not named), 1 / n)
    got = own_answers(rows)
    assert got == want and sum(c.n for c in got.values()) == 10
    assert sum(c.right for c in got.values()) == 4 and sum(c.no_option for c in got.values()) == 4
    shown = answers_table(got)
    assert "| all |  | 10 | 4 (40.0 %) | 4 |" in shown

    heldout, responses = tmp_path / "heldout.parquet", tmp_path / "responses.parquet"
    pl.DataFrame(frame).write_parquet(heldout)
    ids = [r["id"] for r in frame[:10]]
    pl.DataFrame(
        {"id": ids, "family": ["Logic"] * 10, "response": [x[2] for x in rows], "correct": [x[3] for x in rows]}
    ).write_parquet(responses)
    main(["--answers", str(responses), str(heldout)])
    assert shown in capsys.readouterr().out
    pl.DataFrame({"id": ["nope"], "family": ["Logic"], "response": ["x"], "correct": [False]}).write_parquet(responses)
    with pytest.raises(SystemExit, match=r"responses.parquet: Logic row 0 \(id 'nope'\) is not a Logic problem"):
        main(["--answers", str(responses), str(heldout)])
    pl.DataFrame({"id": ["x"]}).write_parquet(responses)
    with pytest.raises(SystemExit, match=r"no column\(s\) \['correct', 'family', 'response'\]"):
        main(["--answers", str(responses), str(heldout)])
