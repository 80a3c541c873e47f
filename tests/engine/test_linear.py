"""The backbone's shared linears: packed oneDNN weights give the plain `F.linear` results."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.engine.backbone import Backbone
from pets.engine.linear import choose_linear, packs
from pets.config import preset

needs_packing = pytest.mark.skipif(not packs(torch.float32), reason="oneDNN packing unavailable")


@needs_packing
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_packed_backbone_equals_plain(dtype, atol):
    plain = pets.PetsEngine(Backbone.random(preset("bert-tiny"), dtype=dtype, linear="plain"))
    packed = pets.PetsEngine(Backbone.random(preset("bert-tiny"), dtype=dtype, linear="packed"))
    assert (plain.backbone.linear_impl, packed.backbone.linear_impl) == ("plain", "packed")
    for eng in (plain, packed):
        eng.add_task(pets.TaskSpec(name="t", pet="lora", num_labels=2))
    qs = [pets.Query(task="t", input_ids=[101] + list(range(2000, 2000 + n))) for n in (3, 17, 40)]
    for a, b in zip(plain.infer(qs), packed.infer(qs)):
        torch.testing.assert_close(b.pooled.float(), a.pooled.float(), atol=atol, rtol=0)
    # the packed copy of the encoder's matrices is reported beside the weights
    assert packed.backbone.nbytes() == plain.backbone.nbytes()
    assert packed.memory().packed > 0 == plain.memory().packed


@needs_packing
def test_packed_backbone_pickles_and_repacks():
    import pickle

    eng = pets.PetsEngine(Backbone.random(preset("bert-tiny"), linear="packed"))
    eng.add_task(pets.TaskSpec(name="t", pet="bitfit", num_labels=2))
    copy = pickle.loads(pickle.dumps(eng.backbone))
    assert copy.linear_impl == "packed" and copy.packed_bytes() == eng.backbone.packed_bytes()
    q = [pets.Query(task="t", input_ids=[101, 2000, 2001])]
    other = pets.PetsEngine(copy)
    other.add_task(eng.task("t"), eng.task_params("t"))
    torch.testing.assert_close(other.infer(q)[0].pooled, eng.infer(q)[0].pooled, atol=1e-6, rtol=0)


def test_auto_and_env_override(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setenv("PETS_LINEAR", "plain")
    assert choose_linear("auto", cpu, torch.float32) == "plain"
    if packs(torch.float32):
        monkeypatch.setenv("PETS_LINEAR", "packed")
        assert choose_linear("auto", cpu, torch.float32) == "packed"
    monkeypatch.delenv("PETS_LINEAR")
    assert choose_linear("auto", cpu, torch.float32) == ("packed" if packs(torch.float32) else "plain")
    assert choose_linear("plain", cpu, torch.float32) == "plain"


def test_unknown_linear_is_a_clear_error():
    with pytest.raises(pets.PetsError, match="choose one of"):
        choose_linear("fast", torch.device("cpu"), torch.float32)
