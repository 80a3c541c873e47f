"""How errors are answered over HTTP: `{"error": {"type": ..., "message": ...}}` with a status
code per error class. A user's input never gets a 500: every PetsError has a 4xx (or a 503
while the server is not serving); a 500 means a batch failed or a bug."""
from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pets.errors import (BatchFailedError, DuplicateTaskError, InvalidParamsError,
                         InvalidQueryError, InvalidSpecError, PeftImportError, PetsError,
                         QueueFullError, ServerStoppedError, TaskFileError, TaskRemovedError,
                         UnknownTaskError)


@dataclass(frozen=True)
class ErrorKind:
    status: int
    type: str


# First match wins (subclasses before their bases).
KINDS: tuple[tuple[type | tuple[type, ...], ErrorKind], ...] = (
    (UnknownTaskError, ErrorKind(404, "unknown_task")),
    (TaskRemovedError, ErrorKind(410, "task_removed")),
    (DuplicateTaskError, ErrorKind(409, "task_exists")),
    (QueueFullError, ErrorKind(429, "queue_full")),
    (InvalidQueryError, ErrorKind(400, "invalid_input")),
    ((InvalidSpecError, InvalidParamsError, TaskFileError, PeftImportError),
     ErrorKind(400, "invalid_task")),
    (ServerStoppedError, ErrorKind(503, "unavailable")),
    (BatchFailedError, ErrorKind(500, "batch_failed")),
    (PetsError, ErrorKind(400, "invalid_request")),
)
HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def kind_of(error: PetsError) -> ErrorKind:
    return next(kind for cls, kind in KINDS if isinstance(error, cls))


def error_body(type_: str, message: str) -> dict:
    return {"error": {"type": type_, "message": message}}


def error_response(status: int, type_: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)


def pets_error_response(error: PetsError) -> JSONResponse:
    kind = kind_of(error)
    headers = None
    if isinstance(error, QueueFullError):
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after_s)))}
    return error_response(kind.status, kind.type, str(error), headers)


def install_handlers(app: FastAPI) -> None:
    """Answer every error in the JSON error shape."""

    @app.exception_handler(PetsError)
    async def _pets(_: Request, e: PetsError) -> JSONResponse:
        return pets_error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", validation_message(e))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        message = str(e.detail)
        if e.status_code in (404, 405):
            message = (f"{message}: {request.method} {request.url.path}; the API has GET /health, "
                       "GET|POST /v1/tasks, DELETE /v1/tasks/NAME, POST /v1/classify, "
                       "POST /v1/embeddings, GET /v1/models, GET /metrics")
        return error_response(e.status_code, HTTP_TYPES.get(e.status_code, "http_error"),
                              message, getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_: Request, e: Exception) -> JSONResponse:
        return error_response(500, "server_error", f"internal error ({type(e).__name__}: {e}); "
                              "please report it with the request that caused it")


def validation_message(e: RequestValidationError) -> str:
    """The body's problems in one line: where, and what was expected."""
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return ("invalid request body: " + "; ".join(parts) +
            " (see the API in `pets serve --help` or the README)")
