"""The Eurus reward model: the loss against hand-computed values, last-non-pad read-out under right
padding, save/load round trip, and a short deterministic training run on a tiny model."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import torch

from preftree.compose import from_conf
from preftree.config.model import ArchParams, TokenizerParams
from preftree.config.runtime import RuntimeParams
from preftree.config.train import OptimParams, RMParams
from preftree.models.checkpoint import save_model_folder
from preftree.models.tiny import build_model
from preftree.models.tokenizer import train_tokenizer
from preftree.schema import RM_SCHEMA
from preftree.train.common import weights_digest
from preftree.train.reward import (
    HELDOUT_SCORES,
    load_reward_model,
    pair_metrics,
    reward_scores,
    rm_dataset,
    score_pairs,
    tokenize_conversation,
)
from preftree.train.reward_trainer import EurusPreferenceCollator, EurusRewardTrainer, eurus_rm_loss, train_rm

WORDS = "alpha beta gamma delta omega kappa sigma theta zeta lambda".split()
TASKS = ("Math_CoT", "Coding")


def _bt(margin: float) -> float:
    """-log sigmoid(margin), written out."""
    return -math.log(1.0 / (1.0 + math.exp(-margin)))


# --------------------------------------------------------------------------------------------
# the loss


def test_eurus_rm_loss_matches_the_formula() -> None:
    r_c = torch.tensor([1.0, -0.5, 2.0, 0.0])
    r_r = torch.tensor([0.0, 0.5, -1.0, 0.0])
    direct = torch.tensor([True, False, True, False])

    # L_BT per row = -log s(r_c - r_r) = log(1 + exp(-(r_c - r_r)))
    bt = [
        math.log(1 + math.exp(-1.0)),  # margin 1
        math.log(1 + math.exp(1.0)),  # margin -1
        math.log(1 + math.exp(-3.0)),  # margin 3
        math.log(2.0),  # margin 0
    ]
    # L_DR per row = -log s(r_c) - log s(-r_r) = log(1 + exp(-r_c)) + log(1 + exp(r_r)); rows 0 and 2 only
    dr0 = math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(0.0))
    dr2 = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))
    want_bt = sum(bt) / 4
    want_bt_dr = (sum(bt) + dr0 + dr2) / 4
    assert want_bt == pytest.approx(0.5920645, abs=1e-6)
    assert want_bt_dr == pytest.approx(0.9537141, abs=1e-6)

    got_bt = eurus_rm_loss(r_c, r_r, direct, kind="bt")
    got_bt_dr = eurus_rm_loss(r_c, r_r, direct, kind="bt+dr")
    assert float(got_bt) == pytest.approx(want_bt, abs=1e-6)
    assert float(got_bt_dr) == pytest.approx(want_bt_dr, abs=1e-6)
    # "bt" ignores `direct`; "bt+dr" with no direct row is plain BT
    assert float(eurus_rm_loss(r_c, r_r, torch.ones(4, dtype=torch.bool), kind="bt")) == pytest.approx(want_bt)
    assert float(eurus_rm_loss(r_c, r_r, torch.zeros(4, dtype=torch.bool), kind="bt+dr")) == pytest.approx(want_bt)
    assert _bt(0.0) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="unknown reward loss"):
        eurus_rm_loss(r_c, r_r, direct, kind="dpo")  # type: ignore[arg-type]


def test_eurus_rm_loss_gradient_pushes_signs() -> None:
    """The direct term pushes a direct row's chosen reward up and rejected reward down even at equal rewards."""
    r_c = torch.zeros(2, requires_grad=True)
    r_r = torch.zeros(2, requires_grad=True)
    eurus_rm_loss(r_c, r_r, torch.tensor([True, False]), kind="bt+dr").backward()
    # d/dr_c at 0: BT -1/2 each, DR -1/2 on the direct row; mean over 2 rows
    assert r_c.grad.tolist() == pytest.approx([-0.5, -0.25])
    assert r_r.grad.tolist() == pytest.approx([0.5, 0.25])


# --------------------------------------------------------------------------------------------
# a tiny model in tmp_path


