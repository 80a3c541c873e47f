"""Small labelled files for training tests (no corpus needed) and the corpus check."""
from __future__ import annotations

import random

import pytest

from pets.train.data import vader

GOOD = ["great", "wonderful", "superb", "lovely", "excellent", "brilliant", "delightful"]
BAD = ["awful", "terrible", "dreadful", "horrible", "boring", "lousy", "miserable"]
NOUNS = ["film", "meal", "phone", "hotel", "book", "concert", "game", "trip"]


def toy_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """A separable sentiment task: the adjective decides the label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pos = i % 2 == 0
        adj = rng.choice(GOOD if pos else BAD)
        rows.append((f"the {rng.choice(NOUNS)} was {adj}", "pos" if pos else "neg"))
    return rows


@pytest.fixture
def toy_csv(tmp_path):
    path = tmp_path / "toy.csv"
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in toy_rows(240)))
    return path


def corpus_or_skip():
    """The VADER sdist must be in the cache (`make test` fetches it); skip with the command."""
    if not (vader.cache_dir() / vader.SDIST).is_file():
        pytest.skip("VADER corpus not fetched: run `pets data fetch` (make test does)")
