"""The committed task zoo (data/tasks/): trained tasks of every PET type that the engine
serves together, reproducing the predictions recorded when they were trained."""
from __future__ import annotations

import json

import pytest

import pets
from pets.train.api import splits_for
from pets.train.backbones import load_tokenizer
from pets.train.evaluate import encode, served_predictions
from pets.train.zoo import ZOO, zoo_dir
from tests.train.conftest import corpus_or_skip

ROWS = 48  # test rows per task served here (the full test sets ran when the zoo was built)


def _built() -> list:
    built = [c for c in ZOO if (zoo_dir() / c.name / "metrics.json").is_file()]
    if not built:
        pytest.skip("no zoo in data/tasks: build it with `pets zoo`")
    return built


def test_zoo_covers_every_pet_type_with_label_names():
    built = _built()
    assert {c.pet for c in built} >= {"lora", "adapter", "bitfit", "diff", "mask"}
    for c in built:
        spec = json.loads((zoo_dir() / c.name / "pet.json").read_text())
        assert spec["labels"] and len(spec["labels"]) == spec["num_labels"]
    total = sum(f.stat().st_size for c in built for f in (zoo_dir() / c.name).iterdir())
    assert total < 16 * 2**20  # small enough to commit


def test_zoo_served_in_mixed_batches_reproduces_its_training_predictions():
    corpus_or_skip()
    built = _built()
    engine = pets.PetsEngine.from_pretrained("minilm", dtype="float32")
    tok = load_tokenizer("minilm")
    data, want = {}, {}
    for c in built:
        engine.load_task(zoo_dir() / c.name)
        metrics = json.loads((zoo_dir() / c.name / "metrics.json").read_text())
        test = splits_for(c).test
        enc = encode(tok, test, c.max_len)
        data[c.name] = type(enc)(enc.ids[:ROWS], enc.labels[:ROWS])
        want[c.name] = metrics["test_predictions"][:ROWS]
        assert metrics["served_agreement"] == 1.0
    got = served_predictions(engine, data, batch_size=32)
    for name in data:
        assert got[name] == want[name], name