def _pairs(n: int, seed: int, *, direct_every: int = 2) -> pl.DataFrame:
    """Easy preference: chosen says 'good', rejected says 'bad'; the rest is shared noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        tail = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5)))
        history = []
        if i % 3 == 0:  # some multi-turn trajectories
            history = [{"from": "assistant", "value": f"try {body}"}, {"from": "user", "value": "Out: 0\nwrong"}]
        rows.append(
            {
                "id": f"p{seed}-{i}_1_1",
                "parent_id": f"p{seed}-{i}",
                "task": TASKS[i % 2],
                "dataset": "synthetic",
                "trajectory": [{"from": "user", "value": f"Question {i}: {body}?"}, *history],
                "chosen": f"{body} good {tail}",
                "rejected": f"{body} bad {tail}",
                "augmented": False,
                "ultrainteract": i % direct_every == 0,
            }
        )
    return pl.DataFrame(rows, schema=RM_SCHEMA)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised tiny causal LM folder (stand-in for models/sft)."""
    corpus = [f"Question {i}: {' '.join(WORDS)} good bad try Out: wrong" for i in range(50)]
    tokenizer = train_tokenizer(
        corpus, TokenizerParams(vocab_size=300, min_frequency=2, split_digits=True, digits_per_token=1)
    )
    arch = from_conf(
        ArchParams,
        "model.arch",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    model = build_model(arch, tokenizer, seed=0)
    folder = tmp_path_factory.mktemp("tiny") / "sft"
    save_model_folder(model, tokenizer, folder, {"stage": "test"})
    return folder


def test_tokenizer_pad_must_differ_from_eos(tiny_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load_reward_model(tiny_dir, seed=0)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.score.bias is None and tuple(model.score.weight.shape) == (1, 32)
    tokenizer.pad_token = tokenizer.eos_token
    broken = tmp_path / "broken"
    save_model_folder(model, tokenizer, broken, {})
    with pytest.raises(ValueError, match="equals eos"):
        load_reward_model(broken)


def test_padding_rewards_read_at_last_non_pad_token(tiny_dir: Path) -> None:
    model, tokenizer = load_reward_model(tiny_dir, seed=0)
    model.eval()
    frame = _pairs(4, seed=1)
    dataset = rm_dataset(frame)
    # the rows exactly as trl renders them: prompt + completion through the chat template
    chosen = [tokenize_conversation(tokenizer, ex["prompt"] + ex["chosen"]) for ex in dataset]
    rejected = [tokenize_conversation(tokenizer, ex["prompt"] + ex["rejected"]) for ex in dataset]
    examples = [
        {"chosen_ids": c, "rejected_ids": r, "ultrainteract": d}
        for c, r, d in zip(chosen, rejected, frame["ultrainteract"], strict=True)
    ]
    batch = EurusPreferenceCollator(pad_token_id=tokenizer.pad_token_id)(examples)
    rows = chosen + rejected
    lengths = torch.tensor([len(r) for r in rows])
    assert batch["direct"].tolist() == frame["ultrainteract"].to_list()
    assert (lengths < batch["input_ids"].shape[1]).any(), "the batch must hold padded rows"
    assert (batch["attention_mask"].sum(1) == lengths).all()

    with torch.no_grad():
        batched = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
        alone = torch.cat([model(input_ids=torch.tensor([r])).logits.reshape(1) for r in rows])
        hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        head = model.score(hidden).squeeze(-1)
    # a padded batch scores every sequence as it scores alone
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
    # ... because the score is the head at the last real token, not at a pad position
    last = lengths - 1
    torch.testing.assert_close(batched, head[torch.arange(len(rows)), last], rtol=1e-6, atol=1e-6)
    padded = lengths < batch["input_ids"].shape[1]
    assert not torch.allclose(batched[padded], head[padded, -1])
    # reward_scores (evaluation path) agrees with the training forward pass, whatever its batch size
    torch.testing.assert_close(reward_scores(model, tokenizer, rows, batch_size=3), alone, rtol=1e-5, atol=1e-5)
    # trl #937: distinct sequences must not all score alike, so the initial loss is not exactly log 2
    r_c, r_r = batched.chunk(2)
    assert (r_c - r_r).abs().max() > 1e-4
    assert abs(float(eurus_rm_loss(r_c, r_r, batch["direct"], kind="bt")) - math.log(2.0)) > 1e-5


def test_save_load_round_trip(tiny_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load_reward_model(tiny_dir, seed=3)
    frame = _pairs(6, seed=2)
    before = score_pairs(model, tokenizer, frame, batch_size=4)
    out = tmp_path / "rm"
    save_model_folder(model, tokenizer, out, {"stage": "rm"})
    loaded, loaded_tok = load_reward_model(out, seed=99)  # the saved head is loaded, not re-drawn
    assert loaded.config.architectures == ["LlamaForSequenceClassification"]
    assert loaded.config.num_labels == 1 and loaded.config.pad_token_id == tokenizer.pad_token_id
    assert weights_digest(loaded) == weights_digest(model)
    after = score_pairs(loaded, loaded_tok, frame, batch_size=4)
    assert after["r_chosen"].to_list() == before["r_chosen"].to_list()
    assert after["r_rejected"].to_list() == before["r_rejected"].to_list()


def test_trainer_routes_the_ultrainteract_flag(tiny_dir: Path, tmp_path: Path) -> None:
    from trl import RewardConfig

    model, tokenizer = load_reward_model(tiny_dir, seed=0)
    frame = _pairs(6, seed=4, direct_every=3)
    args = RewardConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=6,
        report_to=[],
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        seed=0,
    )
    trainer = EurusRewardTrainer(
        model=model,
        args=args,
        data_collator=EurusPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        train_dataset=rm_dataset(frame),
        processing_class=tokenizer,
        loss_kind="bt+dr",
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert sorted(batch) == ["attention_mask", "direct", "input_ids"]
    assert batch["direct"].sum().item() == 2  # rows 0 and 3 (order is shuffled)
    loss = trainer.compute_loss(trainer.model, dict(batch))
    r_c, r_r = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.chunk(2)
    torch.testing.assert_close(loss, eurus_rm_loss(r_c, r_r, batch["direct"], kind="bt+dr"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The tiny model gains nothing from intra-op threads, and a busy machine makes them spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_train_rm_learns_easy_preference_and_is_deterministic(tiny_dir: Path, tmp_path: Path, one_thread: None) -> None:
    train, heldout = _pairs(64, seed=10), _pairs(32, seed=11)
    params = RMParams(
        loss="bt+dr",
        optim=from_conf(
            OptimParams,
            "sft.optim",
            lr=3e-3,
            epochs=2,
            max_steps=-1,
            batch_size=8,
            max_length=128,
            logging_steps=4,
            warmup_ratio=0.1,
        ),
        mixture={},
    )
    runtime = from_conf(RuntimeParams, "runtime", device="cpu", progress=False)
    kw = {"seed": 0, "runtime": runtime, "card": {"stage": "rm"}}
    untrained, tok = load_reward_model(tiny_dir, seed=0)
    before = pair_metrics(score_pairs(untrained, tok, heldout))

    first = train_rm(tiny_dir, train, heldout, params, out_dir=tmp_path / "a", **kw)
    second = train_rm(tiny_dir, train, heldout, params, out_dir=tmp_path / "b", score_init=True, **kw)

    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["train_loss_final"] == second["train_loss_final"]
    assert first["steps"] == 16 and first["train_pairs_used"] == 64
    assert first["heldout_accuracy"] >= 0.9
    assert first["heldout_margin"] > before["margin"]
    assert set(first["heldout_accuracy_by_task"]) == set(TASKS)
    # with L_DR the chosen rewards move above 0 and the rejected ones below
    assert first["heldout_reward_chosen"] > 0 > first["heldout_reward_rejected"]
    losses = [row["loss"] for row in first["log"] if "loss" in row]
    assert losses[-1] < losses[0]
    # one row per held-out pair, in the data/rm/<key>/heldout_scores.parquet schema
    scores = first["heldout_scores"]
    assert scores.schema == HELDOUT_SCORES and scores.height == heldout.height
    assert scores["pair_id"].to_list() == heldout["id"].to_list()
    accuracy = (scores["chosen_reward"] > scores["rejected_reward"]).mean()
    assert accuracy == pytest.approx(first["heldout_accuracy"])
    assert scores["chosen_reward_init"].null_count() == heldout.height  # no baseline asked for
    init = second["heldout_scores"]  # scored the untrained head first: the same weights all the same
    assert (init["chosen_reward_init"] > init["rejected_reward_init"]).mean() == pytest.approx(before["accuracy"])

    # the saved folder loads back with identical rewards
    loaded, loaded_tok = load_reward_model(tmp_path / "a")
    assert weights_digest(loaded) == first["weights_sha256"]
    again = pair_metrics(score_pairs(loaded, loaded_tok, heldout, batch_size=16))
    assert again["accuracy"] == first["heldout_accuracy"]
    assert again["margin"] == pytest.approx(first["heldout_margin"], abs=1e-6)
    assert (tmp_path / "a" / "card.json").is_file()
