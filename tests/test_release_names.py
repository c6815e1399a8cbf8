"""preftree.release_names: the project's source names spelled as in the UltraInteract release."""

from __future__ import annotations

import polars as pl
import pytest

from preftree.release_names import RELEASE_DATASET_NAMES, release_dataset_name, with_release_dataset_names


def test_the_table_holds_the_dataset_cards_spellings() -> None:
    assert dict(RELEASE_DATASET_NAMES) == {
        "math": "MATH",
        "codecontests": "codecontest",
        "mathqa": "mathqa",
        "hotpotqa": "hotpotqa",
    }
    with pytest.raises(TypeError):
        RELEASE_DATASET_NAMES["taco"] = "TACO"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "release"),
    [("math", "MATH"), ("codecontests", "codecontest"), ("mathqa", "mathqa"), ("hotpotqa", "hotpotqa"),
     ("gsm8k", "gsm8k"), ("taco", "taco"), ("synthetic", "synthetic"), ("MATH", "MATH"), ("", "")],
)  # fmt: skip
def test_names_map_and_unknown_names_pass_through(name: str, release: str) -> None:
    assert release_dataset_name(name) == release


def test_frames_change_only_the_dataset_column() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c", "d"], "dataset": ["math", "codecontests", "taco", "math"]})
    out = with_release_dataset_names(frame)
    assert out["dataset"].to_list() == ["MATH", "codecontest", "taco", "MATH"]
    assert out["id"].equals(frame["id"]) and out.schema == frame.schema
    assert with_release_dataset_names(frame.clear()).schema == frame.schema
