"""Replay: a request trace against one or more serving systems, with live charts.

A simulated replay runs in a background thread (lib.jobs); a real-executor replay, which
times the systems, runs in a separate measuring process so that this server's threads
do not disturb its clock. A fragment polls the job every half second and redraws
progress and charts, so the page never waits for the run to end."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from pets.batching.policies import POLICIES
from pets.serving import SYSTEMS, ServeConfig, Trace, TraceSpec, generate_trace
from pets.serving.default_load import default_load
from pets.serving.generate import ARRIVALS, LENGTHS, POPULARITY
from pets.viz import sweep_lines

from lib import charts, replay_view
from lib.backbones import fork, new_engine
from lib.jobs import Job
from lib.job_view import finished_result, polled
from lib.replay_run import SPEEDS, ReplayPlan, live_frames, live_progress, requests_csv, start_replay
from lib.state import workspace
from lib.sweep_run import SweepConfig, capacity_at_slo, summary_lines, sweep_job
from lib.traces import describe, load_shipped, parse_upload, shipped_traces
from lib.ui import human_bytes, page, user_errors

page("Replay", ":material/timer:")
POLL_S = 0.5
# Default: a load where the systems differ for the dtype engines serve in here (on distilbert,
# a little more than seqs carries within the 200 ms SLO, well below what pets carries); on
# bert-tiny every shipped trace is light and all tie.
DEFAULT = default_load()
DEFAULT_TRACE, DEFAULT_PRESET = DEFAULT.trace, DEFAULT.preset
SEQS_MEMORY_LIMIT = 8 * 2**30  # refuse real seqs runs whose dense copies would exceed this


def trace_picker() -> Trace | None:
    source = st.radio("Trace", ["Shipped", "Generate", "Upload"], horizontal=True, key="trace_source")
    if source == "Shipped":
        files = shipped_traces()
        names = list(files)
        default = names.index(DEFAULT_TRACE) if DEFAULT_TRACE in names else 0
        name = st.selectbox("Shipped trace (data/traces/)", names, index=default, key="shipped_trace")
        return load_shipped(str(files[name])) if name else None
    if source == "Generate":
        return generated_trace()
    upload = st.file_uploader("Trace CSV: arrival_s, task, seq_len [, input_ids, text, event, spec]",
                              type=["csv"], key="trace_upload")
    if upload is None:
        return None
    with user_errors("Trace rejected: "):
        return parse_upload(upload.name, upload.getvalue())
    return None


def generated_trace() -> Trace | None:
    with st.form("gen_trace"):
        c = st.columns(4)
        spec = dict(
            requests=c[0].number_input("requests", value=500, step=100, key="gen_requests"),
            rate=c[1].number_input("rate (req/s)", value=50.0, step=10.0, key="gen_rate"),
            arrival=c[2].selectbox("arrivals", list(ARRIVALS), index=1, key="gen_arrival"),
            cv=c[3].number_input("cv (burstiness)", value=2.0, step=0.5, key="gen_cv"),
            tasks=c[0].number_input("tasks", value=16, step=1, key="gen_tasks"),
            popularity=c[1].selectbox("popularity", list(POPULARITY), index=1, key="gen_popularity"),
            alpha=c[2].number_input("popularity alpha", value=1.0, step=0.1, key="gen_alpha"),
            lengths=c[3].selectbox("lengths", list(LENGTHS), index=1, key="gen_lengths"),
            mean_len=c[0].number_input("mean length", value=32.0, step=4.0, key="gen_mean"),
            std_len=c[1].number_input("length std", value=8.0, step=1.0, key="gen_std"),
            max_len=c[2].number_input("max length", value=128, step=16, key="gen_max"),
            seed=c[3].number_input("seed", value=0, step=1, key="gen_seed"),
        )
        if st.form_submit_button("Generate", key="gen_submit"):
            with user_errors("Trace not generated: "):
                ints = ("requests", "tasks", "max_len", "seed")
                spec = {k: int(v) if k in ints else v for k, v in spec.items()}
                st.session_state["generated_trace"] = generate_trace(TraceSpec(**spec))
    trace = st.session_state.get("generated_trace")
    if trace is None:
        st.caption("Set the generator and press Generate.")
    return trace


def serving_plan(trace: Trace) -> ReplayPlan | None:
    """The serving controls; the plan, or None after showing why it is invalid."""
    c = st.columns(4)
    systems = c[0].multiselect("Systems", list(SYSTEMS), default=["pets", "seqs"], key="systems",
                               help="pets: one mixed batch; seqs: a dense copy per task; "
                                    "peft: HF PEFT (LoRA tasks only); base: shared model alone")
    policies = sorted(POLICIES)
    policy = c[1].selectbox("Batching policy", policies, index=policies.index("best"), key="policy")
    executor = c[2].radio("Executor", ["sim", "real"], horizontal=True, key="executor",
                          help="sim: time from the cost model; real: runs the engine, wall-clock")
    speed = c[3].selectbox("Playback speed", list(SPEEDS), index=list(SPEEDS).index("5x"), key="speed",
                           help="trace seconds per wall-clock second")
    c = st.columns(4)
    mine = c[0].radio("Tasks", ["the trace's (paper PET mix)", "mine (Tasks page)"], key="tasks_from",
                      help="mine: the trace's tasks are mapped round-robin onto your tasks")
    presets = ["bert-tiny", "distilbert"]
    preset = c[1].selectbox("Preset", presets, index=presets.index(DEFAULT_PRESET),
                            key="replay_preset", disabled=mine.startswith("mine"),
                            help="distilbert: the default trace loads it near seqs' capacity, so "
                                 "the systems differ; bert-tiny is light for every shipped trace")
    max_batch = c[2].number_input("max batch", value=32, step=1, key="max_batch")
    max_wait = c[3].number_input("max wait (ms)", value=20.0, step=5.0, key="max_wait")
    slo = st.number_input("Latency SLO (ms)", value=replay_view.DEFAULT_SLO_MS, min_value=1.0,
                          step=50.0, key="slo_ms",
                          help="goodput counts requests completed within it; the summary says "
                               "whether each system's p99 meets it")
    with user_errors("Cannot replay: "):
        engine = workspace().engine if mine.startswith("mine") else None  # forked on Run
        dense = (engine or new_engine(preset)).memory().shared
        copies = len(engine.tasks) if engine else len(trace.tasks)
        if "seqs" in systems and executor == "real" and dense * copies > SEQS_MEMORY_LIMIT:
            st.error(f"seqs would hold {copies} dense copies ({human_bytes(dense * copies)}); "
                     "pick a smaller preset or trace, or leave seqs out")
            return None
        config = ServeConfig(policy=policy, executor=executor, max_batch=int(max_batch),
                             max_wait_ms=float(max_wait), slo_ms=float(slo))
        return ReplayPlan(trace=trace, systems=tuple(systems), config=config, preset=preset,
                          engine=engine, speed=SPEEDS[speed])
    return None


def live_view(polling: bool) -> None:
    """Progress, charts and (once done) the summary of the session's replay job."""
    job: Job | None = st.session_state.get("replay_job")
    if job is None:
        st.info("Pick a trace and the systems, then press Run.")
        return
    if polling and job.done:
        st.rerun()  # a full run: stop polling and show the final state
    plan: ReplayPlan = st.session_state["replay_plan"]
    frames = live_frames(job)
    progress = live_progress(job, len(plan.systems))
    system = job.live.get("system") or ""
    # job.message already names the system ("pets: replaying")
    label = "done" if job.ok else (f"{job.error}" if job.done else job.message or system)
    st.progress(progress, text=f"{progress:.0%} · {label} · {job.elapsed:.1f} s")
    if job.done and job.error == "stopped":
        st.warning("Replay stopped; the charts show what it served until then.")
    elif job.done and job.error:
        st.error(f"Replay failed: {job.error}")
    if frames:
        st.dataframe(charts.status_counts(frames), key="status_counts")
        left, right = st.columns(2)
        slo = plan.config.slo_ms
        left.plotly_chart(replay_view.distinguish(charts.throughput_over_time(frames)),
                          key="chart_throughput")
        right.plotly_chart(replay_view.queue_chart(frames), key="chart_queue")
        left.plotly_chart(replay_view.latency_cdf(frames, slo), key="chart_cdf")
        right.plotly_chart(charts.latency_percentiles(frames), key="chart_percentiles")
        st.plotly_chart(charts.per_task_latency(frames), key="chart_per_task")
    if job.ok:
        st.subheader("Summary")
        span = plan.trace.duration_s
        offered = len(plan.trace.requests) / span if span > 0 else None
        st.dataframe(replay_view.summary_table(job.result, frames, plan.config.slo_ms, offered),
                     hide_index=True, key="replay_summary",
                     column_config=replay_view.column_config(plan.config.slo_ms))
        st.caption(f"Offered load {offered or float('nan'):.1f} req/s; SLO {plan.config.slo_ms:g} ms. "
                   "Capacity is each system's most requests per second by its cost model (full "
                   "batches at the trace's mean length). Throughput equal to the offered load means "
                   "the system kept up: compare latency then, or raise the load (Generate a faster "
                   "trace, or `pets bench sweep`) to find capacity at the SLO.")
        if plan.measures:
            st.caption("Real executor: every system and task warmed up before the clock started; "
                       "measured in a separate process. One run per system: for medians with "
                       "their spread use `pets replay --executor real --repeats 3`.")
            for flag in replay_view.ordering_warnings(job.result):
                st.warning(flag)
        st.download_button("Download per-request CSV", requests_csv(frames), key="download_csv",
                           file_name=f"replay-{plan.trace.name.rsplit('/', 1)[-1]}", mime="text/csv")
        logs = {name: r.log for name, r in job.result.items() if r.log}
        if logs:
            with st.expander("Lifecycle events"):
                st.json(logs)


