"""Data sets: the VADER corpus read from the sdist, user files, seeded splits, bad input."""
from __future__ import annotations

import json

import pytest

from pets.errors import DataError
from pets.train.data import TextDataset, load_dataset, split
from pets.train.data.files import read_file
from pets.train.data.vader import NEUTRAL_BAND
from tests.train.conftest import corpus_or_skip

SIZES = {"movies": 10072, "tweets": 3432, "nyt": 2970, "amazon": 2985, "source": 23703}


@pytest.mark.parametrize("name", list(SIZES))
def test_vader_data_sets(name):
    corpus_or_skip()
    ds = load_dataset(name)
    assert len(ds) == SIZES[name]
    assert len(ds.label_names) == (4 if name == "source" else 2)
    assert all(t.strip() for t in ds.texts)


def test_sentiment_drops_near_neutral():
    corpus_or_skip()
    from pets.train.data import vader

    rows = vader._rows(str(vader.sdist_path()))["movies"]
    assert len(rows) == 10605  # every rated snippet of the corpus
    kept = sum(abs(r) >= NEUTRAL_BAND for r, _ in rows)
    assert kept == SIZES["movies"]


def test_split_is_seeded_stratified_and_disjoint():
    ds = TextDataset("t", tuple(f"text {i}" for i in range(200)),
                     tuple(int(i < 60) for i in range(200)), ("a", "b"))
    a, b = split(ds, seed=3), split(ds, seed=3)
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    sets = [set(s.texts) for s in (a.train, a.dev, a.test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sum(map(len, sets)) == 200
    assert a.test.class_counts() == {"a": 28, "b": 12}  # 20% of each class
    capped = split(ds, seed=3, max_train=50)
    assert len(capped.train) == 50 and capped.train.class_counts()["b"] == 15


def test_read_csv_and_jsonl(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"good, really",pos\nbad,neg\nfine,pos\n')
    ds = read_file(tmp_path / "d.csv")
    assert ds.label_names == ("neg", "pos") and ds.labels == (1, 0, 1)
    assert ds.texts[0] == "good, really"
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"text": "a", "label": "x"}, {"text": "b", "label": "y"}, {"text": "c", "label": 3})))
    ds = read_file(tmp_path / "d.jsonl", label_names=("x", "y", "3"))
    assert ds.labels == (0, 1, 2)


@pytest.mark.parametrize("body, match", [
    ("text\nhello\n", "header must name the columns text and label"),
    ("text,label\nhello,\nbye,neg\n", "row 1 has no label"),
    ("text,label\nhello,pos\nbye,pos\n", "at least two classes"),
    ("text,label\n,pos\nbye,neg\n", "row 1 has an empty text"),
    ("text,label\n" + "x" * 10_001 + ",pos\nbye,neg\n", "characters"),
    ("", "header"),
])
def test_bad_csv_files(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=match):
        read_file(path)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_file(tmp_path / "none.csv")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DataError, match=".csv"):
        read_file(tmp_path / "d.txt")
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        read_file(tmp_path / "d.jsonl")
    (tmp_path / "e.csv").write_text("text,label\na,x\nb,z\n")
    with pytest.raises(DataError, match="label 'z' is not one of"):
        read_file(tmp_path / "e.csv", label_names=("x", "y"))
    with pytest.raises(DataError, match="unknown data set 'moviez'"):
        load_dataset("moviez")


def test_missing_corpus_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PETS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="pets data fetch"):
        load_dataset("movies")


def test_corrupt_corpus(tmp_path, monkeypatch):
    from pets.train.data import vader

    monkeypatch.setenv("PETS_DATA_DIR", str(tmp_path))
    (tmp_path / vader.SDIST).write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="is not the vaderSentiment"):
        load_dataset("tweets")
