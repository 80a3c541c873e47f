"""Tasks page: add tasks of every PET type through the form, reject bad ones with a visible
message, upload task folders and PEFT adapters as zips, remove, run a sentence."""
from __future__ import annotations

import io
import zipfile

import pytest

import pets
from pets.pet import method_names

from tests.app.conftest import errors, open_page


def add(at, pet: str, name: str, **values):
    at.selectbox(key="add_pet").select(pet).run()
    at.text_input(key="add_name").input(name)
    for field, value in values.items():
        at.get_by_key(f"add_{pet}_{field}").set_value(value)
    return at.button(key="add_submit").click().run()


def table(at):
    return next(d.value for d in at.dataframe if "share of memory" in d.value.columns)


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "no task here")
    return buf.getvalue()


@pytest.fixture
def at():
    return open_page("1_Tasks")


def test_starts_empty_and_loads_demo_tasks(at):
    assert not at.exception
    assert "No tasks yet" in at.info[0].value
    at.button(key="demo_tasks").click().run()
    df = table(at)
    assert set(df.pet) == {"lora", "adapter", "bitfit", "diff", "mask"}
    assert df["share of memory"].between(0, 1).all() and (df.params > 0).all()


def test_adds_a_task_of_every_type_through_the_form(at):
    for pet in method_names():
        add(at, pet, f"my-{pet}")
        assert not errors(at), errors(at)
        assert f"Added my-{pet} ({pet})." in [s.value for s in at.success]
    df = table(at).set_index("task")
    assert list(df.pet) == method_names()
    assert "rank=8" in df.loc["my-lora", "hyperparameters"]


def test_hyperparameters_reach_the_spec(at):
    add(at, "lora", "wide", rank=4, alpha=8.0, targets=["query", "key", "value"])
    add(at, "diff", "diffb", density=0.01, bias=True)
    ws = at.session_state["workspace"]
    assert ws.engine.tasks["wide"].rank == 4 and ws.engine.tasks["wide"].targets == ("query", "key", "value")
    assert ws.engine.tasks["diffb"].bias and ws.engine.tasks["diffb"].density == 0.01


@pytest.mark.parametrize("pet, name, values, message", [
    ("lora", "bad name!", {}, "must be 1-64 letters"),
    ("lora", "zero-rank", {"rank": 0}, "rank must be an int"),
    ("diff", "no-density", {"density": 0.0}, "(0, 1]"),
    ("mask", "no-targets", {"targets": []}, "invalid for pet 'mask'"),
])
def test_rejects_impossible_tasks_with_a_visible_error(at, pet, name, values, message):
    add(at, pet, name, **values)
    assert not at.exception
    assert len(errors(at)) == 1 and message in errors(at)[0]
    assert errors(at)[0].startswith("Task not added")
    assert name not in at.session_state["workspace"].engine.tasks


def test_duplicate_name_is_rejected(at):
    add(at, "bitfit", "twice")
    add(at, "bitfit", "twice")
    assert "already loaded" in errors(at)[0]


def _task_zip(spec: pets.TaskSpec) -> bytes:
    from lib.taskfiles import export_zip

    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(spec)
    return export_zip(eng, spec.name)


def _upload(at, filename: str, data: bytes, name: str = ""):
    at.file_uploader(key="upload_zip").set_value((filename, data, "application/zip"))
    at.run()
    at.text_input(key="upload_name").input(name)
    return at.button(key="upload_button").click().run()


def test_uploads_a_task_folder_zip_and_renames_it(at):
    _upload(at, "adapter.zip", _task_zip(pets.TaskSpec(name="ad", pet="adapter", bottleneck=8)),
            name="uploaded")
    assert not errors(at)
    assert at.session_state["workspace"].engine.tasks["uploaded"].bottleneck == 8


