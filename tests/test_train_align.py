"""Preference learning (Eurus §2.2): the DPO / NCA / KTO losses and a short real training run.

The loss tests feed fixed sequence log-probabilities through the exact trl code the stage trains with
(``DPOTrainer._compute_loss`` with loss_type sigmoid / nca_pair, ``KTOTrainer._compute_loss`` with
loss_type kto, on trainers built by ``build_trainer``) and compare with numbers written out from the
formulas, and with the pure functions of ``preftree.train.losses``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import torch

from preftree.compose import from_conf
from preftree.config.model import ArchParams, TokenizerParams
from preftree.config.runtime import RuntimeParams
from preftree.config.train import AlignMethodParams, OptimParams
from preftree.models.checkpoint import save_model_folder
from preftree.models.tiny import build_model
from preftree.models.tokenizer import train_tokenizer
from preftree.schema import PAIR_SCHEMA
from preftree.train.align import ROW_COLUMNS, build_trainer, kto_dataset, pairs_dataset, train_align
from preftree.train.common import load_policy, weights_digest
from preftree.train.losses import dpo_loss, implicit_reward, kto_loss, nca_loss
from preftree.tree import kto_view

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RUNTIME = from_conf(RuntimeParams, "runtime", device="cpu", progress=False)
TINY_ARCH = from_conf(
    ArchParams,
    "model.arch",
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=256,
)
OPTIM = from_conf(
    OptimParams, "sft.optim", lr=5e-3, max_steps=3, batch_size=2, max_length=128, logging_steps=1, warmup_ratio=0.0
)


def sp(x: float) -> float:
    """softplus: -log sigmoid(z) = sp(-z)."""
    return math.log1p(math.exp(x))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------------------------
# fixtures: a tiny model folder and a few pairs


def _pair(i: int) -> dict:
    a, b = 3 + i, 5 + 2 * i
    question = f"Write Python code to solve the task.\nCompute {a} + {b}."
    good = f"Step 1: Add {a} and {b}.\n```python\nprint({a} + {b})\n```"
    bad = f"Step 1: Subtract {b} from {a}.\n```python\nprint({a} - {b})\n```"
    trajectory = [{"from": "user", "value": question}]
    if i % 3 == 2:  # a second-turn pair: the earlier wrong action and its critique are in the prompt
        trajectory += [
            {"from": "assistant", "value": bad},
            {"from": "user", "value": f"Out: {a - b}\nYour answer is wrong.\nStep 1 should add, not subtract."},
        ]
    return {
        "id": f"p{i}_{len(trajectory) // 2 + 1}",
        "parent_id": f"p{i}",
        "task": "Coding",
        "dataset": "synthetic",
        "trajectory": trajectory,
        "chosen": good,
        "rejected": bad,
    }


@pytest.fixture(scope="module")
def pairs() -> pl.DataFrame:
    return pl.DataFrame([_pair(i) for i in range(8)], schema=PAIR_SCHEMA)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, pairs: pl.DataFrame) -> Path:
    texts = [m["value"] for row in pairs.iter_rows(named=True) for m in row["trajectory"]]
    texts += pairs["chosen"].to_list() + pairs["rejected"].to_list()
    tokenizer = train_tokenizer(
        texts * 3, TokenizerParams(vocab_size=320, min_frequency=2, split_digits=True, digits_per_token=1)
    )
    model = build_model(TINY_ARCH, tokenizer, seed=0)
    folder = tmp_path_factory.mktemp("align") / "sft"
    save_model_folder(model, tokenizer, folder, {"name": "tiny-sft", "stage": "test"})
    return folder


def _trainer(tiny_dir: Path, frame: pl.DataFrame, params: AlignMethodParams, tmp_path: Path):  # noqa: ANN202
    trainer = build_trainer(tiny_dir, frame, params, seed=0, runtime=RUNTIME, work_dir=tmp_path / "work")
    trainer.model.train()
    trainer.precompute_ref_logps = True  # the reference log-probs come from the batch: fixed numbers
    return trainer


class FixedLogProbs(torch.nn.Module):
    """Stands in for the fused-LM-head model: returns given per-sequence log-probs for known input ids."""

    def __init__(self, by_first_token: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.by_first_token = by_first_token

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, fused_lm_head: bool, **kwargs) -> SimpleNamespace:
        assert fused_lm_head
        logps = self.by_first_token[int(input_ids[0, 0])]
        per_token = logps.view(-1, 1).clone().requires_grad_(True)  # [batch, seq_len - 1] with seq_len 2
        zeros = torch.zeros_like(per_token)
        return SimpleNamespace(
            log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool(), aux_loss=None
        )


def _two_token_batch(n: int, first_token: int) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.full((n, 2), first_token, dtype=torch.long),
        "attention_mask": torch.ones(n, 2, dtype=torch.long),
        "completion_mask": torch.tensor([[0, 1]] * n, dtype=torch.long),
    }


# --------------------------------------------------------------------------------------------
# losses: formulas, pure functions and trl

# policy / reference log-probs of two pairs: chosen log-ratios [2, -1], rejected log-ratios [-1, 3]
PC, RC = torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -19.0])
PR, RR = torch.tensor([-15.0, -30.0]), torch.tensor([-14.0, -33.0])
# beta = 0.1: r_c = [0.2, -0.1], r_r = [-0.1, 0.3]
DPO_HAND = [sp(-0.3), sp(0.4)]  # -log sigmoid(r_c - r_r)
NCA_HAND = [
    sp(-0.2) + 0.5 * sp(0.2) + 0.5 * sp(-0.1),  # -log s(r_c) - 1/2 log s(-r_c) - 1/2 log s(-r_r)
    sp(0.1) + 0.5 * sp(-0.1) + 0.5 * sp(0.3),
]

# KTO: four unpaired completions (desirable, undesirable, desirable, undesirable), log-ratios [1, -1, 0.5, 2]
KTO_LABELS = torch.tensor([True, False, True, False])
KTO_P, KTO_R = torch.tensor([-5.0, -7.0, -9.0, -4.0]), torch.tensor([-6.0, -6.0, -9.5, -6.0])
KL_P, KL_R = torch.tensor([-3.0, -8.0, -2.0, -1.0]), torch.tensor([-3.5, -8.2, -2.4, -1.1])  # KL estimate 0.3
# beta 0.1, lambda_D 1.33, lambda_U 1: desirable 1.33 (1 - s(0.1 (r - 0.3))), undesirable 1 - s(0.1 (0.3 - r))
KTO_HAND = [1.33 * (1 - sig(0.07)), 1 - sig(0.13), 1.33 * (1 - sig(0.02)), 1 - sig(-0.17)]
# the same with a negative KL estimate (-0.5), clamped to 0
KTO_HAND_CLAMPED = [1.33 * (1 - sig(0.1)), 1 - sig(0.1), 1.33 * (1 - sig(0.05)), 1 - sig(-0.2)]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_pure_losses_match_the_formulas() -> None:
    assert dpo_loss(PC, PR, RC, RR, 0.1).tolist() == pytest.approx(DPO_HAND, rel=1e-6)
    assert nca_loss(PC, PR, RC, RR, 0.1).tolist() == pytest.approx(NCA_HAND, rel=1e-6)
    kl = (KL_P - KL_R).mean()
    assert kto_loss(KTO_P, KTO_R, KTO_LABELS, kl, 0.1, 1.33, 1.0).tolist() == pytest.approx(KTO_HAND, rel=1e-5)
    clamped = kto_loss(KTO_P, KTO_R, KTO_LABELS, torch.tensor(-0.5), 0.1, 1.33, 1.0)
    assert clamped.tolist() == pytest.approx(KTO_HAND_CLAMPED, rel=1e-5)
    assert implicit_reward(PC, RC, 0.1).tolist() == pytest.approx([0.2, -0.1])
    # beta enters DPO only through the margin
    assert dpo_loss(PC, PR, RC, RR, 0.5).tolist() == pytest.approx([sp(-1.5), sp(2.0)], rel=1e-6)


@pytest.mark.parametrize(("loss", "hand", "pure"), [("sigmoid", DPO_HAND, dpo_loss), ("nca_pair", NCA_HAND, nca_loss)])
def test_trl_pair_losses_match_the_formulas(
    loss: str, hand: list[float], pure, tiny_dir: Path, pairs: pl.DataFrame, tmp_path: Path
) -> None:
    trainer = _trainer(
        tiny_dir, pairs, from_conf(AlignMethodParams, "align.dpo", loss=loss, beta=0.1, optim=OPTIM), tmp_path
    )
    assert trainer.loss_types == [loss] and trainer.beta == 0.1
    inputs = _two_token_batch(4, first_token=7)  # rows: chosen of both pairs, then rejected of both
    inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = RC, RR
    model = FixedLogProbs({7: torch.cat([PC, PR])})
    got = trainer._compute_loss(model, inputs, return_outputs=False).item()
    assert got == pytest.approx(mean(hand), rel=1e-6)
    assert got == pytest.approx(pure(PC, PR, RC, RR, 0.1).mean().item(), rel=1e-6)
    logged = trainer._metrics["train"]
    assert logged["rewards/chosen"][-1] == pytest.approx(0.05, abs=1e-6)  # mean of beta * log-ratio: (0.2 - 0.1) / 2
    assert logged["rewards/rejected"][-1] == pytest.approx(0.1, abs=1e-6)  # (-0.1 + 0.3) / 2
    assert logged["rewards/margins"][-1] == pytest.approx(-0.05, abs=1e-6)


@pytest.mark.parametrize(("ref_kl_shift", "hand", "kl"), [(0.0, KTO_HAND, 0.3), (1.0, KTO_HAND_CLAMPED, 0.0)])
def test_trl_kto_loss_matches_the_formula(
    ref_kl_shift: float, hand: list[float], kl: float, tiny_dir: Path, pairs: pl.DataFrame, tmp_path: Path
) -> None:
    params = AlignMethodParams(
        loss="kto", beta=0.1, desirable_weight=1.33, undesirable_weight=1.0, optim=OPTIM, mixture={}
    )
    trainer = _trainer(tiny_dir, kto_view(pairs), params, tmp_path)
    assert (trainer.loss_type, trainer.beta, trainer.desirable_weight, trainer.undesirable_weight) == (
        "kto",
        0.1,
        1.33,
        1.0,
    )
    inputs = _two_token_batch(4, first_token=7)
    kl_inputs = _two_token_batch(4, first_token=8)
    inputs.update({f"KL_{k}": v for k, v in kl_inputs.items()})
    inputs["label"] = KTO_LABELS
    inputs["ref_logps"], inputs["ref_KL_logps"] = KTO_R, KL_R + ref_kl_shift
    model = FixedLogProbs({7: KTO_P, 8: KL_P})
    got = trainer._compute_loss(model, inputs, return_outputs=False).item()
    assert got == pytest.approx(mean(hand), rel=1e-5)
    kl_estimate = (KL_P - (KL_R + ref_kl_shift)).mean()
    pure = kto_loss(KTO_P, KTO_R, KTO_LABELS, kl_estimate, 0.1, 1.33, 1.0)
    assert got == pytest.approx(pure.mean().item(), rel=1e-5)
    logged = trainer._metrics["train"]
    assert logged["kl"][-1] == pytest.approx(kl, abs=1e-5)
    assert logged["rewards/chosen"][-1] == pytest.approx(0.075, abs=1e-6)  # 0.1 * (1 + 0.5) / 2
    assert logged["rewards/rejected"][-1] == pytest.approx(0.05, abs=1e-6)  # 0.1 * (-1 + 2) / 2
    assert logged["rewards/margins"][-1] == pytest.approx(0.025, abs=1e-6)


# --------------------------------------------------------------------------------------------
# datasets


def test_datasets_are_conversational(pairs: pl.DataFrame) -> None:
    ds = pairs_dataset(pairs)
    assert len(ds) == pairs.height and set(ds.column_names) == {"prompt", "chosen", "rejected"}
    multi = ds[2]
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
    assert multi["prompt"][1]["content"] == pairs["rejected"][2]  # the earlier wrong action is in the prompt
    assert multi["chosen"] == [{"role": "assistant", "content": pairs["chosen"][2]}]
    assert multi["rejected"] == [{"role": "assistant", "content": pairs["rejected"][2]}]
    kto = kto_dataset(kto_view(pairs))
    assert len(kto) == 2 * pairs.height and sum(kto["label"]) == pairs.height
    assert kto[0]["prompt"] == ds[0]["prompt"] and kto[0]["completion"] == ds[0]["chosen"] and kto[0]["label"]
    with pytest.raises(ValueError, match="trajectory"):
        pairs_dataset(pairs.drop("trajectory"))
    bad = pairs.with_columns(pl.col("trajectory").list.slice(0, 2)).slice(2, 1)  # ends with an assistant turn
    with pytest.raises(ValueError, match="end with a user message"):
        pairs_dataset(bad)


# --------------------------------------------------------------------------------------------
# a short real run per method


@pytest.mark.parametrize("loss", ["sigmoid", "nca_pair", "kto"])
def test_train_align_runs_logs_rewards_and_is_deterministic(
    loss: str, tiny_dir: Path, pairs: pl.DataFrame, tmp_path: Path
) -> None:
    params = from_conf(AlignMethodParams, "align.dpo", loss=loss, optim=OPTIM)
    frame = kto_view(pairs) if loss == "kto" else pairs
    initial = weights_digest(load_policy(tiny_dir)[0])
    runs = [
        train_align(
            loss, tiny_dir, frame, params, seed=0, runtime=RUNTIME, out_dir=tmp_path / f"out{i}", card={"stage": "t"}
        )
        for i in range(2)
    ]
    first, second = runs
    rows = first["rows"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(set(r) == set(ROW_COLUMNS) for r in rows)
    assert all(math.isfinite(r["loss"]) for r in rows)
    if loss == "kto":  # a 2-row KTO batch may hold one label only: that side's reward is NaN for the window
        assert all(math.isfinite(r["rewards_chosen"]) or math.isfinite(r["rewards_rejected"]) for r in rows)
    else:
        assert all(math.isfinite(v) for r in rows for v in r.values())
    moved = [r for r in rows[1:] for k in ("rewards_chosen", "rewards_rejected") if math.isfinite(r[k]) and r[k] != 0]
    assert moved  # the policy moved off the reference
    for name in ("loss", "rewards_chosen", "rewards_rejected", "margins"):
        values = [r[name] for r in rows if math.isfinite(r[name])]
        assert first[f"{name}_final"] == values[-1]
        assert first[f"{name}_mean"] == pytest.approx(sum(values) / len(values))
    assert first["steps"] == 3 and first["seconds"] > 0 and first["examples"] == frame.height
    # deterministic: bit-identical weights and logs
    assert first["weights_sha256"] == second["weights_sha256"] != initial
    assert str(first["rows"]) == str(second["rows"])  # (NaN != NaN, so compare the text)
    # the saved folder holds those weights, and a card
    saved, _ = load_policy(tmp_path / "out0")
    assert weights_digest(saved) == first["weights_sha256"]
    card = (tmp_path / "out0" / "card.json").read_text()
    assert first["weights_sha256"] in card and '"stage": "t"' in card


def test_train_align_rejects_bad_settings(tiny_dir: Path, pairs: pl.DataFrame, tmp_path: Path) -> None:
    kto = from_conf(AlignMethodParams, "align.dpo", loss="kto", optim=dataclasses.replace(OPTIM, batch_size=1))
    with pytest.raises(ValueError, match="batch_size >= 2"):
        build_trainer(tiny_dir, kto_view(pairs), kto, seed=0, runtime=RUNTIME, work_dir=tmp_path)
    long = from_conf(AlignMethodParams, "align.dpo", optim=dataclasses.replace(OPTIM, max_length=4096))
    with pytest.raises(ValueError, match="max_length"):
        build_trainer(tiny_dir, pairs, long, seed=0, runtime=RUNTIME, work_dir=tmp_path)
