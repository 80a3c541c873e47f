"""`pets.train.train` and `pets train` end to end on a small labelled file (seconds on CPU)."""
from __future__ import annotations

import json

import pytest

import pets
from pets.cli import main
from pets.errors import DataError, TaskFileError, TrainError
from pets.train import TrainConfig, train
from pets.train.data import load_dataset, split
from pets.train.evaluate import align_labels, encode, served_predictions
from pets.train.loop import accuracy
from pets.train.backbones import load_tokenizer


def quick(pet: str, data, name: str, **kw) -> TrainConfig:
    return TrainConfig(pet=pet, data=str(data), name=name, epochs=kw.pop("epochs", 3),
                       max_len=16, batch_size=16, **kw)


def test_lora_learns_the_toy_task_and_the_folder_serves_it(toy_csv, tmp_path):
    result = train(quick("lora", toy_csv, "toy-lora", lr=3e-3), out=tmp_path / "toy-lora",
                   progress=False)
    m = result.metrics
    first, last = m.history[0], m.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert m.test_accuracy >= 0.8 and m.dev_accuracy >= 0.8  # chance is 0.5
    assert m.served_agreement == 1.0 and m.served_test_accuracy == m.test_accuracy
    assert m.labels == ["neg", "pos"] and m.sizes == {"train": 168, "dev": 24, "test": 48}
    saved = json.loads((tmp_path / "toy-lora" / "metrics.json").read_text())
    assert saved["test_predictions"] == m.test_predictions
    engine = pets.PetsEngine.from_pretrained("minilm", dtype="float32")
    spec = engine.load_task(tmp_path / "toy-lora")
    assert spec.labels == ("neg", "pos")
    tok = load_tokenizer("minilm")
    out = engine.infer([pets.Query(task="toy-lora", input_ids=tok(t)["input_ids"], id=i)
                        for i, t in enumerate(["the hotel was superb", "the trip was dreadful"])])
    assert [r.label for r in out] == ["pos", "neg"]


def test_mixed_batches_of_trained_tasks_keep_each_tasks_accuracy(toy_csv, tmp_path):
    """Two tasks of different PET types trained on the same file, their test sets served
    together in mixed batches: each task's predictions equal its training-end ones."""
    results = {pet: train(quick(pet, toy_csv, f"toy-{pet}", epochs=1), progress=False)
               for pet in ("bitfit", "adapter")}
    engine = pets.PetsEngine.from_pretrained("minilm", dtype="float32")
    test = split(load_dataset(str(toy_csv))).test
    enc = encode(load_tokenizer("minilm"), test, 16)
    for r in results.values():
        engine.add_task(r.spec, r.params)
    preds = served_predictions(engine, {r.spec.name: enc for r in results.values()}, batch_size=8)
    for r in results.values():
        assert preds[r.spec.name] == r.metrics.test_predictions
        assert accuracy(preds[r.spec.name], enc.labels) == r.metrics.test_accuracy


def test_full_fine_tuning_writes_a_dense_model(toy_csv, tmp_path):
    result = train(quick("full", toy_csv, "toy-full", epochs=1, lr=1e-4), out=tmp_path / "f",
                   progress=False)
    assert result.spec is None and (tmp_path / "f" / "model.safetensors").is_file()
    assert result.metrics.task_params == result.metrics.trainable_params


def test_cli_train(toy_csv, tmp_path, capsys):
    out = tmp_path / "cli-task"
    assert main(["train", "--pet", "bitfit", "--data", str(toy_csv), "--name", "cli-task",
                 "--epochs", "1", "--max-len", "16", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "epoch 1: train loss" in text and "served by the engine" in text
    assert (out / "pet.json").is_file() and (out / "metrics.json").is_file()


@pytest.mark.parametrize("argv, match", [
    (["--pet", "prefix"], "invalid choice: 'prefix'"),
    (["--pet", "lora", "--epochs", "0"], "epochs must be an int"),
    (["--pet", "lora", "--lr", "5"], "lr must be a number in"),
    (["--pet", "lora", "--data", "nope.csv"], "does not exist"),
    (["--pet", "lora", "--data", "nope"], "unknown data set 'nope'"),
    (["--pet", "lora", "--rank", "0"], "rank must be an int"),
    (["--pet", "lora", "--backbone", "gpt2"], "unknown backbone 'gpt2'"),
])
def test_cli_train_bad_input(toy_csv, tmp_path, capsys, argv, match):
    base = ["train", "--data", str(toy_csv), "--name", "bad", "--out", str(tmp_path / "bad")]
    if "--data" in argv:
        base = ["train", "--name", "bad", "--out", str(tmp_path / "bad")]
    try:
        code = main(base + argv)
    except SystemExit as e:  # argparse refuses a choice
        code = e.code
    assert code == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_unknown_labels_at_inference(toy_csv, tmp_path):
    ds = load_dataset(str(toy_csv))
    with pytest.raises(DataError, match="labels \\['neg'\\] that task 'm' does not know"):
        align_labels(ds, ("pos", "neutral"), "m")
    with pytest.raises(DataError, match="names no labels"):
        align_labels(ds, None, "m")
    assert align_labels(ds, ("pos", "neg"), "m").labels[:2] == (0, 1)


def test_a_folder_whose_labels_do_not_match_its_head(toy_csv, tmp_path):
    result = train(quick("bitfit", toy_csv, "t", epochs=1, max_train=40), out=tmp_path / "t",
                   progress=False)
    spec = json.loads((tmp_path / "t" / "pet.json").read_text())
    (tmp_path / "t" / "pet.json").write_text(json.dumps({**spec, "labels": ["a", "b", "c"]}))
    engine = pets.PetsEngine.from_pretrained("minilm", dtype="float32")
    with pytest.raises(TaskFileError, match="3 label names .* num_labels=2"):
        engine.load_task(tmp_path / "t")
    (tmp_path / "t" / "pet.json").write_text(json.dumps({**spec, "num_labels": 3,
                                                          "labels": ["a", "b", "c"]}))
    with pytest.raises(pets.InvalidParamsError, match="classifier.weight has shape"):
        engine.load_task(tmp_path / "t")
    assert result.metrics.served_agreement == 1.0 and not engine.tasks


def test_bad_config_is_refused_before_any_work():
    with pytest.raises(TrainError, match="batch_size"):
        TrainConfig(pet="lora", data="movies", name="x", batch_size=0)
    with pytest.raises(pets.InvalidSpecError, match="dtype"):
        TrainConfig(pet="lora", data="movies", name="x", dtype="int8")
