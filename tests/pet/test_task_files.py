"""Saving and loading task folders; removing tasks; memory accounting."""
from __future__ import annotations

import json

import pytest
import torch

import pets
from tests.conftest import MIXED_SPECS, mixed_queries, tiny_engine


@pytest.fixture
def eng():
    return tiny_engine()


def test_save_then_load_is_bit_identical(eng, tmp_path):
    queries = mixed_queries(eng)
    before = eng.infer(queries)
    fresh = pets.PetsEngine(eng.backbone)
    for name in eng.tasks:
        eng.save_task(name, tmp_path / name)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["pet.json", "pet.safetensors"]
        fresh.load_task(tmp_path / name)
    assert dict(fresh.tasks) == dict(eng.tasks)
    for a, b in zip(before, fresh.infer(queries)):
        assert torch.equal(a.pooled, b.pooled)
        assert (a.logits is None and b.logits is None) or torch.equal(a.logits, b.logits)


def test_task_file_names_follow_hf_parameters(eng, tmp_path):
    from safetensors.torch import load_file

    expected = {
        "lora-r2": "encoder.layer.0.attention.self.query.lora_A",
        "adapter-16": "encoder.layer.1.output.adapter.up.weight",
        "bitfit": "encoder.layer.0.attention.output.LayerNorm.bias",
        "diff-bias": "encoder.layer.1.intermediate.dense.weight.indices",
        "mask": "encoder.layer.0.output.dense.weight.zeroed",
    }
    for task, key in expected.items():
        eng.save_task(task, tmp_path / task)
        names = load_file(str(tmp_path / task / "pet.safetensors"))
        assert key in names
        assert ("classifier.weight" in names) == (eng.tasks[task].num_labels > 0)
    spec = json.loads((tmp_path / "mask" / "pet.json").read_text())
    assert spec["pet"] == "mask" and spec["density"] == 0.05


def test_load_under_another_name(eng, tmp_path):
    eng.save_task("lora-r2", tmp_path / "t")
    spec = eng.load_task(tmp_path / "t", name="lora-copy")
    assert spec.name == "lora-copy" and eng.tasks["lora-copy"].rank == 2
    q = [101, 2000, 3000]
    a = eng.infer([pets.Query(task="lora-r2", input_ids=q)])[0]
    b = eng.infer([pets.Query(task="lora-copy", input_ids=q)])[0]
    assert torch.equal(a.pooled, b.pooled) and torch.equal(a.logits, b.logits)


def test_removing_a_task_leaves_the_others_unchanged(eng):
    queries = [q for q in mixed_queries(eng) if q.task != "adapter-16"]
    before = eng.infer(queries)
    eng.remove_task("adapter-16")
    assert "adapter-16" not in eng.tasks
    for a, b in zip(before, eng.infer(queries)):
        assert torch.equal(a.pooled, b.pooled)


def test_add_remove_add_again(eng):
    spec = eng.tasks["mask"]
    q = [pets.Query(task="mask", input_ids=[101, 7592, 102])]
    before = eng.infer(q)[0]
    eng.remove_task("mask")
    eng.add_task(spec)  # same seed -> same random params
    assert torch.equal(before.pooled, eng.infer(q)[0].pooled)


def test_memory_accounting(eng):
    mem = eng.memory()
    assert set(mem.tasks) == {s["name"] for s in MIXED_SPECS}
    assert mem.total == mem.shared + sum(mem.tasks.values())
    assert all(0 < b < mem.shared / 10 for b in mem.tasks.values())
    assert mem.dense_total == mem.shared * len(MIXED_SPECS)
    cfg = eng.config
    # A [2, 128] + B [128, 2] on query and value of each layer, its scale, fp32, plus a 2-label head
    expected = 4 * (cfg.num_hidden_layers * 2 * (2 * 128 * 2) + 1 + 2 * 128 + 2)
    assert mem.tasks["lora-r2"] == expected
