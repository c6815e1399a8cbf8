"""Constrained scalar types for the params dataclasses: the range or format sits next to the type.

    max_turns: PositiveInt            # params.yaml: interact.max_turns: 0 -> one-line error at compose
    fraction: Annotated[float, Range(ge=0, lt=1)]

:func:`preftree.config.validate.coerce` checks them; a bad value fails in one line naming the key,
the value and the allowed range.
"""

from __future__ import annotations

from typing import Annotated

from preftree.config.validate import InputPath, Pattern, Range

PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Probability = Annotated[float, Range(ge=0, le=1)]
HeldoutFraction = Annotated[float, Range(ge=0, lt=1)]  # a share set aside; 1 would leave nothing to train on
TopP = Annotated[float, Range(gt=0, le=1)]
Temperature = Annotated[float, Range(ge=0, le=10)]
Device = Annotated[str, Pattern(r"auto|cpu|mps|cuda(:\d+)?", "a device: auto, cpu, mps, cuda or cuda:N")]

# Paths the pipeline reads. Hub: a value that is not a local path may be a Hugging Face id.
InputFile = Annotated[str, InputPath("file")]
InputDir = Annotated[str, InputPath("dir")]
InputAny = Annotated[str, InputPath("any")]
FileOrHubId = Annotated[str, InputPath("any", hub=True)]
