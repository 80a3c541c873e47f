"""The dashboard in a real browser: `streamlit run` on a free port, Playwright driving the
Debian chromium (`make test` installs it; Playwright downloads nothing). Adds a task, trains
one, runs a replay, waits for its charts, and saves a screenshot of every page (into docs/img/ with
`make screenshots`, which the README shows; elsewhere into a temporary folder)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a temporary folder; `make screenshots` points this at docs/img for the README.
IMG = Path(os.environ.get("PETS_SCREENSHOTS") or Path(os.environ.get("TMPDIR", "/tmp")) / "pets-screenshots")
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1440, "height": 1000}
MAX_HEIGHT = 2600
T0 = time.monotonic()
CHART = "[data-testid='stPlotlyChart'] .main-svg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url}/_stcore/health did not answer in {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of a headless dashboard on MiniLM (with the trained zoo of data/tasks/ when it
    is there); stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    # One torch thread: the pages' small GEMMs (bert-tiny traces, one sentence on MiniLM) gain
    # nothing from two on a busy 2-core CI box.
    env = {**os.environ, "PETS_DASHBOARD_BACKBONE": "all-MiniLM-L6-v2", "OMP_NUM_THREADS": "1"}
    env.pop("PETS_ZOO_DIR", None)
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"),
           "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
           "--browser.gatherUsageStats=false", "--client.toolbarMode=viewer", "--server.fileWatcherType=none"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (make install)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs Debian chromium (needs root), "
                    "or run apt-get install chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    context.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=120_000)


def _pick(page, box: str, option: str, tries: int = 3) -> None:
    """Choose `option` in the selectbox labelled `box`. A click that lands while the page is
    still re-rendering (a rerun replaces the widget) opens nothing: settle and click again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        _settle(page)
        page.get_by_test_id("stSelectbox").filter(has_text=box).click()
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.wait_for(timeout=20_000)
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            continue
        choice.click()
        return


def _shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main section, so grow the viewport to it."""
    IMG.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => { const m = document.querySelector(\"[data-testid='stMain']\");"
                           " m.scrollTo(0, 0); return m.scrollHeight; }")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, 600), MAX_HEIGHT)})
    page.wait_for_timeout(500)  # let plotly re-layout to the new size
    page.screenshot(path=str(IMG / f"dashboard-{name}.png"))
    page.set_viewport_size(VIEWPORT)
    print(f"{time.monotonic() - T0:6.1f} s  screenshot {name}")


def _open(page, title: str, heading: str | None = None) -> None:
    """Go to a page through the sidebar: the browser session (and its tasks) is kept."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=heading or title).first.wait_for()
    _settle(page)


def _progress_text(page) -> str:
    """What the page's progress bar says (the replay's phase and clock), or '' without one."""
    bar = page.get_by_test_id("stProgress")
    return bar.first.inner_text(timeout=5_000).strip() if bar.count() else ""


def test_dashboard_in_a_browser(server, page, tmp_path):
    url, log = server
    try:
        _drive(url, page)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"failure screenshot: {tmp_path / 'failure.png'}\nprogress: {_progress_text(page)!r}\n"
              f"server log:\n{log.read_text()[-4000:]}")
        raise


def _drive(server: str, page) -> None:
    print(f"{time.monotonic() - T0:6.1f} s  server up")
    page.goto(server)
    page.get_by_text("Many tasks fine-tuned with").wait_for()
    _settle(page)

    # Tasks: the trained zoo (when committed) is there; load the demo tasks, add one through the
    # form, run a sentence, train a small task.
    _open(page, "Tasks")
    page.get_by_role("button", name="Load the five demo tasks").click()
    page.get_by_text("sentiment-lora").first.wait_for()
    page.get_by_label("Task name").fill("e2e-lora")
    page.get_by_role("button", name="Add task").click()
    page.get_by_text("Added e2e-lora (lora).").wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Cosine similarity of the pooled outputs").wait_for()
    # Train a small task in the background: the live curve draws, then the task is served.
    for label, value in (("Epochs", "1"), ("Max training rows (0 = all)", "40"),
                         ("Max dev/test rows (0 = all)", "40")):
        page.get_by_role("spinbutton", name=label).fill(value)
    page.get_by_label("Name of the new task").fill("e2e-trained")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Loaded next to the other tasks").wait_for(timeout=120_000)
    page.get_by_text("Trained e2e-trained (").wait_for()
    _settle(page)
    _shot(page, "tasks")

    # Replay: the default shipped trace (23 s, distilbert) against pets and seqs at 2x: the charts draw
    # while it runs (no summary yet), then the summary arrives.
    _open(page, "Replay")
    _pick(page, "Playback speed", "2x")
    _settle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    # The real executor first builds and warms every system in a fresh process: on a busy 2-core
    # box that alone can take a minute before the first chart.
    page.wait_for_selector(CHART, timeout=240_000)
    print(f"{time.monotonic() - T0:6.1f} s  replay charts live: {_progress_text(page)}")
    assert page.get_by_test_id("stProgress").count() == 1
    assert page.get_by_text("Summary", exact=True).count() == 0  # still running, charts live
    page.get_by_text("Summary", exact=True).wait_for(timeout=300_000)
    _settle(page)
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 4
    _shot(page, "replay")

    # Load sweep (same page, distilbert, sim, in a measuring process): capacity at the SLO.
    page.get_by_role("button", name="Sweep", exact=True).click()
    page.get_by_text("pets / seqs capacity at the SLO").wait_for(timeout=300_000)
    _settle(page)
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 5

    # Scalability: nothing runs until asked; the committed results draw on the first visit.
    _open(page, "Scalability")
    page.wait_for_selector(CHART, timeout=150_000)
    _settle(page)
    _shot(page, "scalability")

    if (ROOT / "app" / "pages" / "4_Cluster.py").is_file():
        _open(page, "Cluster")
        page.wait_for_selector(CHART, timeout=150_000)
        _settle(page)
        _shot(page, "cluster")

    # Home last: it now shows the session's six tasks and their memory.
    _open(page, "Home", "PetS workbench")
    _shot(page, "home")
