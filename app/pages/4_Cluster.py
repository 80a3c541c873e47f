"""Cluster: the PET-migration balancer on simulated workers, and live on Ray.

Pick workers, skew and balancers; each balancer replays the same skewed trace on the
`sim` backend (virtual devices on the committed cost-model profile). Shows throughput
at saturation, per-worker load over time and the migrations. Sim runs take about a
second and are cached per setting; committed grid results show below.

Live on Ray: the same kind of trace served by real Ray actors (one per core) in a
measuring process; the per-worker load and the migrations are drawn as they happen."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import pets.viz
from pets.batching.cost import CostModel, data_dir
from pets.bench.cluster import worker_capacity
from pets.cluster import BALANCERS, Catalog, ClusterConfig, Fault, replay_cluster
from pets.config import preset as model_config
from pets.serving import ServeConfig, TraceSpec, generate_trace

from lib.cluster_live import (MAX_WORKERS, MODELS, LivePlan, migrations_frame, run_live,
                              samples_frame)
from lib.job_view import finished_result, polled
from lib.jobs import Job
from lib.ui import page, user_errors

page("Cluster", ":material/lan:")
PRESETS = ("bert-tiny", "distilbert")  # models with a committed CPU cost-model profile
POLL_S = 0.5


@st.cache_data(max_entries=4)
def capacity(preset_name: str) -> float:
    """One simulated worker's saturated throughput (req/s) under the committed profile."""
    cfg = model_config(preset_name)
    return worker_capacity(CostModel.for_model(preset_name, cfg), cfg.vocab_size)


@st.cache_data(show_spinner="simulating the cluster ...", max_entries=16)
def simulate(preset: str, workers: int, tasks: int, alpha: float, load: float, seconds: float,
             balancers: tuple[str, ...], budget: float, kill_at: float | None) -> dict:
    rate = load * workers * capacity(preset)
    trace = generate_trace(TraceSpec(requests=int(rate * seconds), rate=rate, tasks=tasks,
                                     alpha=alpha, cv=1.0, seed=0))
    catalog = Catalog.for_trace(trace, preset).shuffled(0)
    budget_mb = None if budget <= 0 else budget * catalog.total_bytes() / workers / 2**20
    faults = () if kill_at is None else (Fault(kill_at, 0),)
    interval = min(0.5, seconds / 16)
    return {b: replay_cluster(trace, catalog, ClusterConfig(
        workers=workers, balancer=b, memory_budget_mb=budget_mb, faults=faults,
        interval_s=interval, window_s=4 * interval),
        ServeConfig(policy="cb-pad", queue_limit=len(trace.rows)), progress=False)
        for b in balancers}


def settings() -> dict | None:
    with st.form("cluster_settings"):
        c = st.columns(4)
        preset = c[0].selectbox("Cost model", PRESETS, index=1, key="cl_preset")
        workers = c[1].slider("Workers", 1, 16, 4, key="cl_workers")
        tasks = c[2].select_slider("Tasks", [8, 16, 32, 64, 128, 256], 64, key="cl_tasks")
        alpha = c[3].slider("Zipf skew alpha", 0.1, 2.0, 1.5, 0.1, key="cl_alpha")
        c = st.columns(4)
        load = c[0].slider("Offered load / capacity", 0.2, 3.0, 1.5, 0.1, key="cl_load")
        seconds = c[1].number_input("Trace seconds", value=8.0, step=1.0, key="cl_seconds")
        budget = c[2].number_input("PET budget (fair shares, 0 = unbounded)", value=0.0, step=0.5,
                                   key="cl_budget")
        kill = c[3].number_input("Kill worker 0 at s (-1 = never)", value=-1.0, step=1.0,
                                 key="cl_kill")
        balancers = st.multiselect("Balancers", sorted(BALANCERS),
                                   default=["static", "replicate", "migrate"], key="cl_balancers")
        st.form_submit_button("Simulate", type="primary", key="cl_run")
    if not balancers:
        st.error("Pick at least one balancer.", icon="🚫")
        return None
    if seconds <= 0 or seconds > 120 or budget < 0:
        st.error("Trace seconds must be in (0, 120] and the budget >= 0.", icon="🚫")
        return None
    return dict(preset=preset, workers=workers, tasks=tasks, alpha=alpha, load=load,
                seconds=float(seconds), balancers=tuple(balancers), budget=float(budget),
                kill_at=None if kill < 0 else float(kill))


def results(reports: dict) -> None:
    summary = pd.DataFrame([r.summary() for r in reports.values()])
    if "static" in reports:
        summary["vs_static"] = summary.throughput_rps / reports["static"].summary()["throughput_rps"]
    cols = ["balancer", "requests", "completed", "rejected", "failed", "throughput_rps",
            "vs_static", "p99_ms", "migrations", "recoveries", "moved_mb", "peak_pet_mb"]
    st.subheader("Summary")
    st.dataframe(summary[[c for c in cols if c in summary]].round(2), hide_index=True,
                 key="cl_summary")
    metric = st.radio("Load metric", ["outstanding_tokens", "queued", "busy", "pet_mb"],
                      horizontal=True, key="cl_metric")
    st.plotly_chart(pets.viz.cluster_load(reports, metric=metric), key="cl_load_chart")
    moving = [b for b, r in reports.items() if len(r.migration_log())]
    if moving:
        which = st.selectbox("Migrations of", moving, key="cl_mig_of")
        st.plotly_chart(pets.viz.migration_timeline(reports[which]), key="cl_timeline")
        with st.expander("Migration log"):
            st.dataframe(reports[which].migration_log().round(4), hide_index=True, key="cl_log")
    for b, r in reports.items():
        for line in r.report.log:
            st.info(f"{b}: {line}")


