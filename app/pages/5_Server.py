"""Server: watch and use a running `pets serve` over HTTP.

A URL (default the local one); a button that starts `pets serve` as a child process of the
dashboard (bert-tiny with a shipped trace's random tasks, or MiniLM with the trained zoo);
live charts from the server's Prometheus /metrics (a fragment polls every few seconds);
the task list; a sentence classified by several tasks; and a `pets loadgen` run of a
shipped trace against the server in a measuring process, ending in its summary."""
from __future__ import annotations

import time

import streamlit as st

from pets.server.loadgen import LoadgenConfig
from pets.train.zoo import EXAMPLES

from lib import server_charts, server_view
from lib.job_view import finished_result, polled
from lib.jobs import Job
from lib.replay_run import map_tasks
from lib.server_client import DEFAULT_URL, ServerError, classify, health, list_tasks, metrics_text
from lib.server_client import normalize_url
from lib.server_loadgen import LoadRun, loadgen_work
from lib.server_local import (BACKBONES, default_choice, local_server, plan_launch, start_local,
                              stop_local)
from lib.server_metrics import LATENCY_WINDOW_S, History, latency_percentiles, parse, per_task, rates
from lib.traces import load_shipped, shipped_traces
from lib.ui import page, user_errors

page("Server", ":material/dns:")
POLL_S = 2.0  # /health and /metrics
JOB_POLL_S = 0.5
DEFAULT_TRACE = "poisson-uniform-8tasks.csv"  # 8 tasks, ~20 req/s: light for bert-tiny


def trace_names() -> list[str]:
    names = list(shipped_traces())
    return sorted(names, key=lambda n: n != DEFAULT_TRACE)


def local_controls(url: str) -> None:
    """Start / Stop a `pets serve` on the URL's port, as a child process of the dashboard."""
    c = st.columns([3, 3, 2, 1])
    choice = c[0].selectbox("Backbone", list(BACKBONES), key="srv_backbone",
                            index=list(BACKBONES).index(default_choice()),
                            format_func=lambda k: BACKBONES[k][1])
    trace = c[1].selectbox("Random tasks for the trace (bert-tiny)", trace_names(),
                           key="srv_tasks_trace", disabled=choice != "bert-tiny")
    running = (s := local_server(url)) is not None and s.running
    c[2].write("")
    if c[2].button("Start a local server", type="primary", key="srv_start", disabled=running):
        with user_errors("Cannot start: "):
            plan = plan_launch(choice, shipped_traces().get(trace))
            start_local(url, plan)
            st.rerun()  # the page now polls /health while the server loads
    c[3].write("")
    if c[3].button("Stop", key="srv_stop", disabled=not running):
        stop_local(url)
        st.rerun()  # the rest of the page follows the server's end


def live(url: str, was_ok: bool) -> None:
    """Health, then charts from /metrics; polled with run_every. A change of health reruns
    the whole page (the tasks, classify and loadgen sections follow the server)."""
    h = health(url)
    if h.ok != was_ok:
        st.rerun()
    local = local_server(url)
    server_view.local_status(local)
    if not h.ok:
        if local is not None and local.running:
            st.info(f"`pets serve` is starting ({time.monotonic() - local.started:.0f} s): it loads "
                    "the backbone and the tasks, then warms up every task; the page shows the "
                    "server once GET /health says ok.", icon=":material/hourglass_top:")
        elif h.starting:
            st.info(h.problem, icon=":material/hourglass_top:")
        else:
            st.warning(h.problem, icon=":material/power_off:")
        return
    server_view.health_line(h)
    history: History = st.session_state.get("srv_history")
    if history is None or history.url != url:
        history = st.session_state["srv_history"] = History(url)
    with user_errors():
        history.add(parse(metrics_text(url), time.monotonic()))
    r = rates(history)
    left, right = st.columns(2)
    left.plotly_chart(server_charts.throughput(r), key="srv_chart_throughput")
    right.plotly_chart(server_charts.queue(r), key="srv_chart_queue")
    left.plotly_chart(server_charts.latency(latency_percentiles(history), LATENCY_WINDOW_S),
                      key="srv_chart_latency")
    right.plotly_chart(server_charts.per_task(per_task(history.latest)), key="srv_chart_tasks")
    if len(history.samples) < 2:
        st.caption("Rates need two samples: the charts fill in as the page polls /metrics.")


