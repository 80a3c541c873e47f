"""Bad input raises a PetsError subclass that says what to do, and changes nothing."""
from __future__ import annotations

import json

import pytest
import torch

import pets
from tests.conftest import tiny_engine

PROBE = [pets.Query(task="lora-r2", input_ids=[101, 2023, 102], id=0),
         pets.Query(task="mask", input_ids=[101, 7000, 8000, 102], id=1)]


@pytest.fixture
def eng():
    return tiny_engine()


def snapshot(eng):
    return dict(eng.tasks), [r.pooled.clone() for r in eng.infer(PROBE)], eng.memory().total


def assert_unchanged(eng, snap):
    tasks, pooled, total = snapshot(eng)
    assert tasks == snap[0] and total == snap[2]
    assert all(torch.equal(a, b) for a, b in zip(pooled, snap[1]))


def q(task="lora-r2", ids=(101, 102)):
    return pets.Query(task=task, input_ids=list(ids))


ENGINE_CALLS = {
    "unknown task in a batch": (lambda e: e.infer([q(), q(task="nope")]), pets.UnknownTaskError, "unknown task 'nope'"),
    "remove unknown task": (lambda e: e.remove_task("nope"), pets.UnknownTaskError, "loaded tasks"),
    "save unknown task": (lambda e: e.save_task("nope", "/tmp/x"), pets.UnknownTaskError, "unknown task"),
    "duplicate name": (lambda e: e.add_task(pets.TaskSpec(name="mask", pet="lora")), pets.DuplicateTaskError, "remove_task it first"),
    "empty batch": (lambda e: e.infer([]), pets.InvalidQueryError, "at least one"),
    "too long": (lambda e: e.infer([q(ids=[1] * 513)]), pets.InvalidQueryError, "at most 512"),
    "id over vocab": (lambda e: e.infer([q(ids=[101, 30522])]), pets.InvalidQueryError, "vocabulary"),
    "negative id": (lambda e: e.infer([q(ids=[-1])]), pets.InvalidQueryError, "vocabulary"),
    "not a query": (lambda e: e.infer([[101, 102]]), pets.InvalidQueryError, "pets.Query"),
    "not a spec": (lambda e: e.add_task({"name": "x", "pet": "lora"}), pets.InvalidSpecError, "TaskSpec"),
    "bad padding": (lambda e: e.infer([q()], padding="diag"), pets.InvalidQueryError, "padding"),
}


@pytest.mark.parametrize("case", ENGINE_CALLS)
def test_bad_calls(eng, case):
    call, error, match = ENGINE_CALLS[case]
    snap = snapshot(eng)
    with pytest.raises(error, match=match) as info:
        call(eng)
    assert isinstance(info.value, pets.PetsError)
    assert_unchanged(eng, snap)


@pytest.mark.parametrize("ids,match", [([], "no tokens"), ([[1, 2]], "ints"), (torch.ones(2, 2), "1-D")])
def test_malformed_queries(ids, match):
    with pytest.raises(pets.InvalidQueryError, match=match):
        pets.Query(task="t", input_ids=ids)


def _lora_params(eng):
    spec = pets.TaskSpec(name="new", pet="lora", rank=4, num_labels=2)
    params = pets.PetsEngine(eng.backbone)
    params.add_task(spec)
    return spec, params.task_params("new")


def _mutate(params, fn):
    params = dict(params)
    fn(params)
    return params


A0 = "encoder.layer.0.attention.self.query.lora_A"
PARAM_CASES = {
    "missing tensor": (lambda p: p.pop(A0), "missing"),
    "extra tensor": (lambda p: p.__setitem__("encoder.layer.0.foo", torch.zeros(1)), "unexpected"),
    "wrong shape": (lambda p: p.__setitem__(A0, torch.zeros(3, 128)), r"shape \(3, 128\)"),
    "wrong dtype": (lambda p: p.__setitem__(A0, torch.zeros(4, 128, dtype=torch.int64)), "floating point"),
    "nan": (lambda p: p.__setitem__(A0, torch.full((4, 128), float("nan"))), "NaN"),
    "not a tensor": (lambda p: p.__setitem__(A0, [[0.0] * 128] * 4), "torch.Tensor"),
    "head shape": (lambda p: p.__setitem__("classifier.weight", torch.zeros(3, 128)), "classifier.weight"),
}


