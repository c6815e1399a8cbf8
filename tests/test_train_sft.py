"""Tests for preftree.train.sft: assistant-only masking, determinism, learning, packing, the saved
folder, and the SFT mixture (weights, determinism, malformed rows).

Everything runs on a tiny model and tokenizer built in tmp_path; the trainings are shared by a
module fixture (four short runs, a few seconds each).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM

from preftree.compose import from_conf
from preftree.config.model import ArchParams, TokenizerParams
from preftree.config.runtime import RuntimeParams
from preftree.config.train import OptimParams, SFTParams
from preftree.models.checkpoint import save_model_folder
from preftree.models.tiny import build_model
from preftree.models.tokenizer import train_tokenizer
from preftree.schema import SFT_SCHEMA
from preftree.train.common import load_policy, weights_digest
from preftree.train.sft import (
    BASE_SOURCE,
    assistant_loss,
    encode_chat,
    mixture_dataset,
    sft_config,
    sft_dataset,
    train_sft,
)

from .conftest import mixture_source

ARCH = from_conf(
    ArchParams,
    "model.arch",
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=128,
)
OPTIM = from_conf(
    OptimParams, "sft.optim", lr=5e-3, max_steps=40, batch_size=8, max_length=64, warmup_ratio=0.1, logging_steps=10
)
PARAMS = from_conf(SFTParams, "sft", optim=OPTIM)
RUNTIME = from_conf(RuntimeParams, "runtime", device="cpu", progress=False)


def _row(rng: random.Random, i: int) -> dict:
    a, b = rng.randint(0, 30), rng.randint(0, 30)
    return {
        "id": f"p{i}_0_1",
        "parent_id": f"p{i}",
        "task": "Math_CoT",
        "dataset": "synthetic",
        "instruction": f"What is {a} plus {b}?",
        "response": f"Step 1: {a} + {b} = {a + b}.\nThe answer is {a + b}.",
    }


def sft_frame(n: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame([_row(rng, i) for i in range(n)], schema=SFT_SCHEMA)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one thread avoids OpenMP sync costs (and is what the weights digests assume)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    return sft_frame(64, seed=0), sft_frame(16, seed=1)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, frames) -> Path:
    """A freshly initialised tiny Llama + byte-level BPE tokenizer, saved like models/base."""
    train, _ = frames
    corpus = train["instruction"].to_list() + train["response"].to_list()
    # merged digits keep rows short enough that bfd packing puts several in one max_length block
    tokenizer = train_tokenizer(
        corpus, from_conf(TokenizerParams, "model.tokenizer", vocab_size=300, split_digits=False)
    )
    model = build_model(ARCH, tokenizer, seed=0)
    folder = tmp_path_factory.mktemp("base") / "model"
    save_model_folder(model, tokenizer, folder, {"name": "tiny-test-base"})
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, base_dir, frames) -> dict[str, tuple[dict, Path]]:
    """Four trainings: seed 0 twice, seed 1, and seed 0 with packing + a mixture source."""
    train, heldout = frames
    root = tmp_path_factory.mktemp("sft")
    extra = root / "extra.jsonl"
    rng = random.Random(5)
    with extra.open("w") as fh:
        for _ in range(20):
            a, b = rng.randint(0, 9), rng.randint(0, 9)
            msgs = [{"role": "user", "content": f"{a} times {b}?"}, {"role": "assistant", "content": f"{a * b}"}]
            fh.write(json.dumps({"messages": msgs}) + "\n")
    packed = dataclasses.replace(PARAMS, packing=True, mixture={"extra": mixture_source(path=str(extra), weight=0.25)})
    configs = {"a": (PARAMS, 0), "b": (PARAMS, 0), "c": (PARAMS, 1), "packed": (packed, 0)}
    out = {}
    for name, (params, seed) in configs.items():
        folder = root / name
        card = {"name": f"sft-{name}", "base_model": str(base_dir)}
        out[name] = (
            train_sft(base_dir, train, heldout, params, seed=seed, runtime=RUNTIME, out_dir=folder, card=card),
            folder,
        )
    return out


# --------------------------------------------------------------------------------------------
# masking


def test_assistant_mask_only_covers_assistant_content_and_end(base_dir):
    _, tokenizer = load_policy(base_dir)
    messages = [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "The answer is 5."}]
    ids, labels = encode_chat(tokenizer, messages, max_length=None)
    prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, return_dict=True)["input_ids"]
    answer = tokenizer.encode("The answer is 5.") + [tokenizer.eos_token_id]
    tail = tokenizer.encode("\n")
    assert ids == prompt + answer + tail
    assert labels == [-100] * len(prompt) + answer + [-100] * len(tail)
    # every user / role-tag / newline token is masked
    special = {tokenizer.convert_tokens_to_ids(t) for t in ("<|user|>", "<|assistant|>")}
    assert all(label == -100 for i, label in zip(ids, labels, strict=True) if i in special)
    # truncation keeps the start
    short_ids, short_labels = encode_chat(tokenizer, messages, max_length=len(prompt) + 2)
    assert short_ids == ids[: len(prompt) + 2] and short_labels == labels[: len(prompt) + 2]


def test_trainer_labels_match_our_mask(base_dir, frames, tmp_path):
    """The labels trl's SFTTrainer builds (assistant_only_loss=True) are exactly encode_chat's, row by row."""
    from trl import SFTTrainer

    train, _ = frames
    model, tokenizer = load_policy(base_dir)
    dataset = sft_dataset(train)
    config = sft_config(PARAMS, out_dir=tmp_path, seed=0, runtime=RUNTIME)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    prepared = trainer.train_dataset
    assert len(prepared) == len(dataset)
    for row, messages in zip(prepared, dataset["messages"], strict=True):
        ids, labels = encode_chat(tokenizer, messages, OPTIM.max_length)
        assert row["input_ids"] == ids
        assert row["labels"] == labels
    # and the collated batch keeps them (pad positions masked too)
    batch = trainer.data_collator([prepared[i] for i in range(4)])
    assert ((batch["labels"] == -100) | (batch["labels"] == batch["input_ids"])).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    # packing (bfd): the packed rows carry exactly the same trained tokens
    packed_config = sft_config(dataclasses.replace(PARAMS, packing=True), out_dir=tmp_path, seed=0, runtime=RUNTIME)
    packed = SFTTrainer(model=model, args=packed_config, train_dataset=dataset, processing_class=tokenizer)
    trained = sorted(t for row in packed.train_dataset for t in row["labels"] if t != -100)
    assert trained == sorted(t for row in prepared for t in row["labels"] if t != -100)
    assert len(packed.train_dataset) < len(prepared)


def test_assistant_loss_matches_hand_computation(base_dir):
    """assistant_loss = token-weighted cross-entropy over the label != -100 positions, whatever the batching."""
    model, tokenizer = load_policy(base_dir)
    frame = sft_frame(4, seed=3)
    loss = assistant_loss(model, tokenizer, frame, max_length=64, batch_size=2)
    again = assistant_loss(model, tokenizer, frame, max_length=64, batch_size=3)  # batching does not matter
    assert loss == pytest.approx(again, rel=1e-5)
    # hand computation on one row
    messages = sft_dataset(frame[:1])["messages"][0]
    ids, labels = encode_chat(tokenizer, messages, 64)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    target = torch.tensor(labels[1:])
    keep = target != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], target[keep]).item()
    assert assistant_loss(model, tokenizer, frame[:1], max_length=64, batch_size=1) == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------------------------
# training


def test_training_learns(runs):
    metrics, _ = runs["a"]
    base, sft = metrics["heldout_loss_base"], metrics["heldout_loss_sft"]
    print(f"held-out assistant loss: base {base:.3f} -> sft {sft:.3f} (train final {metrics['train_loss_final']:.3f})")
    assert base > 4.0  # random init over a 300-token vocabulary
    assert sft < 0.5 * base
    assert metrics["train_loss_final"] < 0.5 * base
    assert metrics["train_steps"] == OPTIM.max_steps
    assert metrics["train_tokens"] > 0 and metrics["train_tokens_per_second"] > 0 and metrics["train_seconds"] > 0
    assert metrics["train_rows_by_source"] == {BASE_SOURCE: 64}
    logged = [r for r in metrics["log"] if "loss" in r]
    assert [r["step"] for r in logged] == [10, 20, 30, 40]
    assert logged[-1]["loss"] == metrics["train_loss_final"]


def test_training_is_deterministic(runs):
    a, b, c = runs["a"][0], runs["b"][0], runs["c"][0]
    assert a["weights_sha256"] == b["weights_sha256"]
    assert a["heldout_loss_sft"] == b["heldout_loss_sft"]
    assert a["weights_sha256"] != c["weights_sha256"]  # another seed: another data order


def test_packing_trains(runs):
    metrics, _ = runs["packed"]
    assert metrics["train_rows_by_source"] == {BASE_SOURCE: 64, "extra": 16}
    assert metrics["heldout_loss_sft"] < 0.5 * metrics["heldout_loss_base"]
    assert metrics["weights_sha256"] != runs["a"][0]["weights_sha256"]


def test_saved_folder_loads_with_card(runs):
    metrics, folder = runs["a"]
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert weights_digest(model) == metrics["weights_sha256"]
    _, tokenizer = load_policy(folder)
    assert tokenizer.chat_template and tokenizer.pad_token == "<|pad|>"
    card = json.loads((folder / "card.json").read_text())
    assert card["name"] == "sft-a" and card["stage"] == "sft"
    assert card["params"]["seed"] == 0
    assert card["params"]["sft"]["optim"]["lr"] == OPTIM.lr
    assert card["params"]["sft"]["optim"]["max_steps"] == OPTIM.max_steps
    assert card["params"]["sft"]["packing"] is False
    assert card["metrics"]["heldout_loss_sft"] == pytest.approx(metrics["heldout_loss_sft"])
    assert card["weights_sha256"] == metrics["weights_sha256"]
    assert (folder / "README.md").is_file()


# --------------------------------------------------------------------------------------------
# mixture


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_sft_dataset_is_conversational():
    frame = sft_frame(3, seed=0)
    ds = sft_dataset(frame)
    assert ds.column_names == ["messages", "source"]
    assert ds[0]["messages"] == [
        {"role": "user", "content": frame["instruction"][0]},
        {"role": "assistant", "content": frame["response"][0]},
    ]
    with pytest.raises(ValueError, match="missing column"):
        sft_dataset(frame.drop("response"))


def test_mixture_weights_and_formats(tmp_path):
    base = sft_dataset(sft_frame(8, seed=0))
    chat = _write_jsonl(
        tmp_path / "chat.jsonl",
        [
            {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(10)
        ],
    )
    sharegpt = _write_jsonl(
        tmp_path / "sharegpt.jsonl",
        [{"items": [{"from": "human", "value": f"h{i}"}, {"from": "gpt", "value": f"g{i}"}]} for i in range(3)],
    )
    orca = tmp_path / "orca.parquet"
    pl.DataFrame(
        {"system_prompt": ["Be exact.", ""], "question": ["2+2?", "3+3?"], "response": ["4", "6"]}
    ).write_parquet(orca)
    mixture = {
        "chat": mixture_source(path=str(chat), weight=0.5),  # 4 of 10 rows
        "sharegpt": mixture_source(path=str(sharegpt), weight=1.0, layout="custom", fields={"messages": "items"}),
        "orca": mixture_source(
            path=str(orca),
            weight=0.25,
            layout="custom",
            fields={"system": "system_prompt", "prompt": "question", "response": "response"},
        ),
        "off": mixture_source(path=str(tmp_path / "missing.jsonl"), weight=0.0),  # weight 0: never read
    }
    mixed = mixture_dataset(base, mixture, seed=0)
    counts = {s: mixed["source"].count(s) for s in set(mixed["source"])}
    assert counts == {BASE_SOURCE: 8, "chat": 4, "sharegpt": 8, "orca": 2}
    assert mixed["messages"][:8] == base["messages"]
    chat_rows = [m[0]["content"] for m, s in zip(mixed["messages"], mixed["source"], strict=True) if s == "chat"]
    assert len(set(chat_rows)) == 4  # without replacement
    share = [m[0]["content"] for m, s in zip(mixed["messages"], mixed["source"], strict=True) if s == "sharegpt"]
    assert sorted(share.count(f"h{i}") for i in range(3)) == [2, 3, 3]  # every row used 2 or 3 times
    assert {"role": "assistant", "content": "g0"} in [
        m[1] for m, s in zip(mixed["messages"], mixed["source"], strict=True) if s == "sharegpt"
    ]
    orca_rows = [m for m, s in zip(mixed["messages"], mixed["source"], strict=True) if s == "orca"]
    assert [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ] in orca_rows
    assert [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}] in orca_rows
    # deterministic: the same seed gives the same rows; another seed another draw
    assert mixture_dataset(base, mixture, seed=0)["messages"] == mixed["messages"]
    other = mixture_dataset(base, mixture, seed=1)
    assert [m for m, s in zip(other["messages"], other["source"], strict=True) if s == "chat"] != [
        m for m, s in zip(mixed["messages"], mixed["source"], strict=True) if s == "chat"
    ]


def test_malformed_mixture_rows_are_named(tmp_path):
    base = sft_dataset(sft_frame(4, seed=0))
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    no_answer = _write_jsonl(
        tmp_path / "no_answer.jsonl", [good, good, {"messages": [{"role": "user", "content": "q"}]}]
    )
    with pytest.raises(
        ValueError, match=r"sft\.mixture\.bad: row 2 of .*no_answer\.jsonl \(layout \w+\): .*no non-empty assistant"
    ):
        mixture_dataset(base, {"bad": mixture_source(path=str(no_answer))}, seed=0)
    bad_role = _write_jsonl(tmp_path / "role.jsonl", [{"messages": [{"role": "robot", "content": "x"}]}])
    with pytest.raises(ValueError, match=r"sft\.mixture\.r: row 0 .*unknown role 'robot'"):
        mixture_dataset(base, {"r": mixture_source(path=str(bad_role))}, seed=0)
    broken = _write_jsonl(tmp_path / "broken.jsonl", [good, "{not json"])
    with pytest.raises(ValueError, match=r"sft\.mixture\.j: row 1 of .*broken\.jsonl \(layout \w+\): invalid JSON"):
        mixture_dataset(base, {"j": mixture_source(path=str(broken))}, seed=0)
    columns = _write_jsonl(tmp_path / "columns.jsonl", [{"q": "x", "a": "y"}, {"q": "x"}])
    with pytest.raises(ValueError, match=r"sft\.mixture\.c: row 1 .*no column 'a'"):
        mixture_dataset(
            base,
            {"c": mixture_source(path=str(columns), layout="custom", fields={"prompt": "q", "response": "a"})},
            seed=0,
        )
    with pytest.raises(ValueError, match=r"sft\.mixture\.c: row 0 .*no column 'messages'"):
        mixture_dataset(base, {"c": mixture_source(path=str(columns))}, seed=0)
    with pytest.raises(ValueError, match="exactly one of `path` or `hf_id`"):
        mixture_dataset(base, {"n": mixture_source()}, seed=0)
    with pytest.raises(ValueError, match="unknown key"):
        mixture_dataset(base, {"k": mixture_source(path=str(columns), layout="custom", fields={"answer": "a"})}, seed=0)
    with pytest.raises(ValueError, match="only read with layout custom"):
        mixture_dataset(base, {"k": mixture_source(path=str(columns), fields={"prompt": "q", "response": "a"})}, seed=0)


@pytest.mark.parametrize(("max_steps", "expected"), [(0, -1), (-1, -1), (7, 7)])
def test_max_steps_zero_or_minus_one_trains_the_epochs(max_steps, expected, tmp_path):
    """conf promises `0 or -1: train epochs`; transformers reads max_steps=0 as one step."""
    from preftree.train.common import trainer_kwargs

    optim = dataclasses.replace(OPTIM, max_steps=max_steps)
    kwargs = trainer_kwargs(optim, out_dir=tmp_path, seed=0, runtime=RUNTIME)
    assert kwargs["max_steps"] == expected
    assert kwargs["num_train_epochs"] == optim.epochs
