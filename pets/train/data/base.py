"""Labelled text data sets and their seeded train/dev/test splits."""
from __future__ import annotations

import random
from dataclasses import dataclass

from pets.errors import DataError

MAX_TEXT_CHARS = 10_000  # a "sentence" longer than this is a file-format mistake, not a query


@dataclass(frozen=True)
class TextDataset:
    """Rows of (text, label index) with the label names; `source` says where it came from."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        check_rows(self.name, self.texts, self.labels, self.label_names)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int], suffix: str) -> "TextDataset":
        return TextDataset(f"{self.name}:{suffix}", tuple(self.texts[i] for i in idx),
                           tuple(self.labels[i] for i in idx), self.label_names, self.source)

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.label_names, 0)
        for y in self.labels:
            counts[self.label_names[y]] += 1
        return counts


@dataclass(frozen=True)
class Splits:
    train: TextDataset
    dev: TextDataset
    test: TextDataset

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def check_rows(name: str, texts, labels, label_names) -> None:
    """DataError unless every row has a non-empty text of sane length and a known label,
    and at least two classes occur."""
    if len(texts) != len(labels):
        raise DataError(f"data set {name!r}: {len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise DataError(f"data set {name!r} has no rows; give at least two labelled texts")
    if len(set(labels)) < 2 and all(isinstance(y, int) and 0 <= y < len(label_names)
                                    for y in labels[:1]):
        raise DataError(f"data set {name!r}: every row has label {label_names[labels[0]]!r}; "
                        "a classifier needs at least two classes")
    if len(label_names) < 2 or len(set(label_names)) != len(label_names):
        raise DataError(f"data set {name!r}: label names {list(label_names)} must be at least "
                        "two distinct names")
    for i, (t, y) in enumerate(zip(texts, labels)):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"data set {name!r}, row {i + 1}: the text is empty; remove the row")
        if len(t) > MAX_TEXT_CHARS:
            raise DataError(f"data set {name!r}, row {i + 1}: the text has {len(t)} characters "
                            f"(at most {MAX_TEXT_CHARS}); split it or remove the row")
        if not isinstance(y, int) or not 0 <= y < len(label_names):
            raise DataError(f"data set {name!r}, row {i + 1}: label {y!r} is not one of "
                            f"{list(label_names)}")
    if len(set(labels)) < 2:
        raise DataError(f"data set {name!r}: every row has label {label_names[labels[0]]!r}; "
                        "a classifier needs at least two classes")


def split(ds: TextDataset, *, seed: int = 0, dev: float = 0.1, test: float = 0.2,
          max_train: int | None = None) -> Splits:
    """Seeded, stratified train/dev/test split (each class split in the same fractions).

    `max_train` caps the training rows (seeded, stratified) for quick runs."""
    if not (0 < dev < 1 and 0 < test < 1 and dev + test < 1):
        raise DataError(f"split fractions dev={dev}, test={test} must be in (0, 1) with "
                        "dev + test < 1")
    rng = random.Random(seed)
    parts: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    for c in range(len(ds.label_names)):
        idx = [i for i, y in enumerate(ds.labels) if y == c]
        rng.shuffle(idx)
        n_test, n_dev = round(len(idx) * test), round(len(idx) * dev)
        parts["test"] += idx[:n_test]
        parts["dev"] += idx[n_test:n_test + n_dev]
        parts["train"] += idx[n_test + n_dev:]
    for v in parts.values():
        rng.shuffle(v)
    if max_train is not None and max_train < len(parts["train"]):
        parts["train"] = _stratified_head(parts["train"], ds.labels, max_train)
    for key, idx in parts.items():
        if len({ds.labels[i] for i in idx}) < 2:
            raise DataError(f"data set {ds.name!r} is too small: its {key} split holds fewer "
                            "than two classes; give more rows per class")
    return Splits(*(ds.subset(parts[k], k) for k in ("train", "dev", "test")))


def _stratified_head(idx: list[int], labels: tuple[int, ...], n: int) -> list[int]:
    """The first `n` of shuffled `idx`, each class keeping its share."""
    by_class: dict[int, list[int]] = {}
    for i in idx:
        by_class.setdefault(labels[i], []).append(i)
    keep = {c: max(1, round(n * len(v) / len(idx))) for c, v in by_class.items()}
    chosen = {i for c, v in by_class.items() for i in v[:keep[c]]}
    return [i for i in idx if i in chosen]
