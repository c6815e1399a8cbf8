"""``runtime.device`` -> a torch device: the one place that picks cuda, mps or cpu for "auto"."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """runtime.device -> a torch device ("auto": cuda, then mps, then cpu); a torch device is returned as is."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)
