"""dtype "auto" picks the device's fastest native dtype; names and overflow are checked."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.dtypes import cpu_has_native_bf16, resolve_dtype


def test_auto_on_cpu_follows_native_bf16(monkeypatch):
    monkeypatch.delenv("PETS_DTYPE", raising=False)
    want = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert resolve_dtype("auto", "cpu") == want
    assert pets.PetsEngine.from_preset("bert-tiny").backbone.dtype == want


@pytest.mark.parametrize("name, dtype", [("float32", torch.float32), ("bf16", torch.bfloat16),
                                         ("float16", torch.float16), (torch.bfloat16, torch.bfloat16)])
def test_names(name, dtype):
    assert resolve_dtype(name) == dtype


def test_env_override_and_bad_names(monkeypatch):
    monkeypatch.setenv("PETS_DTYPE", "bfloat16")
    assert resolve_dtype("auto") == torch.bfloat16
    with pytest.raises(pets.PetsError, match="choose one of"):
        resolve_dtype("float8")
    with pytest.raises(pets.PetsError, match="not served"):
        resolve_dtype(torch.int8)


@pytest.mark.parametrize("pet", ["lora", "adapter", "bitfit", "diff"])
def test_values_that_overflow_the_engine_dtype_are_refused(pet):
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype=torch.float16)
    eng.add_task(pets.TaskSpec(name="ok", pet=pet, num_labels=2))
    params = {k: v.clone() for k, v in eng.task_params("ok").items()}
    name = next(k for k, v in params.items() if v.is_floating_point() and "classifier" not in k)
    params[name] = params[name].float()
    params[name].view(-1)[0] = 1e5  # finite in fp32, inf in fp16
    before = eng.memory()
    with pytest.raises(pets.PetsError, match="not finite in the engine's dtype float16"):
        eng.add_task(pets.TaskSpec(name="big", pet=pet, num_labels=2), params)
    assert "big" not in eng.tasks and eng.memory().tasks == before.tasks
    eng.add_task(pets.TaskSpec(name="big", pet=pet, num_labels=2), eng.task_params("ok"))
