"""Slot stores: loading is a copy into a slot, slots are reused, growth keeps contents,
and a batch's results do not depend on which or how many other tasks are loaded."""
from __future__ import annotations

import torch

import pets
from pets.pet.slots import DenseSlots
from tests.conftest import assert_results_close


def test_dense_slots_grow_and_reuse():
    store = DenseSlots({"a": (2, 3), "s": ()}, torch.device("cpu"), torch.float32, capacity=1)
    slots = [store.add({"a": torch.full((2, 3), float(i)), "s": torch.tensor(i)}) for i in range(5)]
    assert slots == [0, 1, 2, 3, 4] and store.capacity >= 5
    for i in range(5):
        assert torch.equal(store.view(i)["a"], torch.full((2, 3), float(i)))
    store.remove(1)
    store.remove(3)
    assert store.add({"a": torch.zeros(2, 3), "s": torch.tensor(9)}) == 1
    taken = store.take("s", torch.tensor([4, 1, 0]))
    assert taken.tolist() == [4, 9, 0]
    assert len(store) == 4


def _engine():
    return pets.PetsEngine.from_preset("bert-tiny", dtype=torch.float32, seed=0)


def test_results_do_not_depend_on_other_loaded_tasks():
    specs = [pets.TaskSpec(name="l", pet="lora", rank=4, num_labels=2),
             pets.TaskSpec(name="b", pet="bitfit", num_labels=3),
             pets.TaskSpec(name="m", pet="mask", density=0.05)]
    alone = _engine()
    crowded = _engine()
    for i in range(20):
        crowded.add_task(pets.TaskSpec(name=f"x{i}", pet=["lora", "bitfit", "mask"][i % 3], rank=4))
    for spec in specs:
        alone.add_task(spec)
        crowded.add_task(spec)
    for i in range(0, 20, 2):  # free slots in the middle of the stores
        crowded.remove_task(f"x{i}")
    crowded.add_task(pets.TaskSpec(name="late", pet="lora", rank=4))
    qs = [pets.Query(task=s.name, input_ids=[101, 2000 + i, 3000, 102]) for i, s in enumerate(specs)]
    for a, b in zip(alone.infer(qs), crowded.infer(qs)):
        assert_results_close(a, b)
    for spec in specs:
        for name, t in alone.task_params(spec.name).items():
            assert torch.equal(t, crowded.task_params(spec.name)[name])


def test_removing_the_last_task_of_a_group_frees_its_store():
    eng = _engine()
    eng.add_task(pets.TaskSpec(name="a", pet="adapter", bottleneck=8))
    eng.add_task(pets.TaskSpec(name="b", pet="adapter", bottleneck=16))
    eng.remove_task("a")
    eng.remove_task("b")
    assert eng.memory().tasks == {}
    eng.add_task(pets.TaskSpec(name="a", pet="adapter", bottleneck=8))
    assert eng.infer([pets.Query(task="a", input_ids=[101, 102])])[0].pooled.isfinite().all()
