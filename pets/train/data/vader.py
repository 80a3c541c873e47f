"""The VADER sentiment corpus (Hutto & Gilbert, ICWSM 2014), read offline from the PyPI
source distribution of vaderSentiment 3.3.2 (MIT licence).

The sdist holds `additional_resources/hutto_ICWSM_2014.tar.gz`: sentences rated by
humans from -4 (very negative) to +4 (very positive), tab-separated `id, mean rating,
text`, from four sources. `pets data fetch` (run by `make demo` / `make test`) downloads
the sdist with `pip download` into the data cache; nothing else touches the network.
"""
from __future__ import annotations

import html
import io
import os
import subprocess
import sys
import tarfile
from functools import lru_cache
from pathlib import Path

from pets.train.data.base import TextDataset
from pets.errors import DataError

VERSION = "3.3.2"
SDIST = f"vaderSentiment-{VERSION}.tar.gz"
INNER = f"vaderSentiment-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
SOURCES = {  # data set name -> file in the corpus
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
}
# Binary sentiment keeps sentences rated clearly: |mean rating| >= NEUTRAL_BAND on -4..+4.
NEUTRAL_BAND = 0.5
SENTIMENT_LABELS = ("negative", "positive")
CITATION = ("C.J. Hutto and E.E. Gilbert. VADER: A Parsimonious Rule-based Model for Sentiment "
            "Analysis of Social Media Text. ICWSM 2014.")


def cache_dir() -> Path:
    """Where the sdist lives: $PETS_DATA_DIR, else `.cache/pets-data` in the source tree
    when pets runs from one, else ~/.cache/pets."""
    if os.environ.get("PETS_DATA_DIR"):
        return Path(os.environ["PETS_DATA_DIR"])
    tree = Path(__file__).resolve().parents[3]
    if (tree / "pyproject.toml").is_file():
        return tree / ".cache" / "pets-data"
    return Path.home() / ".cache" / "pets"


def fetch(dest: Path | None = None, *, quiet: bool = True) -> Path:
    """Download the vaderSentiment sdist into `dest` (the cache) unless it is there."""
    dest = dest or cache_dir()
    path = dest / SDIST
    if path.is_file():
        return path
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
           f"vaderSentiment=={VERSION}", "-d", str(dest), "--disable-pip-version-check"]
    done = subprocess.run(cmd + (["-q"] if quiet else []), capture_output=quiet, text=True)
    if done.returncode != 0 or not path.is_file():
        raise DataError(f"could not download {SDIST} with `{' '.join(cmd)}`: "
                        f"{(done.stderr or '').strip()[-400:]}; check access to the package "
                        f"registry, or put {SDIST} into {dest}")
    return path


def sdist_path() -> Path:
    path = cache_dir() / SDIST
    if not path.is_file():
        raise DataError(f"the VADER corpus is not in {path.parent}; run `pets data fetch` "
                        "(or `make demo`), which downloads it from PyPI")
    return path


@lru_cache(maxsize=1)
def _rows(path: str) -> dict[str, tuple[tuple[float, str], ...]]:
    """source name -> ((mean rating, text), ...) in file order."""
    try:
        with tarfile.open(path) as outer:
            inner_bytes = outer.extractfile(INNER).read()
        out = {}
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            for name, file in SOURCES.items():
                raw = inner.extractfile(f"hutto_ICWSM_2014/{file}").read()
                out[name] = tuple(_parse(raw.decode("utf-8", errors="replace")))
        return out
    except (tarfile.TarError, KeyError, AttributeError, OSError, EOFError) as e:
        raise DataError(f"{path} is not the vaderSentiment {VERSION} sdist ({e}); delete it "
                        "and run `pets data fetch` again") from None


def _parse(text: str):
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            yield float(parts[1]), html.unescape(parts[2]).strip()


def sentiment(source: str) -> TextDataset:
    """Binary sentiment of one source's sentences (near-neutral ones dropped)."""
    rows = _rows(str(sdist_path()))[source]
    kept = [(r, t) for r, t in rows if abs(r) >= NEUTRAL_BAND and t]
    return TextDataset(source, tuple(t for _, t in kept), tuple(int(r > 0) for r, _ in kept),
                       SENTIMENT_LABELS, source=f"VADER {source} (|rating| >= {NEUTRAL_BAND})")


def source_classes() -> TextDataset:
    """Which of the four sources a sentence comes from (every sentence, 4 classes)."""
    rows = _rows(str(sdist_path()))
    names = tuple(SOURCES)
    texts, labels = [], []
    for c, name in enumerate(names):
        for _, t in rows[name]:
            if t:
                texts.append(t)
                labels.append(c)
    return TextDataset("source", tuple(texts), tuple(labels), names, source="VADER, 4 sources")
