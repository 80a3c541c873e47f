"""Every endpoint of `pets serve` over HTTP, outputs equal to engine.infer."""
from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
import torch

import pets
from pets.serving.dispatch import tokenize

from tests.server.conftest import SPECS

TEXTS = ["the movie was wonderful", "a dull, plodding mess", "ok"]


def _infer(engine, task, seqs):
    return engine.infer([pets.Query(task=task, input_ids=s, id=i) for i, s in enumerate(seqs)])


def test_health_says_ok_with_the_serving_options(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["tasks"] == len(SPECS) and body["system"] == "pets" and body["policy"] == "best"
    assert body["vocab_size"] == 30522 and body["max_tokens"] == 512


def test_tasks_lists_every_loaded_task(client, engine):
    tasks = {t["name"]: t for t in client.get("/v1/tasks").json()["tasks"]}
    assert set(tasks) == {s["name"] for s in SPECS}
    assert tasks["lora"]["pet"] == "lora" and tasks["lora"]["hyperparameters"]["rank"] == 4
    assert tasks["lora"]["num_labels"] == 3 and tasks["lora"]["label_names"] is None
    assert all(t["bytes"] == engine.task_bytes(n) > 0 for n, t in tasks.items())


@pytest.mark.parametrize("task", ["lora", "adapter", "diff"])
def test_classify_text_equals_engine_infer(client, engine, task):
    resp = client.post("/v1/classify", json={"task": task, "text": TEXTS})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["task"] == task and len(body["results"]) == len(TEXTS)
    expected = _infer(engine, task, [tokenize(t) for t in TEXTS])
    for got, want in zip(body["results"], expected):
        np.testing.assert_allclose(got["logits"], want.logits.tolist(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got["probs"], torch.softmax(want.logits.double(), 0).tolist(),
                                   atol=1e-5, rtol=0)
        assert got["label"] == int(want.logits.argmax()) and got["label_name"] is None


def test_classify_token_ids_and_a_single_text(client, engine):
    ids = [[101, 2023, 2003, 102], [101, 7592, 102]]
    body = client.post("/v1/classify", json={"task": "lora", "input_ids": ids}).json()
    for got, want in zip(body["results"], _infer(engine, "lora", ids)):
        np.testing.assert_allclose(got["logits"], want.logits.tolist(), atol=1e-5, rtol=0)
    one = client.post("/v1/classify", json={"task": "lora", "text": "hello"}).json()
    assert len(one["results"]) == 1


@pytest.mark.parametrize("task", ["bitfit", "lora"])
def test_embeddings_are_the_pooled_output_openai_style(client, engine, task):
    body = client.post("/v1/embeddings", json={"model": task, "input": TEXTS}).json()
    seqs = [tokenize(t) for t in TEXTS]
    assert body["object"] == "list" and body["model"] == task
    assert body["usage"] == {"prompt_tokens": sum(map(len, seqs)),
                             "total_tokens": sum(map(len, seqs))}
    for i, (got, want) in enumerate(zip(body["data"], _infer(engine, task, seqs))):
        assert got["object"] == "embedding" and got["index"] == i
        np.testing.assert_allclose(got["embedding"], want.pooled.tolist(), atol=1e-5, rtol=0)


def test_embeddings_base64_and_token_inputs(client, engine):
    body = client.post("/v1/embeddings", json={"model": "diff", "input": [101, 7592, 102],
                                               "encoding_format": "base64", "user": "x"}).json()
    vec = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    want = _infer(engine, "diff", [[101, 7592, 102]])[0].pooled
    np.testing.assert_allclose(vec, want.numpy(), atol=1e-5, rtol=0)
    many = client.post("/v1/embeddings", json={"model": "diff", "input": [[101, 102], [101]]})
    assert len(many.json()["data"]) == 2


def test_models_lists_one_model_per_task(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert sorted(m["id"] for m in body["data"]) == sorted(s["name"] for s in SPECS)
    assert all(m["object"] == "model" and m["owned_by"] == "pets" for m in body["data"])


def test_metrics_in_prometheus_text_format(client):
    client.post("/v1/classify", json={"task": "lora", "text": "count me"})
    client.post("/v1/classify", json={"task": "nope", "text": "count me"})
    resp = client.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    for name in ("pets_requests_total", "pets_queue_length", "pets_batch_size_bucket",
                 "pets_batch_tokens_bucket", "pets_request_latency_seconds_bucket",
                 "pets_tokens_per_second", "pets_tokens_total", "pets_tasks"):
        assert name in text, name
    assert 'pets_requests_total{status="completed",task="lora"}' in text
    assert 'pets_requests_total{status="rejected",task="_unknown"}' in text


def test_json_task_upload_with_label_names_then_delete(client):
    spec = {"name": "sentiment", "pet": "lora", "rank": 2, "num_labels": 2}
    resp = client.post("/v1/tasks", json={"spec": spec, "label_names": ["neg", "pos"]})
    assert resp.status_code == 201, resp.text
    assert resp.json()["label_names"] == ["neg", "pos"]
    result = client.post("/v1/classify", json={"task": "sentiment", "text": "great"}).json()
    assert result["results"][0]["label_name"] in ("neg", "pos")
    assert "sentiment" in [m["id"] for m in client.get("/v1/models").json()["data"]]
    resp = client.delete("/v1/tasks/sentiment")
    assert resp.status_code == 200 and resp.json()["deleted"] == "sentiment"
    assert client.post("/v1/classify", json={"task": "sentiment", "text": "x"}).status_code == 404


def test_zip_task_upload_serves_the_zipped_parameters(client, engine):
    from pets.server.taskzip import export_zip

    src = pets.PetsEngine.from_preset("bert-tiny", dtype="float32", seed=0)
    src.add_task(pets.TaskSpec(name="zipped", pet="adapter", bottleneck=8, num_labels=2, seed=7))
    resp = client.post("/v1/tasks?name=from-zip&filename=zipped.zip",
                       content=export_zip(src, "zipped"),
                       headers={"content-type": "application/zip"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "from-zip" and resp.json()["pet"] == "adapter"
    got = client.post("/v1/classify", json={"task": "from-zip", "input_ids": [[101, 2000, 102]]})
    want = _infer(src, "zipped", [[101, 2000, 102]])[0]
    np.testing.assert_allclose(got.json()["results"][0]["logits"], want.logits.tolist(),
                               atol=1e-5, rtol=0)
    assert client.delete("/v1/tasks/from-zip").status_code == 200


def test_a_seqs_server_answers_like_the_engine(engine):
    """`pets serve --system seqs`: one dense copy per task, same answers."""
    from pets.server.config import ServerConfig
    from pets.server.run import ServerThread

    with ServerThread(engine, ServerConfig(system="seqs", max_wait_ms=1.0)) as s:
        got = httpx.post(f"{s.url}/v1/classify", json={"task": "adapter", "text": TEXTS}).json()
        health = httpx.get(f"{s.url}/health").json()
    assert health["system"] == "seqs"
    want = _infer(engine, "adapter", [tokenize(t) for t in TEXTS])
    for g, w in zip(got["results"], want):
        np.testing.assert_allclose(g["logits"], w.logits.tolist(), atol=1e-4, rtol=0)


def test_a_task_file_with_label_names_answers_with_them(client):
    """A trained task's folder carries its label names (pet.json "labels"); the API uses them."""
    from pets.server.taskzip import export_zip

    src = pets.PetsEngine.from_preset("bert-tiny", dtype="float32", seed=0)
    src.add_task(pets.TaskSpec(name="named", pet="bitfit", num_labels=2,
                               labels=("negative", "positive")))
    resp = client.post("/v1/tasks?filename=named.zip", content=export_zip(src, "named"),
                       headers={"content-type": "application/zip"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["label_names"] == ["negative", "positive"]
    got = client.post("/v1/classify", json={"task": "named", "text": "a fine film"}).json()
    assert got["results"][0]["label_name"] in ("negative", "positive")
    assert client.delete("/v1/tasks/named").status_code == 200
