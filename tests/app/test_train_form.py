"""Tasks page, "Train a task": trains in a background process from an uploaded file or a
bundled data set, shows the loss curve, and serves the new task next to the others with
its labels and test accuracy; bad input is a PetsError message and changes nothing."""
from __future__ import annotations

import pytest

from tests.app.conftest import errors, finish_job, open_page, tiny_csv


def table(at):
    return next(d.value for d in at.dataframe if "share of memory" in d.value.columns)


def fill(at, *, pet="lora", data="movies", upload: tuple[str, bytes] | None = None, name="",
         epochs=1, max_train=40, max_eval=40):
    at.selectbox(key="train_pet").select(pet)
    at.selectbox(key="train_data").select(data)
    if upload is not None:
        at.file_uploader(key="train_upload").set_value((*upload, "text/plain"))
    at.text_input(key="train_name").input(name)
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_max_train").set_value(max_train)
    at.number_input(key="train_max_eval").set_value(max_eval)
    return at.button(key="train_submit").click().run()


@pytest.fixture
def at():
    page = open_page("1_Tasks")
    page.button(key="demo_tasks").click().run()
    return page


def test_trains_from_an_uploaded_csv_and_serves_the_task(at):
    fill(at, pet="bitfit", upload=("reviews.csv", tiny_csv()), name="my-reviews", max_eval=0)
    assert not errors(at), errors(at)
    job = finish_job(at, "train_job")
    assert job.ok, job.error
    assert len(job.live["losses"]) == job.live["steps_total"] and len(job.live["epochs"]) == 1
    ws = at.session_state["workspace"]
    assert ws.engine.tasks["my-reviews"].labels == ("neg", "pos")
    assert len(ws.engine.tasks) == 6  # beside the five demo tasks
    row = table(at).set_index("task").loc["my-reviews"]
    assert row["parameters"] == "trained" and row["data set"] == "reviews.csv"
    assert row["test accuracy"] == job.result.test_accuracy
    assert any("Trained my-reviews (neg, pos)" in s.value for s in at.success)
    assert at.get_by_key("train_curve").type == "plotly_chart"
    at.multiselect(key="sentence_tasks").set_value(["my-reviews", "sentiment-lora"])
    at.button(key="sentence_run").click().run()
    assert at.session_state["sentence_result"].outputs[0].label in ("neg", "pos")


def test_trains_on_a_bundled_data_set(at):
    at.text_input(key="add_name").input("tweets-lora")  # the form's default name is taken
    at.button(key="add_submit").click().run()
    fill(at, pet="lora", data="tweets")
    job = finish_job(at, "train_job")
    assert job.ok, job.error
    spec = at.session_state["workspace"].engine.tasks["tweets-lora-2"]
    assert spec.labels == ("negative", "positive")
    df = table(at).set_index("task")
    assert df.loc["tweets-lora-2", "data set"] == "tweets"
    assert df.loc["tweets-lora", "parameters"] == "random (not trained)"


def test_stop_loads_nothing(at):
    fill(at, pet="adapter", data="movies", max_train=0, max_eval=0)
    job = at.session_state["train_job"]
    at.button(key="train_stop").click().run()
    assert job.wait(120) and job.error == "stopped"
    at.run()
    assert any("stopped; nothing was loaded" in w.value for w in at.warning)
    assert len(at.session_state["workspace"].engine.tasks) == 5


@pytest.mark.parametrize("upload, values, message", [
    (("nolabel.csv", b"text,stars\ngood,5\nbad,1\n"), {}, "must name the columns text and label"),
    (("one.csv", tiny_csv(classes=("pos",))), {}, "needs at least two classes"),
    (("empty.csv", tiny_csv() + b",pos\n"), {}, "has an empty text"),
    (("rows.jsonl", b'{"text": "fine", "label": "pos"}\n{"text": "no label"}\n'), {},
     "row 2 has no label"),
    (None, {"epochs": 0}, "epochs must be an int in [1, 1000]"),
    (None, {"name": "sentiment-lora"}, "already loaded"),
    (None, {"name": "bad name!"}, "letters"),
])
def test_bad_input_shows_the_message_and_changes_nothing(at, upload, values, message):
    fill(at, upload=upload, **values)
    assert not at.exception
    assert len(errors(at)) == 1 and message in errors(at)[0], errors(at)
    assert errors(at)[0].startswith("Not trained: ")
    assert "train_job" not in at.session_state and "pets-dashboard-train" not in errors(at)[0]
    assert len(at.session_state["workspace"].engine.tasks) == 5