def sweep_settings() -> None:
    """The load sweep's form: it raises the offered rate until p99 breaks the SLO."""
    with st.form("sweep_settings"):
        c = st.columns(5)
        presets = ["bert-tiny", "distilbert"]
        preset = c[0].selectbox("Preset", presets, index=presets.index(DEFAULT_PRESET),
                                key="sweep_preset")
        systems = c[1].multiselect("Systems", ["pets", "seqs", "peft", "base"],
                                   default=["pets", "seqs", "base"], key="sweep_systems")
        executor = c[2].radio("Executor", ["sim", "real"], horizontal=True, key="sweep_executor",
                              help="sim: seconds, from the cost model; real: runs every step "
                                   "(minutes on distilbert)")
        requests = c[3].number_input("Requests per step", value=500, min_value=20, step=100,
                                     key="sweep_requests")
        slo = c[4].number_input("SLO p99 (ms)", value=replay_view.DEFAULT_SLO_MS, min_value=1.0,
                                step=50.0, key="sweep_slo")
        go = st.form_submit_button("Sweep", key="sweep_run")
    if not go:
        return
    with user_errors("Cannot sweep: "):
        cfg = SweepConfig(preset=preset, systems=tuple(systems), executor=executor,
                          requests=int(requests), slo_ms=float(slo), alpha=DEFAULT.alpha,
                          mean_len=DEFAULT.mean_len)
        old: Job | None = st.session_state.get("sweep_job")
        if old is not None and not old.done:
            old.stop()
        st.session_state["sweep_job"] = Job.start_process("sweep", sweep_job, cfg)


