"""Scalability: throughput and memory as tasks grow, pets against seqs and peft.

Nothing runs until the visitor presses Run: a quick run (bert-tiny by default) goes in
a separate measuring process (not the server's threads), as several independent rounds, and belongs to this session alone
(no cache shared between visitors). Ratios show their median and spread over the
rounds. Committed results from docs/results/ show below, one line per query shape,
and the capacity result as bars."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pets.bench.scalability import MIXES, ScalabilityConfig

from lib.committed import commands, describe, figures
from lib.jobs import Job
from lib.job_view import finished_result, polled
from lib.scale import committed_results
from lib.scale_rounds import TIE, memory_figure, ratio_table, rounds_job, throughput_figure
from lib.ui import page, user_errors

page("Scalability", ":material/trending_up:")
POLL_S = 0.5
TASK_COUNTS = (1, 2, 4, 8, 16, 32, 64)
NOISE = ("**Read the ratios with their spread.** A quick run on bert-tiny times work of a few "
         "milliseconds on a shared CPU: other processes, caches and clock changes move single "
         "measurements by 10-50 %, so a ratio whose spread includes 1.00 is a tie, not a win or "
         "a loss. The paper's gains come from large shared GEMMs: pick distilbert (slower), run "
         "more rounds, or see the committed results below, measured on an idle machine.")


def settings() -> None:
    with st.form("scale_settings"):
        c = st.columns(7)
        preset = c[0].selectbox("Preset", ["bert-tiny", "distilbert"], key="scale_preset")
        mix = c[1].selectbox("PET mix", list(MIXES), key="scale_mix",
                             help="lora: every task LoRA (peft can serve all); paper: the five "
                                  "PET types round-robin (peft left out)")
        tasks = c[2].multiselect("Task counts", TASK_COUNTS, default=[1, 2, 4, 8, 16, 32],
                                 key="scale_tasks")
        queries = c[3].number_input("Queries", value=64, step=16, key="scale_queries")
        seq_len = c[4].number_input("Tokens per query", value=32, step=8, key="scale_seq_len")
        repeats = c[5].number_input("Repeats per round", value=5, step=1, key="scale_repeats",
                                    help="timed runs per system in one round (median taken)")
        rounds = c[6].number_input("Rounds", value=3, min_value=1, max_value=10, step=1,
                                   key="scale_rounds",
                                   help="independent rounds; the spread is their min to max")
        submitted = st.form_submit_button("Run", type="primary", key="scale_run")
    if not submitted:
        return
    with user_errors("Cannot run: "):
        cfg = ScalabilityConfig(preset=preset, mix=mix, tasks=tuple(tasks), queries=int(queries),
                                seq_len=int(seq_len), repeats=int(repeats))
        start(cfg, int(rounds))


def start(cfg: ScalabilityConfig, rounds: int) -> None:
    old: Job | None = st.session_state.get("scale_job")
    if old is not None and not old.done:
        old.stop()
    st.session_state["scale_job"] = Job.start_process("scalability", rounds_job, cfg, rounds)
    st.session_state["scale_cfg"] = cfg


def quick_view(polling: bool) -> None:
    job: Job | None = st.session_state.get("scale_job")
    df: pd.DataFrame | None = finished_result(
        job, polling, what="Scalability run", stop_key="scale_stop", running="measuring: ",
        idle=lambda: st.info("Nothing measured yet: set the run above and press **Run**. A "
                             "default run takes about 20 s on bert-tiny."))
    if df is None:
        return
    table = ratio_table(df)
    st.markdown(f"Quick run: {describe(df)}, {df['round'].nunique()} round(s), "
                f"{job.elapsed:.0f} s.")
    left, right = st.columns(2)
    left.plotly_chart(throughput_figure(df), key="scale_throughput")
    right.plotly_chart(memory_figure(df), key="scale_memory")
    ratio_cols = {c: st.column_config.NumberColumn(format="%.2f") for c in table.columns
                  if c.endswith(" throughput") or c.endswith(" memory")}
    st.dataframe(table, hide_index=True, key="scale_speedup", column_config=ratio_cols)
    ties = [c for c in table.columns if c.startswith("vs ") and (table[c] == TIE).any()]
    if ties:
        st.caption("Ties: the ratio's spread over the rounds includes 1.00, so this run cannot "
                   "tell the systems apart there.")
    with st.expander("Measurements (every round)"):
        st.dataframe(df, hide_index=True, key="scale_table")


def committed() -> None:
    st.subheader("Committed results")
    files = committed_results()
    if not files:
        st.caption("None committed yet: `pets bench scalability --scale paper` "
                   "writes docs/results/<device>/scalability-distilbert.csv.")
        return
    capacity = {k: v for k, v in files.items() if v.name.startswith("capacity")}
    others = {k: v for k, v in files.items() if k not in capacity}
    if others:
        name = st.selectbox("Result file", list(others), key="committed_file")
        show(name, others[name], "committed")
    for name, path in capacity.items():
        st.markdown("**Capacity: how many tasks fit in the same memory**")
        show(name, path, "capacity")


def show(name: str, path, key: str) -> None:
    df = pd.read_csv(path)
    made = commands(path.parent).get(path.name)
    st.caption(" · ".join(p for p in (f"`{name}`", describe(df), made and f"made by {made}") if p))
    figs = figures(df, name)
    cols = st.columns(len(figs)) if len(figs) > 1 else [st]
    for i, (col, fig) in enumerate(zip(cols, figs)):
        col.plotly_chart(fig, key=f"{key}_chart_{i}")
    with st.expander("Table"):
        st.dataframe(df, hide_index=True, key=f"{key}_table")


st.caption("Each system serves the same workload (queries spread evenly over the tasks) at every "
           "task count; memory is what each system holds: pets the shared backbone plus PET "
           "state, seqs one dense copy per task, peft the shared model plus LoRA adapters.")
st.info(NOISE, icon=":material/info:")
settings()
polled(quick_view, "scale_job", POLL_S)
st.divider()
committed()