@pytest.mark.parametrize("case", PARAM_CASES)
def test_bad_params(eng, case):
    spec, good = _lora_params(eng)
    fn, match = PARAM_CASES[case]
    snap = snapshot(eng)
    with pytest.raises(pets.InvalidParamsError, match=match):
        eng.add_task(spec, params=_mutate(good, fn))
    assert_unchanged(eng, snap)
    eng.add_task(spec, params=good)  # the good ones still load


IDX = "encoder.layer.0.attention.self.query.weight.indices"
VAL = "encoder.layer.0.attention.self.query.weight.values"
SPARSE_CASES = {
    "index out of range": (lambda p: p[IDX].__setitem__((0, 0), 999), "outside"),
    "duplicate entry": (lambda p: p[IDX].__setitem__((slice(None), 1), p[IDX][:, 0]), "repeats"),
    "values count": (lambda p: p.__setitem__(VAL, p[VAL][:-1]), "values"),
    "index dtype": (lambda p: p.__setitem__(IDX, p[IDX].int()), "int64"),
}


@pytest.mark.parametrize("case", SPARSE_CASES)
def test_bad_sparse_params(eng, case):
    spec = pets.TaskSpec(name="d", pet="diff", density=0.01)
    other = pets.PetsEngine(eng.backbone)
    other.add_task(spec)
    params = {k: v.clone() for k, v in other.task_params("d").items()}
    fn, match = SPARSE_CASES[case]
    fn(params)
    snap = snapshot(eng)
    with pytest.raises(pets.InvalidParamsError, match=match):
        eng.add_task(spec, params=params)
    assert_unchanged(eng, snap)


def test_corrupt_task_folders(eng, tmp_path):
    eng.save_task("bitfit", tmp_path / "good")
    snap = snapshot(eng)
    cases = {}
    for name, damage in {
        "no json": lambda d: (d / "pet.json").unlink(),
        "bad json": lambda d: (d / "pet.json").write_text("{not json"),
        "unknown field": lambda d: (d / "pet.json").write_text(json.dumps({"name": "x", "pet": "bitfit", "rnak": 1})),
        "bad pet": lambda d: (d / "pet.json").write_text(json.dumps({"name": "x", "pet": "nope"})),
        "garbage tensors": lambda d: (d / "pet.safetensors").write_bytes(b"\x00garbage"),
        "no tensors": lambda d: (d / "pet.safetensors").unlink(),
    }.items():
        d = tmp_path / name.replace(" ", "_")
        eng.save_task("bitfit", d)
        (d / "pet.json").write_text((d / "pet.json").read_text().replace('"bitfit"', '"bitfit2"', 1))
        damage(d)
        cases[name] = d
    for name, d in cases.items():
        with pytest.raises(pets.TaskFileError):
            eng.load_task(d)
    with pytest.raises(pets.TaskFileError, match="does not exist"):
        eng.load_task(tmp_path / "missing")
    assert_unchanged(eng, snap)


def test_task_file_of_a_wrong_shape_model(eng, tmp_path):
    other = pets.PetsEngine.from_preset("bert-tiny")  # same shape: loads
    other.add_task(pets.TaskSpec(name="x", pet="lora"))
    other.save_task("x", tmp_path / "x")
    big = pets.PetsEngine(pets.engine.backbone.Backbone.random(
        pets.ModelConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=128, vocab_size=500, max_position_embeddings=64)))
    with pytest.raises(pets.InvalidParamsError, match="shape"):
        big.load_task(tmp_path / "x")
    assert not big.tasks