def committed() -> None:
    st.subheader("Committed results (`pets bench cluster --scale quick`)")
    path = data_dir().parent / "docs" / "results" / "cpu" / "cluster.csv"
    if not path.is_file():
        st.caption("None committed yet.")
        return
    grid = pd.read_csv(path)
    st.dataframe(grid.pivot_table(index=["budget", "tasks", "workers", "alpha"], columns="balancer",
                                  values="vs_static").round(2).reset_index(), hide_index=True,
                 key="cl_committed")


def live_settings() -> None:
    """The live run's form: starts a measuring process that serves on real Ray actors."""
    with st.form("live_settings"):
        c = st.columns(4)
        model = c[0].selectbox("Model", MODELS, key="lv_model",
                               help="bert-tiny: seconds per run; minilm: the real checkpoint")
        workers = c[1].slider("Actors", 1, MAX_WORKERS, 2, key="lv_workers",
                              help="one Ray actor per core, one torch thread each")
        balancer = c[2].selectbox("Balancer", sorted(BALANCERS),
                                  index=sorted(BALANCERS).index("migrate"), key="lv_balancer")
        alpha = c[3].slider("Zipf skew alpha", 0.1, 2.0, 1.2, 0.1, key="lv_alpha")
        c = st.columns(4)
        tasks = c[0].select_slider("Tasks", [8, 16, 32, 64], 32, key="lv_tasks")
        load = c[1].slider("Offered load / capacity", 0.2, 3.0, 1.2, 0.1, key="lv_load",
                           help="x what the actors serve, from one actor's measured rate")
        seconds = c[2].number_input("Seconds of arrivals", value=5.0, step=1.0, key="lv_seconds")
        kill = c[3].number_input("Kill actor 0 at s (-1 = never)", value=-1.0, step=1.0,
                                 key="lv_kill")
        go = st.form_submit_button("Run on Ray", type="primary", key="lv_run")
    if not go:
        return
    with user_errors("Cannot run on Ray: "):
        plan = LivePlan(model=model, workers=int(workers), balancer=balancer, tasks=int(tasks),
                        alpha=float(alpha), load=float(load), seconds=float(seconds),
                        kill_at=None if kill < 0 else float(kill))
        old: Job | None = st.session_state.get("live_job")
        if old is not None and not old.done:
            old.stop()
        st.session_state["live_job"] = Job.start_process("cluster-live", run_live, plan)


def live_view(polling: bool) -> None:
    job: Job | None = st.session_state.get("live_job")
    metric = st.radio("Live load metric", ["outstanding_tokens", "queued", "busy", "tasks"],
                      horizontal=True, key="lv_metric")
    if job is not None and job.live.get("samples"):
        st.plotly_chart(pets.viz.live_load(samples_frame(job.live["samples"]),
                                           migrations_frame(job.live.get("migrations", [])),
                                           metric), key="lv_chart")
    result = finished_result(job, polling, what="The live run", stop_key="lv_stop",
                             idle=lambda: st.caption("Press Run on Ray: Ray starts in a separate "
                                                     "process (a few seconds), then the actors "
                                                     "serve while this page draws them."))
    if result is None:
        return
    summary = pd.DataFrame([result["summary"]])
    st.caption(f"Offered {result['rate_rps']:.1f} req/s; one actor serves "
               f"{result['worker_rps']:.1f} req/s of this trace on its own. Wall-clock "
               "throughput and latency, measured at the driver.")
    cols = ["balancer", "workers", "requests", "completed", "rejected", "failed",
            "throughput_rps", "p50_ms", "p99_ms", "migrations", "recovery_s", "worker_busy"]
    st.dataframe(summary[[c for c in cols if c in summary]].round(2), hide_index=True,
                 key="lv_summary")
    log = result["migrations"]
    if len(log):
        with st.expander(f"Migration log ({len(log)})"):
            st.dataframe(log.round(3), hide_index=True, key="lv_log")
    for line in result["log"]:
        st.info(line)


st.caption("Throughput at saturation: requests over the makespan with unbounded queues, so a "
           "hot worker that static placement cannot relieve sets the pace.")
chosen = settings()
if chosen is not None:
    with user_errors("Cannot simulate: "):
        results(simulate(**chosen))
st.divider()
committed()

st.divider()
st.subheader("Live on Ray")
st.caption("Real Ray actors (one per core, each with the shared backbone and its share of the "
           "PETs) serve a skewed trace at once; the driver routes every request to the "
           "least-loaded actor holding its task, and the balancer ships PETs between actors "
           "while they serve. Runs in a separate process (`pets bench cluster-live` from the "
           "command line).")
live_settings()
polled(live_view, "live_job", POLL_S)
