"""Cluster page: simulate balancers on a skewed trace, see load and migrations; bad input."""
from __future__ import annotations

from tests.app.conftest import errors, open_page


def small(at, **values):
    defaults = dict(cl_preset="bert-tiny", cl_seconds=0.3)
    for key, value in {**defaults, **values}.items():
        widget = at.selectbox(key=key) if key == "cl_preset" else at.number_input(key=key)
        widget.set_value(value)
    return at.button(key="cl_run").click().run()


def test_balancers_on_a_skewed_trace():
    at = small(open_page("4_Cluster"))
    assert not at.exception and not errors(at)
    summary = next(d.value for d in at.dataframe if "balancer" in d.value.columns)
    assert list(summary.balancer) == ["static", "replicate", "migrate"]
    assert (summary.completed == summary.requests).all()
    assert summary.set_index("balancer").vs_static["migrate"] > 1.0
    keys = {c.key for c in at.get("plotly_chart")}
    assert {"cl_load_chart", "cl_timeline"} <= keys


def test_worker_fault_is_reported():
    at = small(open_page("4_Cluster"), cl_kill=0.1)
    assert not errors(at)
    assert any("worker 0 died" in i.value for i in at.info)


def test_impossible_budget_is_a_clear_message():
    at = small(open_page("4_Cluster"), cl_budget=0.1)
    assert not at.exception
    assert any("memory budget" in e for e in errors(at))


def test_live_section_waits_for_the_user():
    at = open_page("4_Cluster")
    assert not at.exception
    assert at.button(key="lv_run").label == "Run on Ray"
    assert "live_job" not in at.session_state  # nothing runs until Run on Ray is pressed
    assert any("Run on Ray" in c.value for c in at.caption)


def test_live_run_outside_its_span_is_a_clear_message():
    at = open_page("4_Cluster")
    at.number_input(key="lv_seconds").set_value(2.0)
    at.number_input(key="lv_kill").set_value(5.0)
    at = at.button(key="lv_run").click().run()
    assert not at.exception
    assert any("kill at must fall inside the run" in e for e in errors(at))
    assert "live_job" not in at.session_state