def classify_section(url: str, tasks) -> None:
    st.subheader("Classify a sentence")
    heads = {t.name: t for t in tasks if t.num_labels > 0}
    if not heads:
        st.info("No task on this server has a classifier head (they answer /v1/embeddings only).")
        return
    names = list(heads)
    chosen = st.multiselect("Tasks", names, default=names[:3], key="srv_classify_tasks")
    text = st.text_area("Sentence", value=EXAMPLES[0], key="srv_text", height=70)
    if st.button("Classify", key="srv_classify"):
        if not text.strip():
            st.error("Type a sentence to classify.", icon="🚫")
        elif not chosen:
            st.error("Pick at least one task.", icon="🚫")
        else:
            st.session_state["srv_classified"] = [
                classify(url, name, text, heads[name].label_names) for name in chosen]
    if st.session_state.get("srv_classified"):
        server_view.classified(st.session_state["srv_classified"])


def loadgen_section(url: str, tasks) -> None:
    st.subheader("Load run (`pets loadgen`)")
    st.caption("Sends a shipped trace's requests at their arrival times (open loop) and "
               "reports like a replay: every request ends completed, rejected or failed.")
    c = st.columns([3, 2, 2])
    name = c[0].selectbox("Trace (data/traces/)", trace_names(), key="srv_lg_trace")
    seconds = c[1].number_input("Send the first seconds of it (0: all)", value=10.0,
                                min_value=0.0, step=5.0, key="srv_lg_seconds")
    trace = load_shipped(str(shipped_traces()[name]))
    served = [t.name for t in tasks]
    missing = [t for t in dict.fromkeys(r.task for r in trace.requests) if t not in served]
    mapped = c[2].checkbox("Map the trace's tasks onto the server's", value=bool(missing),
                           key="srv_lg_map", disabled=not served,
                           help="round-robin in order of first appearance, as the Replay page does")
    if missing and not mapped:
        st.warning(f"{len(missing)} of the trace's tasks are not on the server (e.g. "
                   f"{missing[0]}): their requests will be rejected with 404.")
    changes = {e: [r.task for r in trace.rows if r.event == e] for e in ("add_task", "remove_task")}
    if any(changes.values()):
        st.info("This trace changes the server's tasks while it runs: it adds "
                f"{', '.join(changes['add_task']) or 'none'} and removes "
                f"{', '.join(changes['remove_task']) or 'none'}.", icon=":material/info:")
    job: Job | None = st.session_state.get("srv_lg_job")
    running = job is not None and not job.done
    if st.button("Run loadgen", type="primary", key="srv_lg_run", disabled=running):
        with user_errors("Cannot run loadgen: "):
            cfg = LoadgenConfig(url=url, duration_s=float(seconds) or None)
            sent = map_tasks(trace, served) if mapped and served else trace
            st.session_state["srv_lg_job"] = Job.start_process("loadgen", loadgen_work,
                                                               LoadRun(sent, cfg))
            st.rerun()  # redraw the button disabled while it runs
    polled(loadgen_view, "srv_lg_job", JOB_POLL_S)


def loadgen_view(polling: bool) -> None:
    result = finished_result(
        st.session_state.get("srv_lg_job"), polling, what="The load run", stop_key="srv_lg_stop",
        idle=lambda: st.caption("Pick a trace and press Run loadgen."), running="loadgen: ")
    if result is not None:
        server_view.load_result(result)


url_text = st.text_input("Server URL", value=DEFAULT_URL, key="srv_url",
                         help="a `pets serve` server: this machine's or another's")
try:
    url = normalize_url(url_text)
except ServerError as e:
    st.error(str(e), icon="🚫")
    st.stop()
ok = health(url).ok
with st.expander("Local server", expanded=not ok or local_server(url) is not None):
    local_controls(url)
live_on = st.toggle("Live charts (poll /metrics every 2 s)", value=True, key="srv_live")
starting = not ok and (local := local_server(url)) is not None and local.running
st.fragment(live, run_every=POLL_S if live_on or starting else None)(url, ok)
if ok:
    try:
        tasks = list_tasks(url)
    except ServerError as e:
        st.error(f"Cannot list the tasks: {e}", icon="🚫")
        st.stop()
    st.subheader(f"Tasks ({len(tasks)})")
    server_view.task_table(tasks)
    classify_section(url, tasks)
    loadgen_section(url, tasks)
elif st.session_state.get("srv_lg_job") is not None:
    st.subheader("Last load run")
    last: Job = st.session_state["srv_lg_job"]
    st.fragment(loadgen_view, run_every=None if last.done else JOB_POLL_S)(polling=not last.done)