def test_uploads_a_peft_adapter_zip(at, tmp_path):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="src", pet="lora", rank=4))
    pets.baselines.peft_model(eng, ["src"]).save_pretrained(tmp_path / "adapter")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in (tmp_path / "adapter").rglob("*"):
            if f.is_file():
                z.write(f, f.relative_to(tmp_path))
    _upload(at, "sentiment.zip", buf.getvalue())
    assert not errors(at), errors(at)
    assert at.session_state["workspace"].engine.tasks["sentiment"].rank == 4


@pytest.mark.parametrize("data, message", [
    (b"not a zip at all", "is not a zip archive"),
    (_empty_zip(), "holds neither a task folder"),
])
def test_rejects_malformed_uploads(at, data, message):
    _upload(at, "broken.zip", data)
    assert not at.exception
    assert message in errors(at)[0] and errors(at)[0].startswith("Not imported")


def test_removes_tasks(at):
    add(at, "bitfit", "keep")
    add(at, "bitfit", "drop")
    at.multiselect(key="remove_tasks").set_value(["drop"]).run()
    at.button(key="remove_button").click().run()
    assert list(at.session_state["workspace"].engine.tasks) == ["keep"]


def test_runs_a_sentence_under_several_tasks_side_by_side(at):
    at.button(key="demo_tasks").click().run()
    at.text_area(key="sentence").input("The central bank raised interest rates.")
    at.multiselect(key="sentence_tasks").set_value(["sentiment-lora", "topic-adapter", "nli-bitfit"])
    at.button(key="sentence_run").click().run()
    assert not at.exception and not errors(at)
    result = at.session_state["sentence_result"]
    assert [o.task for o in result.outputs] == ["sentiment-lora", "topic-adapter", "nli-bitfit"]
    assert [len(o.probs) for o in result.outputs] == [2, 4, 3]
    assert result.tokens[0] == "[CLS]" and "bank" in result.tokens
    assert result.similarity().shape == (3, 3)
    assert at.get_by_key("similarity").type == "plotly_chart"


def test_sentence_needs_a_task(at):
    at.button(key="demo_tasks").click().run()
    at.multiselect(key="sentence_tasks").set_value([])
    at.button(key="sentence_run").click().run()
    assert "pick at least one task" in errors(at)[0]


def test_switching_backbone_recreates_the_tasks(at):
    add(at, "lora", "follows")
    at.selectbox(key="backbone").select("all-MiniLM-L6-v2").run()
    ws = at.session_state["workspace"]
    assert ws.backbone == "all-MiniLM-L6-v2" and ws.engine.config.hidden_size == 384
    assert list(ws.engine.tasks) == ["follows"]
    assert "Re-created 1 task(s) on all-MiniLM-L6-v2" in at.info[0].value


def test_says_plainly_when_parameters_are_random(at):
    at.button(key="demo_tasks").click().run()
    notice = [w.value for w in at.warning]
    assert any("All tasks have random parameters, not trained ones" in w for w in notice), notice
    assert set(table(at)["parameters"]) == {"random (not trained)"}
    at.multiselect(key="sentence_tasks").set_value(["sentiment-lora"])
    at.button(key="sentence_run").click().run()
    assert any("random parameters (not trained)" in c.value for c in at.caption)


def test_uploaded_task_is_not_called_random(at):
    add(at, "bitfit", "rand")
    _upload(at, "adapter.zip", _task_zip(pets.TaskSpec(name="ad", pet="adapter", bottleneck=8)))
    df = table(at).set_index("task")
    assert df.loc["ad", "parameters"] == "from a file"
    assert df.loc["rand", "parameters"] == "random (not trained)"
    assert any("1 of 2 tasks (rand) have random parameters" in w.value for w in at.warning)


def test_memory_line_reads_well_with_no_tasks_and_a_saving_is_green(at):
    labels = [m.label for m in at.metric]
    assert "PET state (no tasks yet)" in labels and not any("0 tasks" in lab for lab in labels)
    add(at, "bitfit", "one")
    labels = [m.label for m in at.metric]
    assert "PET state of 1 task" in labels
    total = next(m for m in at.metric if m.label == "PetS total")
    assert total.proto.delta.startswith("-")  # down, and delta_color inverse: green
