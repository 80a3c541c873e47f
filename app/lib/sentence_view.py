"""The Tasks page's "one sentence under several tasks" box: the predicted label name and
its probability per task, a bar chart of every class, and example sentences to pick."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pets.train.zoo import EXAMPLES

from lib import provenance
from lib.backbones import tokenize, tokenizer
from lib.sentences import SentenceRun, TaskOutput, run_sentence
from lib.state import Workspace
from lib.ui import user_errors

PER_ROW = 4
TYPE_YOUR_OWN = "(type your own below)"


def _pick_example() -> None:
    picked = st.session_state.get("sentence_example")
    if picked and picked != TYPE_YOUR_OWN:
        st.session_state["sentence"] = picked


def sentence_box(ws: Workspace) -> None:
    st.subheader("One sentence, several tasks, one batch")
    names = list(ws.engine.tasks)
    if not names:
        st.caption("Add tasks to run a sentence under them.")
        return
    st.session_state.setdefault("sentence", EXAMPLES[0])
    st.selectbox("Example sentences", (TYPE_YOUR_OWN, *EXAMPLES), key="sentence_example",
                 on_change=_pick_example, help="pick one to put it into the box below")
    text = st.text_area("Sentence", key="sentence")
    chosen = st.multiselect("Tasks", names, default=names[:6], key="sentence_tasks")
    if st.button("Run", key="sentence_run", type="primary"):
        with user_errors():
            ids = tokenize(text, ws.engine.config.max_position_embeddings)
            st.session_state["sentence_result"] = run_sentence(
                ws.engine, ids, chosen, tokenizer().convert_ids_to_tokens(ids))
    result: SentenceRun | None = st.session_state.get("sentence_result")
    if result is None:
        return
    if any(o.task not in ws.engine.tasks for o in result.outputs):
        st.caption("Tasks changed since the last run: press Run again.")
        return
    st.caption(f"{len(result.tokens)} tokens: `{' '.join(result.tokens)}` · "
               f"{len(result.outputs)} queries in one mixed batch, {result.seconds * 1e3:.1f} ms")
    for start in range(0, len(result.outputs), PER_ROW):
        for col, out in zip(st.columns(PER_ROW), result.outputs[start:start + PER_ROW]):
            with col:
                task_card(ws, out)
    if len(result.outputs) > 1:
        fig = px.imshow(result.similarity(), zmin=-1, zmax=1, color_continuous_scale="RdBu",
                        text_auto=".2f", title="Cosine similarity of the pooled outputs")
        st.plotly_chart(fig, key="similarity")


def task_card(ws: Workspace, out: TaskOutput) -> None:
    """One task's answer: label name, its probability, where the task came from, all classes."""
    st.markdown(f"**{out.task}** · {out.pet}")
    if out.probs is None:
        st.metric("pooled norm", f"{float((out.pooled ** 2).sum() ** 0.5):.3f}",
                  help="this task has no classifier head")
        return
    st.metric("label", out.label, f"p = {out.probs.max():.2f}", delta_color="off", delta_arrow="off")
    origin = provenance.details(ws.engine, out.task)
    if origin.kind == provenance.RANDOM:
        st.caption("random parameters (not trained): the label means nothing")
    elif origin.kind == provenance.TRAINED:
        acc = "" if origin.test_accuracy is None else f", test accuracy {origin.test_accuracy:.0%}"
        st.caption(f"trained on {origin.data or 'its data'}{acc}")
    st.plotly_chart(probability_bars(out), key=f"probs_{out.task}")


def probability_bars(out: TaskOutput) -> go.Figure:
    """p per class, the class names on the x axis, the predicted one highlighted."""
    colors = ["#1f77b4" if i == out.label_index else "#aec7e8" for i in range(len(out.probs))]
    fig = go.Figure(go.Bar(x=list(out.label_names), y=out.probs, marker_color=colors,
                           text=[f"{p:.2f}" for p in out.probs], textposition="auto"))
    fig.update_layout(height=200, margin=dict(l=0, r=0, t=10, b=0),
                      yaxis=dict(range=[0, 1], title="p"),
                      xaxis=dict(type="category", title="label"))
    return fig
