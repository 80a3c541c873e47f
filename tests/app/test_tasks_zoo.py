"""Tasks page with the trained zoo: loaded by default on MiniLM and marked trained (data set,
test accuracy), label names in the sentence box, random tasks still labelled random, and
on a preset backbone a plain word that the zoo cannot load there."""
from __future__ import annotations

import json

from pets.train.zoo import EXAMPLES

from tests.app.conftest import MINILM, errors, open_page


def table(at):
    return next(d.value for d in at.dataframe if "share of memory" in d.value.columns)


def test_minilm_starts_with_the_trained_zoo(minilm_zoo):
    at = open_page("1_Tasks")
    assert not at.exception and not errors(at)
    ws = at.session_state["workspace"]
    assert ws.backbone == MINILM
    assert list(ws.engine.tasks) == ["movies-lora", "source-lora"]
    assert ws.engine.tasks["movies-lora"].labels == ("negative", "positive")
    assert len(ws.engine.tasks["source-lora"].labels) == 4
    df = table(at).set_index("task")
    assert set(df["parameters"]) == {"trained"}
    assert df.loc["movies-lora", "data set"] == "movies"
    acc = json.loads((minilm_zoo / "movies-lora" / "metrics.json").read_text())["test_accuracy"]
    assert df.loc["movies-lora", "test accuracy"] == acc
    assert not any("random parameters" in w.value for w in at.warning)
    assert at.button(key="zoo_tasks").disabled  # all loaded already


def test_demo_tasks_join_the_zoo_and_stay_random(minilm_zoo):
    at = open_page("1_Tasks")
    at.button(key="demo_tasks").click().run()
    df = table(at).set_index("task")
    assert df.loc["movies-lora", "parameters"] == "trained"
    assert df.loc["sentiment-lora", "parameters"] == "random (not trained)"
    assert df.loc["sentiment-lora", "test accuracy"] != df.loc["sentiment-lora", "test accuracy"]  # NaN
    assert any("5 of 7 tasks" in w.value for w in at.warning)
    # a removed zoo task comes back with the zoo button
    at.multiselect(key="remove_tasks").set_value(["movies-lora"]).run()
    at.button(key="remove_button").click().run()
    assert not at.button(key="zoo_tasks").disabled
    at.button(key="zoo_tasks").click().run()
    assert table(at).set_index("task").loc["movies-lora", "parameters"] == "trained"


def test_sentence_shows_label_names_and_example_picks(minilm_zoo):
    at = open_page("1_Tasks")
    at.selectbox(key="sentence_example").select(EXAMPLES[1]).run()
    assert at.text_area(key="sentence").value == EXAMPLES[1]
    at.button(key="sentence_run").click().run()
    assert not at.exception and not errors(at)
    result = at.session_state["sentence_result"]
    movies, source = result.outputs
    assert movies.label in ("negative", "positive") and movies.label_names == ("negative", "positive")
    assert source.label in source.label_names and len(source.probs) == 4
    shown = {m.value for m in at.metric if m.label == "label"}
    assert shown == {movies.label, source.label}
    bars = at.get_by_key("probs_movies-lora")
    assert '"negative"' in bars.proto.spec and '"positive"' in bars.proto.spec
    assert any("trained on movies" in c.value for c in at.caption)


def test_preset_backbone_says_the_zoo_cannot_load(monkeypatch, tiny_zoo):
    monkeypatch.setenv("PETS_ZOO_DIR", str(tiny_zoo))
    at = open_page("1_Tasks")  # bert-tiny
    assert not at.session_state["workspace"].engine.tasks
    assert any("cannot load on bert-tiny" in i.value for i in at.info)


def test_switching_away_and_back_restores_trained_parameters(minilm_zoo):
    at = open_page("1_Tasks")
    at.selectbox(key="backbone").select("bert-tiny").run()
    assert set(table(at)["parameters"]) == {"random (not trained)"}
    at.selectbox(key="backbone").select(MINILM).run()
    assert set(table(at)["parameters"]) == {"trained"}
    assert any("Reloaded 2 trained task(s)" in i.value for i in at.info)


def test_home_counts_the_zoo(minilm_zoo):
    at = open_page("Home")
    assert not at.exception
    assert next(m for m in at.metric if m.label == "Tasks loaded").value == "2"
