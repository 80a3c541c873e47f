"""Bad task specs, task files and PEFT folders: each a PetsError that says what to do,
and the engine unchanged (issue 17: classes 1, 3, 5, 6)."""
from __future__ import annotations

import json

import pytest
import torch

import pets
from pets.pet.params import check_finite
from pets.pet.spec import MAX_ALPHA, MAX_BOTTLENECK, MAX_LABELS, MAX_RANK

GOOD = {"name": "t", "pet": "lora"}

# TaskSpec fields (as JSON would give them) -> what the message names.
BAD_SPECS = {
    "alpha inf": ({"alpha": float("inf")}, "alpha must be a finite number"),
    "alpha nan": ({"alpha": float("nan")}, "alpha"),
    "alpha beyond fp16": ({"alpha": 1e39}, "alpha"),
    "alpha string": ({"alpha": "16"}, "alpha"),
    "alpha bool": ({"alpha": True}, "alpha"),
    "bias string false": ({"pet": "diff", "bias": "false"}, "bias must be true or false"),
    "bias int": ({"pet": "diff", "bias": 1}, "bias must be true or false"),
    "targets int": ({"targets": 5}, "targets must be a list"),
    "targets of ints": ({"targets": [1, 2]}, "targets must be a list"),
    "targets dict": ({"targets": {"query": 1}}, "targets must be a list"),
    "rank huge": ({"rank": 10_000_000}, "what one machine can hold"),
    "rank float": ({"rank": 8.0}, "rank"),
    "bottleneck huge": ({"pet": "adapter", "bottleneck": MAX_BOTTLENECK + 1}, "bottleneck"),
    "labels huge": ({"num_labels": MAX_LABELS + 1}, "num_labels"),
    "labels bool": ({"num_labels": True}, "num_labels"),
    "density inf": ({"pet": "diff", "density": float("inf")}, "density"),
    "density bool": ({"pet": "mask", "density": True}, "density"),
    "pet int": ({"pet": 5}, "pet"),
    "pet null": ({"pet": None}, "pet"),
    "seed negative": ({"seed": -1}, "seed"),
    "seed float": ({"seed": 1.5}, "seed"),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_spec_fields(case):
    fields, match = BAD_SPECS[case]
    with pytest.raises(pets.InvalidSpecError, match=match):
        pets.TaskSpec.from_dict({**GOOD, **fields})


def test_bounds_are_inclusive():
    spec = pets.TaskSpec(name="t", pet="lora", rank=MAX_RANK, alpha=MAX_ALPHA, num_labels=MAX_LABELS)
    assert spec.rank == MAX_RANK and spec.alpha == MAX_ALPHA


@pytest.mark.parametrize("case", ["alpha inf", "bias string false", "targets int", "rank huge"])
def test_bad_pet_json_is_a_task_file_error(tmp_path, case):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="ok", pet="lora"))
    eng.save_task("ok", tmp_path / "ok")
    data = json.loads((tmp_path / "ok" / "pet.json").read_text())
    data.update(BAD_SPECS[case][0])
    (tmp_path / "ok" / "pet.json").write_text(json.dumps(data))
    before = dict(eng.tasks)
    with pytest.raises(pets.TaskFileError, match=BAD_SPECS[case][1]):
        eng.load_task(tmp_path / "ok", name="again")
    assert dict(eng.tasks) == before


def test_pet_json_with_a_bom_loads(tmp_path):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="ok", pet="bitfit"))
    eng.save_task("ok", tmp_path / "ok")
    spec_file = tmp_path / "ok" / "pet.json"
    spec_file.write_bytes(b"\xef\xbb\xbf" + spec_file.read_bytes())
    assert eng.load_task(tmp_path / "ok", name="bom").pet == "bitfit"


def test_save_task_to_an_unwritable_path(tmp_path):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="ok", pet="bitfit"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(pets.TaskFileError, match="pick a writable folder"):
        eng.save_task("ok", blocker / "sub")


@pytest.mark.parametrize("value,dtype,ok", [
    (1e5, torch.float32, True), (1e5, torch.float16, False), (1e5, torch.bfloat16, True),
    (1e39, torch.bfloat16, False), (60000.0, torch.float16, True),
])
def test_finite_after_the_cast(value, dtype, ok):
    t = torch.full((3,), value, dtype=torch.float64)
    if ok:
        check_finite("t", "x", t, dtype)
    else:
        with pytest.raises(pets.InvalidParamsError, match="range"):
            check_finite("t", "x", t, dtype)


def test_fp64_values_beyond_fp32_are_refused():
    with pytest.raises(pets.InvalidParamsError, match="range"):
        check_finite("t", "x", torch.tensor([1e300], dtype=torch.float64), torch.float32)
