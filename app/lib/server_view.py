"""How the Server page shows what a server answered: its health line, the task table,
classify results and a load run's summary (the page lays them out, this draws them)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.server_client import Classified, Health, TaskRow
from lib.server_loadgen import LoadResult
from lib.server_local import LocalServer
from lib.ui import human_bytes


def health_line(h: Health) -> None:
    info = h.info or {}
    c = st.columns(6)
    c[0].metric("Model", str(info.get("model", "?")))
    c[1].metric("Tasks", f"{info.get('tasks', '?')}")
    c[2].metric("Queue", f"{info.get('queue_length', 0)} / {info.get('queue_limit', '?')}")
    c[3].metric("Policy", str(info.get("policy", "?")))
    wait = info.get("max_wait_ms")
    wait = f"{wait:g}" if isinstance(wait, (int, float)) else "?"
    c[4].metric("Batch (max · wait ms)", f"{info.get('max_batch', '?')} · {wait}")
    c[5].metric("dtype", str(info.get("dtype", "?")))


def local_status(server: LocalServer | None) -> None:
    """One line on the process this dashboard started at the URL (nothing when none)."""
    if server is None:
        return
    if server.running:
        st.caption(f"Local server: `pets serve` pid {server.pid}, {server.plan.backbone}, "
                   f"{server.plan.tasks_from}.")
        return
    code = server.exit_code
    if code in (0, -15, 143):
        st.caption("The local server this page started has stopped.")
        return
    st.error(f"The local server this page started ended with exit code {code}. Its last output:")
    st.code(server.log_tail() or "(no output)", language=None)


def task_table(tasks: list[TaskRow]) -> None:
    df = pd.DataFrame([{"name": t.name, "pet": t.pet, "labels": t.labels,
                        "bytes": human_bytes(t.bytes)} for t in tasks],
                      columns=["name", "pet", "labels", "bytes"])
    st.dataframe(df, hide_index=True, key="srv_tasks")


def classified(results: list[Classified]) -> None:
    ok = [r for r in results if not r.error]
    if ok:
        st.dataframe(pd.DataFrame([{
            "task": r.task, "label": r.label_name, "probability": r.probability,
            "all probabilities": " · ".join(f"{n}: {p:.2f}" for n, p in r.probs)} for r in ok]),
            hide_index=True, key="srv_classified",
            column_config={"probability": st.column_config.ProgressColumn(
                format="%.2f", min_value=0.0, max_value=1.0)})
    for r in results:
        if r.error:
            st.error(f"{r.task}: {r.error}", icon="🚫")


def load_result(res: LoadResult) -> None:
    s = res.summary
    c = st.columns(7)
    c[0].metric("Sent", f"{s['requests']:,}")
    c[1].metric("Completed", f"{s['completed']:,}")
    c[2].metric("Rejected", f"{s['rejected']:,}")
    c[3].metric("Failed", f"{s['failed']:,}")
    c[4].metric("Throughput (req/s)", f"{s['throughput_rps']:.1f}")
    c[5].metric("p50 (ms)", _ms(s["p50_ms"]))
    c[6].metric("p99 (ms)", _ms(s["p99_ms"]))
    check = "==" if res.accounted else "!="
    st.caption(f"{res.trace}: completed + rejected + failed {check} sent "
               f"({s['completed']} + {s['rejected']} + {s['failed']} {check} {s['requests']}); "
               f"offered {s['offered_rps']:.1f} req/s, {s.get('batches', 0)} batches on the server.")
    st.dataframe(pd.DataFrame([s]).round(2), hide_index=True, key="srv_lg_summary")
    for reason, n in res.reasons:
        st.warning(f"{n} x {reason}")
    with st.expander("Per task"):
        st.dataframe(res.per_task.round(2), hide_index=True, key="srv_lg_per_task")
    for line in res.log:
        st.info(line)


def _ms(v: float) -> str:
    return "-" if pd.isna(v) else f"{v:.1f}"
