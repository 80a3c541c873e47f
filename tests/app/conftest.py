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