def sweep_view(polling: bool) -> None:
    df = finished_result(
        st.session_state.get("sweep_job"), polling, what="Sweep", stop_key="sweep_stop",
        idle=lambda: st.caption("Press Sweep to find each system's capacity at the SLO (the sim "
                                "takes ~15 s on distilbert)."))
    if df is None:
        return
    st.markdown("\n".join(f"- {line}" for line in summary_lines(df)))
    st.plotly_chart(sweep_lines(df), key="chart_sweep")
    st.dataframe(capacity_at_slo(df), hide_index=True, key="sweep_capacity",
                 column_config={c: st.column_config.NumberColumn(format="%.1f")
                                for c in ("capacity_at_slo_rps", "throughput_rps", "p99_ms",
                                          "estimate_rps")})
    with st.expander("Every step"):
        st.dataframe(df, hide_index=True, key="sweep_steps")


trace = trace_picker()
if trace is not None:
    info = describe(trace)
    c = st.columns(5)
    for col, (k, v) in zip(c, info.items()):
        col.metric(k, f"{v:,.1f}" if isinstance(v, float) else f"{v:,}")
    st.divider()
    plan = serving_plan(trace)
    job: Job | None = st.session_state.get("replay_job")
    running = job is not None and not job.done
    b1, b2, _ = st.columns([1, 1, 6])
    if b1.button("Run", type="primary", key="run_replay", disabled=plan is None):
        if running:
            job.stop()
        plan = replace(plan, engine=plan.engine and fork(plan.engine))
        st.session_state["replay_plan"] = plan
        st.session_state["replay_job"] = start_replay(plan)
        running = True
    if b2.button("Stop", key="stop_replay", disabled=not running):
        job.stop()
        running = False
polled(live_view, "replay_job", POLL_S)

st.divider()
st.subheader("Load sweep: capacity at the SLO")
st.caption("The offered rate rises step by step for each system (a quarter of its cost-model "
           "capacity, a half, ...) until p99 breaks the SLO, then bisects; a system's capacity at "
           "the SLO is the highest rate that met it. Runs in a separate process "
           "(`pets bench sweep` from the command line).")
sweep_settings()
polled(sweep_view, "sweep_job", POLL_S)
