"""The preference losses of Eurus §2.2 as pure functions of sequence log-probabilities.

Every argument is a 1-D tensor of *summed* completion log-probabilities, one entry per example:
``pc``/``pr`` are the policy's on the chosen/rejected completion, ``rc``/``rr`` the reference
model's. The implicit reward is ``r(x, y) = beta * (log pi_theta(y|x) - log pi_ref(y|x))``.

These functions return *per-example* losses; the batch loss the trainers optimise is their mean.
They are the reference the tests hold trl's own loss code to (the stage trains with trl:
``DPOTrainer`` with ``loss_type`` ``sigmoid`` / ``nca_pair`` and ``KTOTrainer`` with ``loss_type="kto"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def implicit_reward(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """``beta * log pi_theta(y|x) / pi_ref(y|x)``: the rewards/chosen and rewards/rejected that trainers log."""
    return beta * (policy_logps - ref_logps)


def dpo_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: ``-log sigmoid(r(x, y_c) - r(x, y_r))``."""
    margin = implicit_reward(pc, rc, beta) - implicit_reward(pr, rr, beta)
    return -F.logsigmoid(margin)


def nca_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float) -> torch.Tensor:
    """NCA (pairwise): ``-log sigmoid(r_c) - 1/2 log sigmoid(-r_c) - 1/2 log sigmoid(-r_r)``.

    The first term pulls the chosen reward up in absolute terms (not only relative to the rejected one),
    the other two keep both rewards from growing without bound.
    """
    r_c = implicit_reward(pc, rc, beta)
    r_r = implicit_reward(pr, rr, beta)
    return -F.logsigmoid(r_c) - 0.5 * F.logsigmoid(-r_c) - 0.5 * F.logsigmoid(-r_r)


def kto_loss(
    pc: torch.Tensor,
    rc: torch.Tensor,
    labels: torch.Tensor,
    kl: torch.Tensor | float,
    beta: float,
    desirable_weight: float,
    undesirable_weight: float,
) -> torch.Tensor:
    """KTO on unpaired completions: ``pc``/``rc`` are policy/reference log-probs of each completion,
    ``labels`` True for desirable (chosen) and False for undesirable (rejected) ones.

    ``kl`` is the batch estimate of KL(pi_theta || pi_ref) in log-prob units: the mean of
    ``policy - reference`` log-probs over mismatched (prompt, completion) pairs. It is clamped at 0 and
    carries no gradient. With ``z0 = beta * max(0, kl)`` in reward units::

        desirable:   lambda_D * (1 - sigmoid(r(x, y) - z0))
        undesirable: lambda_U * (1 - sigmoid(z0 - r(x, y)))

    i.e. ``sigmoid(beta * (log-ratio - KL))`` as in the KTO paper (Eq. 7) and trl: beta scales the KL
    reference point too.
    """
    kl_t = torch.as_tensor(kl, dtype=pc.dtype, device=pc.device).detach().clamp(min=0)
    logratios = pc - rc
    desirable = desirable_weight * (1 - torch.sigmoid(beta * (logratios - kl_t)))
    undesirable = undesirable_weight * (1 - torch.sigmoid(beta * (kl_t - logratios)))
    return torch.where(labels.to(torch.bool), desirable, undesirable)
