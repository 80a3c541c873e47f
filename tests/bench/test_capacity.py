"""The capacity bench really loads tasks up to the budget, and PET tasks beat dense copies."""
from __future__ import annotations

import pytest

import pets
import pets.viz
from pets.bench.capacity import summary_lines
from pets.bench.registry import run
from pets.pet.mixes import PET_GROUPS


@pytest.fixture(scope="module")
def df():
    return run("capacity", "quick", preset="bert-tiny", budget_copies=2, prototypes=1,
               groups=("adapter", "mask", "mix"), progress=False)


def test_rows_and_columns(df):
    assert list(df.group) == ["dense", "adapter", "mask", "mix"]
    assert {"tasks", "bytes_per_task", "share_of_dense", "ratio_vs_dense", "used_bytes",
            "budget_bytes", "storage"} <= set(df.columns)
    assert df.loc[df.group == "dense", "tasks"].iloc[0] == 2


def test_budget_is_respected_and_nearly_filled(df):
    pet = df[df.group != "dense"]
    assert (pet.used_bytes <= pet.budget_bytes).all()
    # one more task of the group would not have fitted
    assert ((pet.budget_bytes - pet.used_bytes) < 4 * pet.bytes_per_task).all()


def test_pet_tasks_outnumber_dense_copies(df):
    pet = df[df.group != "dense"]
    assert (pet.ratio_vs_dense > 1).all()
    assert (pet.share_of_dense < 0.1).all()
    assert "int16" in df.set_index("group").storage["mask"]


def test_summary_and_figure_name_every_group(df):
    lines = summary_lines(df)
    assert len(lines) == 1 + len(df) and "x dense" in lines[-1]
    assert list(pets.viz.capacity_bars(df).data[0].x) == list(df.group)


def test_unknown_group_and_scale_are_pets_errors():
    with pytest.raises(pets.PetsError, match="unknown capacity group"):
        run("capacity", "quick", groups=("prefix",), progress=False)
    with pytest.raises(pets.PetsError, match="unknown scale"):
        run("capacity", "huge", progress=False)
    with pytest.raises(pets.PetsError, match="unknown setting"):
        run("capacity", "quick", budget=3, progress=False)
    assert set(PET_GROUPS["mix"][i]["pet"] for i in range(4)) == {"adapter", "mask", "diff", "bitfit"}
