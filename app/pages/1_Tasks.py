"""Tasks: the backbone, the loaded PET tasks (on MiniLM the trained zoo from the start) and
their memory, one sentence run under several tasks at once, training a new task, and
add / upload / remove tasks."""
from __future__ import annotations

import streamlit as st

import pets
import pets.viz
from pets.demo import DEMO_TASKS
from pets.pet import get_method, method_names

from lib import provenance, zoo
from lib.backbones import CHOICES
from lib.sentence_view import sentence_box
from lib.state import Workspace, load_zoo, switch_backbone, workspace
from lib.taskfiles import export_zip, import_zip
from lib.tasks import fields_for, memory_summary, spec_from_form, task_table
from lib.train_view import collect, train_section
from lib.ui import human_bytes, page, user_errors

page("Tasks", ":material/extension:")
ws = workspace()


def backbone_picker(ws: Workspace) -> None:
    keys = list(CHOICES)
    key = st.selectbox("Backbone", keys, index=keys.index(ws.backbone), key="backbone",
                       format_func=lambda k: CHOICES[k].label,
                       help="Switching re-creates your tasks on the new backbone from their specs (random "
                            "parameters); trained tasks get their trained parameters back on "
                            "the backbone they were trained on.")
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
            ws.remove(name)
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
        st.info("No tasks yet: train one or add one below, upload one, or load the demo tasks"
                + (" or the trained zoo." if zoo.fits(ws.backbone) and zoo.zoo_tasks() else "."))
    loaders(ws)
    if not eng.tasks:
        return
    random_notice(ws)
    st.dataframe(table_with_origins(ws), hide_index=True, key="task_table",
                 column_config={
                     "params": st.column_config.NumberColumn(format="%d"),
                     "bytes": st.column_config.NumberColumn(format="%d"),
                     "test accuracy": st.column_config.NumberColumn(
                         format="percent", help="trained tasks: accuracy on their data set's "
                                                "held-out test split"),
                     "share of memory": st.column_config.ProgressColumn(
                         format="percent", min_value=0.0, max_value=1.0),
                     "vs dense copy": st.column_config.NumberColumn(format="percent"),
                 })
    st.plotly_chart(pets.viz.memory_bars(eng), key="memory_chart")


def table_with_origins(ws: Workspace):
    """The task table with where each task's parameters came from, and for trained tasks
    their data set and test accuracy."""
    table = task_table(ws.engine)
    origins = [provenance.details(ws.engine, t) for t in table.task]
    table.insert(2, "parameters", [o.kind for o in origins])
    table.insert(3, "data set", [o.data or "—" for o in origins])
    table.insert(4, "test accuracy", [o.test_accuracy for o in origins])
    return table


def loaders(ws: Workspace) -> None:
    """The demo tasks (random parameters) and the trained zoo (MiniLM only), one click each."""
    eng = ws.engine
    trained = zoo.zoo_tasks()
    c1, c2 = st.columns(2)
    if c1.button("Load the five demo tasks", key="demo_tasks",
                 disabled=all(s.name in eng.tasks for s in DEMO_TASKS),
                 help="random parameters (not trained): they show the machinery and its cost"):
        with user_errors():
            for spec in DEMO_TASKS:
                if spec.name not in eng.tasks:
                    eng.add_task(spec)
            st.rerun()
    if not trained:
        c2.caption(f"No trained zoo in {zoo.zoo_dir()} (build it with `pets zoo`).")
    elif not zoo.fits(ws.backbone):
        c2.info(zoo.cannot_load(ws.backbone), icon=":material/block:")
    else:
        todo = zoo.missing(eng)
        if c2.button(f"Load the trained zoo ({len(todo)} of {len(trained)} tasks)" if todo
                     else "The trained zoo is loaded", key="zoo_tasks", disabled=not todo,
                     help=", ".join(t.name for t in trained)):
            if load_zoo(ws):
                st.rerun()


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
               "what it costs, not what a fine-tuned task would answer. Load the trained zoo "
               "(MiniLM), train a task below, or upload a trained task folder or PEFT adapter "
               f"to see real predictions.{backbone}",
               icon=":material/casino:")


backbone_picker(ws)
collect(ws)  # a finished training run's task joins the engine before the table is drawn
overview = st.container()
st.divider()
sentence_box(ws)
st.divider()
train_section(ws)
st.divider()
left, right = st.columns(2)
with left:
    add_task_form(ws)
with right:
    upload_and_remove(ws)
with overview:
    task_overview(ws)
