"""Every error code of the API: the JSON error shape, a message that says what to do, and
never a 500 for a user's input."""
from __future__ import annotations

import pytest

J = {"content-type": "application/json"}
CASES = [
    # (id, method, path, json body or raw bytes, headers, status, error type)
    ("unknown task", "POST", "/v1/classify", {"task": "nope", "text": "hi"}, None, 404, "unknown_task"),
    ("unknown model", "POST", "/v1/embeddings", {"model": "nope", "input": "hi"}, None, 404, "unknown_task"),
    ("empty text", "POST", "/v1/classify", {"task": "lora", "text": "  "}, None, 400, "invalid_input"),
    ("empty text list", "POST", "/v1/classify", {"task": "lora", "text": []}, None, 400, "invalid_input"),
    ("empty ids", "POST", "/v1/classify", {"task": "lora", "input_ids": [[]]}, None, 400, "invalid_input"),
    ("too many tokens", "POST", "/v1/classify", {"task": "lora", "input_ids": [[101] * 513]}, None, 400, "invalid_input"),
    ("long text", "POST", "/v1/embeddings", {"model": "lora", "input": "word " * 600}, None, 400, "invalid_input"),
    ("id out of vocab", "POST", "/v1/classify", {"task": "lora", "input_ids": [[101, 40000]]}, None, 400, "invalid_input"),
    ("negative id", "POST", "/v1/embeddings", {"model": "lora", "input": [-1]}, None, 400, "invalid_input"),
    ("float id", "POST", "/v1/classify", {"task": "lora", "input_ids": [[101.5]]}, None, 422, "invalid_request"),
    ("string id", "POST", "/v1/classify", {"task": "lora", "input_ids": [["101"]]}, None, 422, "invalid_request"),
    ("text and ids", "POST", "/v1/classify", {"task": "lora", "text": "a", "input_ids": [[1]]}, None, 400, "invalid_input"),
    ("neither", "POST", "/v1/classify", {"task": "lora"}, None, 400, "invalid_input"),
    ("unknown field", "POST", "/v1/classify", {"task": "lora", "text": "a", "x": 1}, None, 422, "invalid_request"),
    ("malformed json", "POST", "/v1/classify", b"{not json", J, 422, "invalid_request"),
    ("no head", "POST", "/v1/classify", {"task": "bitfit", "text": "hi"}, None, 400, "invalid_input"),
    ("bad dimensions", "POST", "/v1/embeddings", {"model": "lora", "input": "hi", "dimensions": 3}, None, 400, "invalid_input"),
    ("bad encoding", "POST", "/v1/embeddings", {"model": "lora", "input": "hi", "encoding_format": "x"}, None, 422, "invalid_request"),
    ("duplicate task", "POST", "/v1/tasks", {"name": "lora", "pet": "lora"}, None, 409, "task_exists"),
    ("bad spec", "POST", "/v1/tasks", {"name": "x", "pet": "lora", "rank": 0}, None, 400, "invalid_task"),
    ("unknown pet", "POST", "/v1/tasks", {"name": "x", "pet": "nope"}, None, 400, "invalid_task"),
    ("spec not object", "POST", "/v1/tasks", [1, 2], None, 400, "invalid_task"),
    ("spec not json", "POST", "/v1/tasks", b"{", J, 400, "invalid_task"),
    ("label count", "POST", "/v1/tasks", {"spec": {"name": "x", "pet": "lora", "num_labels": 2}, "label_names": ["a"]}, None, 400, "invalid_task"),
    ("not a zip", "POST", "/v1/tasks", b"PK not really", {"content-type": "application/zip"}, 400, "invalid_task"),
    ("bad media type", "POST", "/v1/tasks", b"hello", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    ("delete unknown", "DELETE", "/v1/tasks/nope", None, None, 404, "unknown_task"),
    ("no endpoint", "GET", "/v2/nothing", None, None, 404, "not_found"),
    ("wrong method", "GET", "/v1/classify", None, None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize("method,path,body,headers,status,type_",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_codes(client, method, path, body, headers, status, type_):
    kw = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    resp = client.request(method, path, headers=headers, **kw)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["type"] == type_ and len(err["message"]) > 10
    assert set(resp.json()) == {"error"}


def test_the_server_still_serves_after_every_error(client):
    assert client.post("/v1/classify", json={"task": "lora", "text": "fine"}).status_code == 200


def test_a_failing_batch_is_a_500_and_the_server_goes_on(client, server, monkeypatch):
    real = server.scheduler.system.run

    def out_of_memory(batch):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(server.scheduler.system, "run", out_of_memory)
    resp = client.post("/v1/classify", json={"task": "lora", "text": "boom"})
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["type"] == "batch_failed" and "out of memory" in err["message"]
    monkeypatch.setattr(server.scheduler.system, "run", real)
    assert client.post("/v1/classify", json={"task": "lora", "text": "fine"}).status_code == 200


def test_a_non_finite_output_is_never_served(client, server, monkeypatch):
    real = server.scheduler.system.run

    def poisoned(batch):
        from dataclasses import replace

        out = real(batch)
        pooled = out[0].pooled.clone()
        pooled[0] = float("nan")
        return [replace(out[0], pooled=pooled), *out[1:]]

    monkeypatch.setattr(server.scheduler.system, "run", poisoned)
    resp = client.post("/v1/embeddings", json={"model": "lora", "input": "nan please"})
    assert resp.status_code == 500 and "non-finite" in resp.json()["error"]["message"]
