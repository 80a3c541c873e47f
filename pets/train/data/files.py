"""A user's own labelled texts: CSV (`text,label` header) or JSONL ({"text", "label"})."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from pets.train.data.base import TextDataset
from pets.errors import DataError

SUFFIXES = (".csv", ".jsonl")


def read_file(path: str | Path, label_names: tuple[str, ...] | None = None) -> TextDataset:
    """Rows of `text,label`; labels are names (or ints indexing `label_names`).

    Label names default to the sorted distinct labels in the file. DataError on a
    missing column, an empty text or label, one class only, or an unknown label."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: a data file is .csv (header text,label) or .jsonl "
                        f"(objects with text and label); got {path.suffix or 'no suffix'!r}")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path} as UTF-8 text: {e}") from None
    rows = _csv(path, raw) if path.suffix.lower() == ".csv" else _jsonl(path, raw)
    names = label_names or tuple(sorted({lab for _, lab in rows}))
    index = {n: i for i, n in enumerate(names)}
    labels = []
    for i, (_, lab) in enumerate(rows):
        if lab not in index:
            raise DataError(f"{path}, row {i + 1}: label {lab!r} is not one of {list(names)}")
        labels.append(index[lab])
    return TextDataset(path.stem, tuple(t for t, _ in rows), tuple(labels), tuple(names),
                       source=str(path))


def _csv(path: Path, raw: str) -> list[tuple[str, str]]:
    reader = csv.DictReader(raw.splitlines())
    if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
        raise DataError(f"{path}: the CSV header must name the columns text and label, "
                        f"got {reader.fieldnames}")
    return [_row(path, i, r.get("text"), r.get("label")) for i, r in enumerate(reader)]


def _jsonl(path: Path, raw: str) -> list[tuple[str, str]]:
    rows = []
    for i, line in enumerate(raw.splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {i + 1} is not JSON: {e}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}, line {i + 1}: each line is an object with text and label")
        rows.append(_row(path, i, obj.get("text"), obj.get("label")))
    return rows


def _row(path: Path, i: int, text, label) -> tuple[str, str]:
    if label is None or (isinstance(label, str) and not label.strip()):
        raise DataError(f"{path}, row {i + 1} has no label; every row needs one")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{path}, row {i + 1} has an empty text; remove the row")
    return text, str(label).strip()
