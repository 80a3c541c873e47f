"""The HTTP API of `pets serve` (FastAPI): health, tasks, classify, OpenAI-compatible
embeddings and models, Prometheus metrics. Handlers queue queries on the scheduler and await
their futures; they never run or wait for a batch on the event loop. Engine calls that take
its lock (task changes, task listings) run in the thread pool."""
from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from contextlib import asynccontextmanager
from typing import Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from pets.errors import InvalidQueryError, InvalidSpecError, PetsError, UnknownTaskError
from pets.server.errors import error_response, install_handlers, kind_of
from pets.server.scheduler import Output, Scheduler
from pets.server.schemas import ClassifyRequest, EmbeddingsRequest, TaskBody
from pets.server.tasks import TaskCatalog

JSON_TYPES = ("application/json",)
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
MAX_UPLOAD = 512 * 2**20
INLINE_TOKENIZE_CHARS = 4096  # texts up to this many characters are tokenized on the event loop


def create_app(scheduler: Scheduler, *, model_name: str = "") -> FastAPI:
    """An app serving `scheduler`'s engine; the scheduler starts (warm-up included) with the
    app and stops with it."""
    catalog = TaskCatalog(scheduler)
    metrics = scheduler.metrics
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await run_in_threadpool(scheduler.start)
        yield
        await run_in_threadpool(scheduler.stop)

    app = FastAPI(title="PetS server", lifespan=lifespan,
                  description="Many parameter-efficient fine-tuned tasks on one shared backbone")
    app.state.scheduler, app.state.catalog = scheduler, catalog
    install_handlers(app)

    async def serve(task: str, seqs: Sequence[Sequence[int]], started: float) -> list[Output]:
        """Queue `seqs` under `task` and await their outputs; counts the request's end."""
        label = task if task in scheduler.tasks else "_unknown"  # bounded label values
        try:
            futures = scheduler.submit(task, seqs)
            outputs = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        except PetsError as e:
            status = "failed" if kind_of(e).status >= 500 else "rejected"
            metrics.request(label, status, time.perf_counter() - started)
            raise
        metrics.request(label, "completed", time.perf_counter() - started)
        return list(outputs)

    @app.get("/health")
    async def health():
        if not scheduler.ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        cfg, model = scheduler.config, scheduler.engine.config
        return {"status": "ok", "model": model_name or scheduler.engine.model_name,
                "tasks": len(scheduler.tasks), "system": cfg.system, "policy": cfg.policy,
                "max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms,
                "queue_limit": cfg.queue_limit, "queue_length": scheduler.queue_length(),
                "vocab_size": model.vocab_size, "max_tokens": model.max_position_embeddings,
                "dtype": str(scheduler.engine.backbone.dtype).removeprefix("torch.")}

    @app.get("/v1/tasks")
    async def list_tasks():
        infos = await run_in_threadpool(catalog.list)
        return {"tasks": [i.to_json() for i in infos]}

    @app.post("/v1/tasks", status_code=201)
    async def add_task(request: Request, name: str | None = None, filename: str = "task.zip"):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        data = await request.body()
        if len(data) > MAX_UPLOAD:
            raise InvalidSpecError(f"upload of {len(data) >> 20} MiB; a task zip is at most "
                                   f"{MAX_UPLOAD >> 20} MiB")
        if kind in JSON_TYPES:
            body = _task_body(data)
            if name is not None:
                body.spec["name"] = name
            info = await run_in_threadpool(catalog.add_spec, body.spec, body.label_names)
        elif kind in ZIP_TYPES:
            info = await run_in_threadpool(
                lambda: catalog.add_zip(data, filename=filename, name=name))
        else:
            return error_response(415, "unsupported_media_type",
                                  f"content-type {kind or 'missing'}: send a JSON TaskSpec "
                                  "(application/json) or a zip of a task folder or PEFT adapter "
                                  "(application/zip)")
        return JSONResponse(info.to_json(), status_code=201)

    @app.delete("/v1/tasks/{name}")
    async def remove_task(name: str):
        cancelled = await run_in_threadpool(catalog.remove, name)
        return {"deleted": name, "cancelled_requests": cancelled}

    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest):
        started = time.perf_counter()
        spec = scheduler.tasks.get(body.task)
        if spec is not None and spec.num_labels == 0:
            raise InvalidQueryError(f"task {body.task!r} has no classifier head (num_labels 0); "
                                    "ask /v1/embeddings for its pooled output instead")
        seqs = await _sequences(body)
        outputs = await serve(body.task, seqs, started)
        names = catalog.label_names(body.task)
        # a JSONResponse skips FastAPI's encoder walk over every float (already plain JSON)
        return JSONResponse({"task": body.task,
                             "results": [_classified(o, names) for o in outputs]})

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest):
        started = time.perf_counter()
        hidden = scheduler.engine.config.hidden_size
        if body.dimensions is not None and body.dimensions != hidden:
            raise InvalidQueryError(f"dimensions {body.dimensions}: this model's embeddings have "
                                    f"{hidden}; leave dimensions out")
        if body.model not in scheduler.tasks:
            raise UnknownTaskError(f"unknown model {body.model!r}: `model` names a task; "
                                   "GET /v1/models lists them")
        seqs = await _sequences(body)
        outputs = await serve(body.model, seqs, started)
        data = [{"object": "embedding", "index": i,
                 "embedding": _encoded(o.pooled, body.encoding_format)}
                for i, o in enumerate(outputs)]
        tokens = sum(o.tokens for o in outputs)
        return JSONResponse({"object": "list", "data": data, "model": body.model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [
            {"id": n, "object": "model", "created": created, "owned_by": "pets"}
            for n in sorted(scheduler.tasks)]}

    @app.get("/metrics")
    async def prometheus():
        metrics.queue.set(scheduler.queue_length())
        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _sequences(body: ClassifyRequest | EmbeddingsRequest) -> list[tuple[int, ...]]:
    """The body's token id sequences; long texts are tokenized in the thread pool, short ones
    and token ids here (a thread hop costs more than they do)."""
    text = getattr(body, "text", None) if isinstance(body, ClassifyRequest) else body.input
    chars = len(text) if isinstance(text, str) else sum(
        len(t) for t in text if isinstance(t, str)) if isinstance(text, list) else 0
    if chars > INLINE_TOKENIZE_CHARS:
        return await run_in_threadpool(body.sequences)
    return body.sequences()


def _task_body(data: bytes) -> TaskBody:
    """A JSON TaskSpec, bare or as {"spec": {...}, "label_names": [...]}."""
    try:
        parsed = json.loads(data or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidSpecError(f"the body is not JSON ({e}); send a TaskSpec object such as "
                               '{"name": "sst2", "pet": "lora", "num_labels": 2}') from None
    if not isinstance(parsed, dict):
        raise InvalidSpecError("a task spec must be a JSON object such as "
                               '{"name": "sst2", "pet": "lora", "num_labels": 2}')
    if "spec" not in parsed:
        parsed = {"spec": parsed}
    try:
        return TaskBody.model_validate(parsed)
    except ValueError as e:
        raise InvalidSpecError(f"invalid task body: {' '.join(str(e).split())[:300]}; send "
                               '{"spec": {...TaskSpec...}, "label_names": [...]}') from None


def _classified(out: Output, names: list[str] | None) -> dict:
    """Label, probabilities (softmax in float64) and logits of one answer, in plain Python:
    no torch on the event loop's thread (1.4 us per answer where three torch calls took 7-9)."""
    logits = out.logits
    label = max(range(len(logits)), key=logits.__getitem__)
    top = logits[label]
    exps = [math.exp(v - top) for v in logits]
    total = math.fsum(exps)
    return {"label": label, "label_name": names[label] if names else None,
            "probs": [e / total for e in exps], "logits": logits}


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what OpenAI clients ask for by default: little-endian float32
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector
