"""Scalability: throughput and memory as tasks grow, pets against seqs and peft.

A quick-scale run (bert-tiny by default) starts on the first visit in a background thread
and is cached per setting; committed full-scale results from docs/results/ show below."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pets.bench.scalability import MIXES, ScalabilityConfig

from lib.jobs import Job
from lib.scale import (auto_figure, committed_results, memory_figure, quick_scalability,
                       speedup_table, throughput_figure)
from lib.ui import page, user_errors

page("Scalability", ":material/trending_up:")
POLL_S = 0.5
TASK_COUNTS = (1, 2, 4, 8, 16, 32, 64)


def settings() -> ScalabilityConfig | None:
    with st.form("scale_settings"):
        c = st.columns(6)
        preset = c[0].selectbox("Preset", ["bert-tiny", "distilbert"], key="scale_preset")
        mix = c[1].selectbox("PET mix", list(MIXES), key="scale_mix",
                             help="lora: every task LoRA (peft can serve all); paper: the five "
                                  "PET types round-robin (peft left out)")
        tasks = c[2].multiselect("Task counts", TASK_COUNTS, default=[1, 2, 4, 8, 16, 32],
                                 key="scale_tasks")
        queries = c[3].number_input("Queries", value=64, step=16, key="scale_queries")
        seq_len = c[4].number_input("Tokens per query", value=32, step=8, key="scale_seq_len")
        repeats = c[5].number_input("Repeats", value=5, step=1, key="scale_repeats")
        submitted = st.form_submit_button("Run", type="primary", key="scale_run")
    with user_errors("Cannot run: "):
        cfg = ScalabilityConfig(preset=preset, mix=mix, tasks=tuple(tasks), queries=int(queries),
                                seq_len=int(seq_len), repeats=int(repeats))
        if submitted or "scale_job" not in st.session_state:
            start(cfg)
        return cfg
    return None


def start(cfg: ScalabilityConfig) -> None:
    old: Job | None = st.session_state.get("scale_job")
    if old is not None and not old.done:
        old.stop()
    st.session_state["scale_job"] = Job.start(
        "scalability", lambda job: quick_scalability(cfg, _progress=job.report))
    st.session_state["scale_cfg"] = cfg


def quick_view(polling: bool) -> None:
    job: Job | None = st.session_state.get("scale_job")
    if job is None:
        return
    if polling and job.done:
        st.rerun()
    if not job.done:
        st.progress(job.progress, text=f"measuring: {job.message} · {job.elapsed:.1f} s")
        return
    if job.error:
        st.error(f"Scalability run failed: {job.error}")
        return
    df: pd.DataFrame = job.result
    left, right = st.columns(2)
    left.plotly_chart(throughput_figure(df), key="scale_throughput")
    right.plotly_chart(memory_figure(df), key="scale_memory")
    st.dataframe(speedup_table(df), hide_index=True, key="scale_speedup")
    with st.expander("Measurements"):
        st.dataframe(df, hide_index=True, key="scale_table")


def committed() -> None:
    st.subheader("Committed full-scale results")
    files = committed_results()
    if not files:
        st.caption("None committed yet: `pets bench scalability --scale paper` "
                   "writes docs/results/<device>/scalability-distilbert.csv.")
        return
    name = st.selectbox("Result file", list(files), key="committed_file")
    df = pd.read_csv(files[name])
    if {"tasks", "system", "throughput_qps", "memory_mib"} <= set(df.columns):
        left, right = st.columns(2)
        left.plotly_chart(throughput_figure(df), key="committed_throughput")
        right.plotly_chart(memory_figure(df), key="committed_memory")
    else:
        fig = auto_figure(df, name)
        if fig is not None:
            st.plotly_chart(fig, key="committed_auto")
    st.dataframe(df, hide_index=True, key="committed_table")


st.caption("Each system serves the same workload (queries spread evenly over the tasks) at every "
           "task count; memory is what each system holds: pets the shared backbone plus PET "
           "state, seqs one dense copy per task, peft the shared model plus LoRA adapters.")
settings()
current: Job | None = st.session_state.get("scale_job")
polling = current is not None and not current.done
st.fragment(quick_view, run_every=POLL_S if polling else None)(polling=polling)
st.divider()
committed()
