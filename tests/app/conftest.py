"""Dashboard tests: the pages import `lib.*` from app/ (Streamlit puts the entry script's
folder on sys.path; AppTest runs in this process, so we do it here), on bert-tiny."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

APP = Path(__file__).resolve().parents[2] / "app"
if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))
os.environ["PETS_DASHBOARD_BACKBONE"] = "bert-tiny"
TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def no_zoo(monkeypatch, tmp_path):
    """No trained zoo unless a test builds one (data/tasks/ must not leak into page tests)."""
    monkeypatch.setenv("PETS_ZOO_DIR", str(tmp_path / "no-zoo"))


def page_path(name: str) -> str:
    """Absolute path of an app script: 'Home' or a page stem like '1_Tasks'."""
    return str(APP / "Home.py") if name == "Home" else str(APP / "pages" / f"{name}.py")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """bert-tiny's GEMMs are too small for two threads; on a busy 2-core box the thread
    hand-offs cost 10x the work. Restored afterwards for the rest of the suite."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def open_page(name: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(page_path(name), default_timeout=TIMEOUT_S).run()


def finish_job(at, key: str):
    """Wait for the page's background job in session state, then rerun the page."""
    job = at.session_state[key]
    assert job.wait(TIMEOUT_S), f"{key} still running after {TIMEOUT_S} s"
    at.run()
    return job


def errors(at) -> list[str]:
    return [e.value for e in at.error]


MINILM = "all-MiniLM-L6-v2"


def tiny_csv(rows_per_class: int = 30, classes: tuple[str, ...] = ("neg", "pos")) -> bytes:
    """A small separable `text,label` CSV (enough rows per class for every split)."""
    words = {"neg": "an awful dull and terrible movie", "pos": "a lovely great and moving film"}
    lines = ["text,label"]
    for c in classes:
        lines += [f"{words.get(c, c + ' text')} number {i},{c}" for i in range(rows_per_class)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """Two zoo tasks trained in seconds on MiniLM (names the zoo knows, tiny bundled subsets):
    movies-lora (negative/positive) and source-lora (the four sources)."""
    from pets.train import TrainConfig, train

    root = tmp_path_factory.mktemp("zoo")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for pet, data, name in (("lora", "movies", "movies-lora"), ("lora", "source", "source-lora")):
            train(TrainConfig(pet=pet, data=data, name=name, max_train=40, max_eval=40, max_len=16,
                              epochs=1, batch_size=16), out=root / name, progress=False)
    finally:
        torch.set_num_threads(before)
    return root


@pytest.fixture
def minilm_zoo(monkeypatch, tiny_zoo):
    """The dashboard starts on MiniLM with the tiny zoo."""
    monkeypatch.setenv("PETS_DASHBOARD_BACKBONE", MINILM)
    monkeypatch.setenv("PETS_ZOO_DIR", str(tiny_zoo))
    return tiny_zoo
