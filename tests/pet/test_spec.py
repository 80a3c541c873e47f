"""TaskSpec validation and defaults."""
from __future__ import annotations

import pytest

import pets


@pytest.mark.parametrize("pet,targets,density", [
    ("lora", ("query", "value"), None),
    ("adapter", ("attn_out", "output"), None),
    ("bitfit", ("query", "key", "value", "attn_out", "intermediate", "output"), None),
    ("diff", ("query", "key", "value", "attn_out", "intermediate", "output"), 0.005),
    ("mask", ("query", "key", "value", "attn_out", "intermediate", "output"), 0.05),
])
def test_defaults_are_resolved(pet, targets, density):
    spec = pets.TaskSpec(name="t", pet=pet)
    assert spec.targets == targets
    assert spec.density == density


@pytest.mark.parametrize("kwargs,match", [
    (dict(pet="lora", rank=0), "rank"),
    (dict(pet="lora", rank=2.5), "rank"),
    (dict(pet="lora", alpha=0), "alpha"),
    (dict(pet="adapter", bottleneck=0), "bottleneck"),
    (dict(pet="diff", density=0.0), "density"),
    (dict(pet="mask", density=1.5), "density"),
    (dict(pet="lora", targets=("query", "attention")), "targets"),
    (dict(pet="adapter", targets=("query",)), "targets"),
    (dict(pet="lora", targets=("query", "query")), "targets"),
    (dict(pet="lora", targets=()), "targets"),
    (dict(pet="prefix"), "unknown pet"),
    (dict(pet="lora", num_labels=-1), "num_labels"),
])
def test_invalid_specs_raise_clear_errors(kwargs, match):
    with pytest.raises(pets.InvalidSpecError, match=match):
        pets.TaskSpec(name="t", **kwargs)


@pytest.mark.parametrize("name", ["", "a b", "../x", "-x", "x" * 65, 3])
def test_invalid_names(name):
    with pytest.raises(pets.InvalidSpecError, match="name"):
        pets.TaskSpec(name=name, pet="lora")


def test_round_trip_through_dict():
    spec = pets.TaskSpec(name="t", pet="diff", density=0.01, bias=True, num_labels=3)
    assert pets.TaskSpec.from_dict(spec.to_dict()) == spec


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(pets.InvalidSpecError, match="unknown TaskSpec fields"):
        pets.TaskSpec.from_dict({"name": "t", "pet": "lora", "rnak": 4})
