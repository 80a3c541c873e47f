"""One writer adding/removing tasks while readers run batches: no crash, no corrupt
result, and a removed task's queries fail with UnknownTaskError."""
from __future__ import annotations

import threading

import torch

import pets
from tests.conftest import assert_results_close


def test_add_remove_while_inferring():
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype=torch.float32, seed=0)
    stable = [pets.TaskSpec(name=f"s{p}", pet=p, num_labels=2)
              for p in ("lora", "adapter", "bitfit", "diff", "mask")]
    for spec in stable:
        eng.add_task(spec)
    queries = [pets.Query(task=s.name, input_ids=[101, 2000 + i, 3000, 102]) for i, s in enumerate(stable)]
    expected = eng.infer(queries)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                for a, b in zip(eng.infer(queries), expected):
                    assert_results_close(a, b)
                eng.memory()
                dict(eng.tasks)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def churn():
        try:
            for i in range(40):
                pet = ("lora", "adapter", "bitfit", "diff", "mask")[i % 5]
                eng.add_task(pets.TaskSpec(name=f"c{i}", pet=pet, num_labels=2))
                q = pets.Query(task=f"c{i}", input_ids=[101, 102])
                try:
                    eng.infer([q])
                except pets.UnknownTaskError:
                    pass
                if i >= 2:
                    eng.remove_task(f"c{i - 2}")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writer = threading.Thread(target=churn)
    for t in readers + [writer]:
        t.start()
    writer.join(timeout=120)
    stop.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert set(eng.tasks) == {s.name for s in stable} | {"c38", "c39"}


def test_removed_task_fails_with_a_clear_error():
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype=torch.float32)
    eng.add_task(pets.TaskSpec(name="gone", pet="bitfit"))
    eng.remove_task("gone")
    try:
        eng.infer([pets.Query(task="gone", input_ids=[101, 102])])
    except pets.UnknownTaskError as e:
        assert "gone" in str(e)
    else:
        raise AssertionError("expected UnknownTaskError")
