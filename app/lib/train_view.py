"""The Tasks page's "Train a task" section: the form, the live loss (per step) and dev
accuracy (per epoch) while it runs, Stop, and loading the finished task into the session's
engine next to the others."""
from __future__ import annotations

import tempfile
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pets.train import dataset_names, get_recipe

from lib.backbones import CHOICES
from lib.jobs import Job
from lib.state import Workspace
from lib.training import TrainedTask, TrainRequest, Upload, prepare, train_work, trainable_pets
from lib.ui import user_errors

JOB_KEY = "train_job"
REQUEST_KEY = "train_request"
LOADED_KEY = "train_loaded"  # (job, ("success" | "error", message)) once its task was handled
POLL_S = 0.5


def workdir() -> Path:
    """This session's folder for uploaded data files and trained task folders."""
    if "train_dir" not in st.session_state:
        st.session_state["train_dir"] = Path(tempfile.mkdtemp(prefix="pets-dashboard-train-"))
    return st.session_state["train_dir"]


def train_section(ws: Workspace) -> None:
    st.subheader("Train a task")
    st.caption("Fine-tune a new PET task on the session's backbone (frozen) with its method's "
               "recipe, on a bundled data set (VADER corpus, Hutto & Gilbert 2014) or your own "
               "CSV (`text,label` header) or JSONL file. It trains in the background; when it "
               "is done it is served next to the other tasks. Fewer rows and epochs train "
               "faster. Full fine-tuning is not offered: it writes a dense model, not a task.")
    if not CHOICES[ws.backbone].pretrained:
        st.caption(f":material/warning: {ws.backbone}'s weights are random: a task trains on "
                   "it, but learns little. Pick the MiniLM backbone for a real task.")
    form(ws)
    job: Job | None = st.session_state.get(JOB_KEY)
    polling = job is not None and not job.done
    st.fragment(live_view, run_every=POLL_S if polling else None)(polling=polling)


def form(ws: Workspace) -> None:
    with st.form("train_task"):
        c = st.columns(3)
        pet = c[0].selectbox("PET type", trainable_pets(), key="train_pet",
                                index=trainable_pets().index("lora"))
        dataset = c[1].selectbox("Data set", dataset_names(), key="train_data",
                                 help="movies, tweets, nyt, amazon: binary sentiment (near-"
                                      "neutral ratings dropped); source: which of the four")
        upload = c[2].file_uploader("or your own file (it replaces the data set)",
                                    type=["csv", "jsonl"], key="train_upload")
        c = st.columns(4)
        name = c[0].text_input("Name of the new task", key="train_name", placeholder="<data>-<pet>")
        epochs = c[1].number_input("Epochs", value=3, step=1, key="train_epochs")
        max_train = c[2].number_input("Max training rows (0 = all)", value=1000, step=100,
                                      key="train_max_train", help="a stratified sample: quicker")
        max_eval = c[3].number_input("Max dev/test rows (0 = all)", value=500, step=100,
                                     key="train_max_eval")
        submitted = st.form_submit_button("Train", type="primary", key="train_submit")
    if not submitted:
        return
    running: Job | None = st.session_state.get(JOB_KEY)
    if running is not None and not running.done:
        st.error("Not trained: a training run is going on; wait for it or stop it first.")
        return
    with user_errors("Not trained: "):
        request = prepare(ws.engine, ws.backbone, workdir(), pet=pet, dataset=dataset,
                          upload=None if upload is None else Upload(upload.name, upload.getvalue()),
                          name=name, epochs=epochs, max_train=max_train or None,
                          max_eval=max_eval or None)
        st.session_state[JOB_KEY] = Job.start_process(f"train-{request.config.name}",
                                                      train_work, request)
        st.session_state[REQUEST_KEY] = request


def collect(ws: Workspace) -> None:
    """Load the finished run's task into the engine, once (call before the task table)."""
    job: Job | None = st.session_state.get(JOB_KEY)
    held = st.session_state.get(LOADED_KEY)
    if job is None or not job.ok or (held is not None and held[0] is job):
        return
    task: TrainedTask = job.result
    outcome = ("error", f"{task.name} was trained but not loaded: it was trained on "
                        f"{task.backbone} and the page now serves {ws.backbone}; switch back "
                        "and train it again.")
    if task.backbone == ws.backbone:
        with user_errors(f"{task.name} was trained but not loaded: "):
            ws.engine.load_task(task.folder)
            ws.add_trained(task.name, task.origin())
            outcome = ("success", f"Trained {task.name} ({', '.join(task.labels)}): test accuracy "
                                  f"{task.test_accuracy:.1%} (served {task.served_test_accuracy:.1%}"
                                  f"), dev {task.dev_accuracy:.1%}, {task.train_seconds:.0f} s. "
                                  "Loaded next to the other tasks.")
    st.session_state[LOADED_KEY] = (job, outcome)


def live_view(polling: bool) -> None:
    job: Job | None = st.session_state.get(JOB_KEY)
    request: TrainRequest | None = st.session_state.get(REQUEST_KEY)
    if job is None or request is None:
        return
    if polling and job.done:
        st.rerun()  # the whole page: collect() loads the task, the table shows it
    cfg = request.config
    st.markdown(f"**{cfg.name}**: {cfg.pet} on {request.data_label}, {request.backbone}")
    if not job.done:
        st.progress(job.progress, text=f"{job.message} · {job.elapsed:.0f} s")
        if st.button("Stop", key="train_stop"):
            job.stop()
    elif job.error == "stopped":
        st.warning(f"Training of {cfg.name} stopped; nothing was loaded.")
    elif job.error:
        st.error(f"Training of {cfg.name} failed: {job.error}")
    else:
        held = st.session_state.get(LOADED_KEY)
        if held is not None and held[0] is job:
            (st.success if held[1][0] == "success" else st.error)(held[1][1])
    if job.live.get("losses"):
        st.plotly_chart(curve(job.live, cfg.epochs or get_recipe(cfg.pet).epochs),
                        key="train_curve")


def curve(live: dict, epochs: int) -> go.Figure:
    """Training loss per step (left axis) and dev accuracy after each epoch (right axis)."""
    losses = live.get("losses", [])
    per_epoch = live.get("steps_total", len(losses)) / max(1, epochs)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=list(range(1, len(losses) + 1)), y=losses, mode="lines",
                             name="training loss"), secondary_y=False)
    done = live.get("epochs", [])
    fig.add_trace(go.Scatter(x=[e["epoch"] * per_epoch for e in done],
                             y=[e["dev_accuracy"] for e in done], mode="lines+markers",
                             name="dev accuracy"), secondary_y=True)
    fig.update_layout(height=280, margin=dict(l=0, r=0, t=10, b=0),
                      legend=dict(orientation="h", y=1.1))
    fig.update_xaxes(title_text="step", range=[0, max(live.get("steps_total", 1), 1)])
    fig.update_yaxes(title_text="loss", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="dev accuracy", secondary_y=True, range=[0, 1], tickmode="linear",
                     tick0=0, dtick=0.25, tickformat=".0%", showgrid=False)
    return fig
