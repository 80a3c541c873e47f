"""Labelled text for training and evaluating tasks: the bundled VADER corpus by name,
or a user's CSV/JSONL file by path."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from pets.train.data import vader
from pets.train.data.base import Splits, TextDataset, split
from pets.train.data.files import SUFFIXES, read_file
from pets.errors import DataError

# name -> loader. The four sentiment tasks and the 4-way source classifier.
DATASETS: dict[str, Callable[[], TextDataset]] = {
    **{name: (lambda n=name: vader.sentiment(n)) for name in vader.SOURCES},
    "source": vader.source_classes,
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def load_dataset(name_or_path: str | Path) -> TextDataset:
    """A bundled data set by name, or a .csv/.jsonl file by path (DataError otherwise)."""
    key = str(name_or_path)
    if key in DATASETS:
        return DATASETS[key]()
    if Path(key).suffix.lower() in SUFFIXES:
        return read_file(key)
    raise DataError(f"unknown data set {key!r}; choose one of {dataset_names()} or give a "
                    ".csv (text,label) or .jsonl file")


__all__ = ["DATASETS", "Splits", "TextDataset", "dataset_names", "load_dataset", "split"]
