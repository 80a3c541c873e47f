"""Tasks: the backbone, the loaded PET tasks and their memory, add / upload / remove tasks,
and one sentence run under several tasks at once."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import pets
import pets.viz
from pets.demo import DEMO_TASKS
from pets.pet import get_method, method_names

from lib import provenance
from lib.backbones import CHOICES, tokenize, tokenizer
from lib.sentences import SentenceRun, run_sentence
from lib.state import Workspace, switch_backbone, workspace
from lib.taskfiles import export_zip, import_zip
from lib.tasks import fields_for, memory_summary, spec_from_form, task_table
from lib.ui import human_bytes, page, user_errors

page("Tasks", ":material/extension:")
ws = workspace()


def backbone_picker(ws: Workspace) -> None:
    keys = list(CHOICES)
    key = st.selectbox("Backbone", keys, index=keys.index(ws.backbone), key="backbone",
                       format_func=lambda k: CHOICES[k].label,
                       help="Switching re-creates your tasks on the new backbone from their specs.")
    with user_errors():
        switch_backbone(ws, key)
    for note in ws.notes:
        st.info(note)
    ws.notes.clear()


def add_task_form(ws: Workspace) -> None:
    st.subheader("Add a task")
    pet = st.selectbox("PET type", method_names(), index=method_names().index("lora"), key="add_pet",
                       help="LoRA, Houlsby adapters, BitFit, diff-pruning, MaskBERT")
    method = get_method(pet)
    with st.form("add_task"):
        name = st.text_input("Task name", key="add_name", placeholder=f"{pet}-{len(ws.engine.tasks)}")
        values = {}
        for f in fields_for(pet):
            key = f"add_{pet}_{f.name}"
            if f.kind == "bool":
                values[f.name] = st.checkbox(f.label, value=f.default, key=key, help=f.help)
            elif f.kind == "int":
                values[f.name] = int(st.number_input(f.label, value=f.default, step=1, key=key, help=f.help))
            else:
                values[f.name] = st.number_input(f.label, value=float(f.default), step=0.001,
                                                 format="%.4f", key=key, help=f.help)
        targets = st.multiselect("Targets", method.allowed_targets, default=method.default_targets,
                                 key=f"add_{pet}_targets", help="linears (or adapter sites) it changes")
        c1, c2 = st.columns(2)
        labels = c1.number_input("Classifier labels (0 = no head)", value=2, step=1, key="add_labels")
        seed = c2.number_input("Seed (empty = from the name)", value=None, step=1, key="add_seed")
        submitted = st.form_submit_button("Add task", type="primary", key="add_submit")
    if submitted:
        with user_errors("Task not added: "):
            spec = spec_from_form(name or f"{pet}-{len(ws.engine.tasks)}", pet, values, targets,
                                  int(labels), None if seed is None else int(seed))
            ws.engine.add_task(spec)
            st.success(f"Added {spec.name} ({spec.pet}).")


def upload_and_remove(ws: Workspace) -> None:
    st.subheader("Upload a task")
    upload = st.file_uploader("Task folder or PEFT LoRA adapter, as a zip", type=["zip"],
                              key="upload_zip")
    rename = st.text_input("Name (optional; a PEFT adapter defaults to the zip's name)",
                           key="upload_name")
    if st.button("Import", key="upload_button", disabled=upload is None):
        with user_errors("Not imported: "):
            spec = import_zip(ws.engine, upload.getvalue(), filename=upload.name, name=rename or None)
            provenance.mark_from_file(ws.engine, spec.name)
            st.success(f"Imported {spec.name} ({spec.pet}, {spec.num_labels} labels).")

    names = list(ws.engine.tasks)
    st.subheader("Remove or download")
    gone = st.multiselect("Tasks", names, key="remove_tasks")
    c1, c2 = st.columns(2)
    if c1.button("Remove", key="remove_button", disabled=not gone):
        for name in gone:
            ws.engine.remove_task(name)
        st.success(f"Removed {', '.join(gone)}.")
        st.rerun()
    if names:
        which = c2.selectbox("Task to download", names, key="download_task", label_visibility="collapsed")
        with user_errors():
            c2.download_button("Download task zip", export_zip(ws.engine, which),
                               file_name=f"{which}.zip", mime="application/zip", key="download_button")


def task_overview(ws: Workspace) -> None:
    eng = ws.engine
    mem = memory_summary(eng)
    c = st.columns(4)
    c[0].metric("Shared backbone", human_bytes(mem["shared"]), help="held once for every task")
    n = len(eng.tasks)
    c[1].metric("PET state of " + (f"{n} task" if n == 1 else f"{n} tasks") if n else
                "PET state (no tasks yet)", human_bytes(mem["tasks"]))
    # A saving: a green arrow pointing down on PetS's own number.
    c[2].metric("PetS total", human_bytes(mem["total"]),
                delta=f"-{1 - 1 / mem['saving']:.0%} vs dense copies" if n else None,
                delta_color="inverse")
    c[3].metric("One dense copy per task", human_bytes(mem["dense_total"]) if n else "none",
                help=f"{mem['saving']:.1f}x what PetS holds" if n else "no tasks loaded")
    if not eng.tasks:
        st.info("No tasks yet: add one below, upload one, or load the demo tasks.")
        if st.button("Load the five demo tasks", key="demo_tasks"):
            with user_errors():
                for spec in DEMO_TASKS:
                    if spec.name not in eng.tasks:
                        eng.add_task(spec)
                st.rerun()
        return
    random_notice(ws)
    table = task_table(eng)
    table.insert(2, "parameters", [provenance.origin(eng, t) for t in table.task])
    st.dataframe(table, hide_index=True, key="task_table",
                 column_config={
                     "params": st.column_config.NumberColumn(format="%d"),
                     "bytes": st.column_config.NumberColumn(format="%d"),
                     "share of memory": st.column_config.ProgressColumn(
                         format="percent", min_value=0.0, max_value=1.0),
                     "vs dense copy": st.column_config.NumberColumn(format="percent"),
                 })
    st.plotly_chart(pets.viz.memory_bars(eng), key="memory_chart")


def random_notice(ws: Workspace) -> None:
    """Say plainly which tasks have random (untrained) parameters."""
    rand = provenance.random_tasks(ws.engine)
    if not rand:
        return
    which = "All tasks" if len(rand) == len(ws.engine.tasks) else \
        f"{len(rand)} of {len(ws.engine.tasks)} tasks ({', '.join(rand[:6])}{', ...' if len(rand) > 6 else ''})"
    backbone = "" if CHOICES[ws.backbone].pretrained else \
        " The backbone's weights are random too (a preset shape, no checkpoint)."
    st.warning(f"**{which} have random parameters, not trained ones.** Their labels and "
               "probabilities mean nothing: they show that every task runs in one batch and "
               "what it costs, not what a fine-tuned task would answer. Upload a trained task "
               f"folder or PEFT adapter to see real predictions.{backbone}",
               icon=":material/casino:")


def sentence_box(ws: Workspace) -> None:
    st.subheader("One sentence, several tasks, one batch")
    names = list(ws.engine.tasks)
    if not names:
        st.caption("Add tasks to run a sentence under them.")
        return
    text = st.text_area("Sentence", "A gripping, beautifully acted film.", key="sentence")
    chosen = st.multiselect("Tasks", names, default=names[:4], key="sentence_tasks")
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
    per_row = 4
    for start in range(0, len(result.outputs), per_row):
        for col, out in zip(st.columns(per_row), result.outputs[start:start + per_row]):
            with col:
                st.markdown(f"**{out.task}** · {out.pet}")
                if out.probs is None:
                    st.metric("pooled norm", f"{float((out.pooled ** 2).sum() ** 0.5):.3f}",
                              help="this task has no classifier head")
                    continue
                st.metric("label", out.label, f"p = {out.probs.max():.2f}", delta_color="off")
                if provenance.origin(ws.engine, out.task) == provenance.RANDOM:
                    st.caption("random parameters (not trained): the label means nothing")
                fig = go.Figure(go.Bar(x=[str(i) for i in range(len(out.probs))], y=out.probs))
                fig.update_layout(height=180, margin=dict(l=0, r=0, t=10, b=0),
                                  yaxis=dict(range=[0, 1], title="p"),
                                  xaxis=dict(type="category", title="label"))
                st.plotly_chart(fig, key=f"probs_{out.task}")
    if len(result.outputs) > 1:
        sim = result.similarity()
        fig = px.imshow(sim, zmin=-1, zmax=1, color_continuous_scale="RdBu", text_auto=".2f",
                        title="Cosine similarity of the pooled outputs")
        st.plotly_chart(fig, key="similarity")


backbone_picker(ws)
overview = st.container()
left, right = st.columns(2)
with left:
    add_task_form(ws)
with right:
    upload_and_remove(ws)
with overview:
    task_overview(ws)
st.divider()
sentence_box(ws)
