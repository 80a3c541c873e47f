"""Measuring jobs run in a separate 'spawn' process: progress, published values, the result,
errors and Stop come back to the page's Job; simulations stay in a thread."""
from __future__ import annotations

import os
import time

import pets
from lib.jobs import Job


def counting(n: int, job) -> dict:
    for i in range(n):
        job.report(i / n, f"step {i}")
        job.publish(step=i)
    return {"pid": os.getpid(), "n": n}


def failing(kind: str, job):
    if kind == "pets":
        raise pets.InvalidSpecError("bad setting: use another")
    if kind == "bug":
        raise ZeroDivisionError("oops")
    os._exit(3)  # the process dies without a word


def waiting(job):
    while True:
        job.report(0.5, "waiting")
        time.sleep(0.05)


def test_work_runs_in_another_process_and_reports_back():
    job = Job.start_process("count", counting, 5)
    assert job.wait(120) and job.ok, job.error
    assert job.result["n"] == 5 and job.result["pid"] != os.getpid()
    assert job.live["step"] == 4 and job.progress == 1.0 and job.message == "done"


def test_errors_come_back_as_messages():
    for kind, message in (("pets", "bad setting: use another"), ("bug", "ZeroDivisionError: oops"),
                          ("die", "ended unexpectedly (exit code 3)")):
        job = Job.start_process("fail", failing, kind)
        assert job.wait(120) and job.done
        assert message in job.error, job.error


def test_stop_reaches_the_process():
    job = Job.start_process("wait", waiting)
    deadline = time.monotonic() + 120
    while job.message != "waiting" and time.monotonic() < deadline:
        time.sleep(0.05)
    job.stop()
    assert job.wait(60) and job.error == "stopped"


def test_the_child_does_not_rerun_the_page_script(tmp_path, monkeypatch):
    """Streamlit runs a page as __main__ (with its __file__): a spawn child must not run the
    page again (it would load a backbone and touch session state outside Streamlit)."""
    import sys
    import types

    marker = tmp_path / "page-ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    job = Job.start_process("count", counting, 2)
    assert job.wait(120) and job.ok, job.error
    assert sys.modules["__main__"] is page and not marker.exists()
