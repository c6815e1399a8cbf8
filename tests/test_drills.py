"""preftree.sources.synthetic.drills and the pretraining corpus they join (preftree.base_model.pretraining_corpus)."""

from __future__ import annotations

import dataclasses

import pytest

from preftree.compose import from_conf
from preftree.config.model import ModelParams
from preftree.sources.synthetic.common import PEOPLE
from preftree.sources.synthetic.drills import INSTRUCTION, TASK, copy_drills, interleave
from preftree.sources.synthetic.logic import CATEGORIES


def test_a_drill_repeats_its_list_of_numbers_and_names() -> None:
    drills = copy_drills(200, seed=3)
    assert drills == copy_drills(200, seed=3) and drills != copy_drills(200, seed=4)
    names, words = {p[0] for p in PEOPLE}, set(CATEGORIES)
    kinds = {"number": 0, "person": 0, "category": 0}
    for d in drills:
        assert d["task"] == TASK and d["correct"] is True
        assert d["instruction"] == INSTRUCTION + d["response"]
        items = d["response"].split(", ")
        assert 3 <= len(items) <= 8
        for item in items:
            if item.isdigit():
                assert 10 <= int(item) <= 999
                kinds["number"] += 1
            else:
                assert item in names | words, item
                kinds["person" if item in names else "category"] += 1
    assert min(kinds.values()) > 100 and kinds["number"] > kinds["person"]  # half the items are numbers
    assert copy_drills(0, seed=0) == []
    with pytest.raises(ValueError, match="n must be >= 0"):
        copy_drills(-1, seed=0)


def test_interleave_keeps_the_documents_order_and_places_every_drill() -> None:
    docs = [{"task": "Math_CoT", "i": i} for i in range(50)]
    drills = copy_drills(7, seed=1)
    mixed = interleave(docs, drills, seed=1)
    assert len(mixed) == 57 and [d for d in mixed if d["task"] != TASK] == docs
    assert [d for d in mixed if d["task"] == TASK] == drills
    assert mixed == interleave(docs, drills, seed=1) and mixed != interleave(docs, drills, seed=2)
    assert interleave(docs, [], seed=1) == docs


def test_the_corpus_without_drills_is_the_problems_only_and_with_them_grows_by_them() -> None:
    from preftree.base_model import corpus_digest, pretraining_corpus

    small = from_conf(ModelParams, "model", overrides=["model.pretrain.documents=30",
                      "model.pretrain.heldout_documents=6", "model.tokenizer.vocab_size=400"])  # fmt: skip
    plain = pretraining_corpus(small, seed=0)
    assert len(plain.train_docs) == 30 and all(d["task"] != TASK for d in plain.train_docs)
    with_drills = pretraining_corpus(
        dataclasses.replace(small, pretrain=dataclasses.replace(small.pretrain, copy_drills=5)), seed=0
    )
    assert [d for d in with_drills.train_docs if d["task"] != TASK] == plain.train_docs
    assert sum(d["task"] == TASK for d in with_drills.train_docs) == 5
    assert corpus_digest(with_drills.held_text) == corpus_digest(plain.held_text)  # held out: problems only
    assert with_drills.train_blocks.numel() > plain.train_blocks.numel()
