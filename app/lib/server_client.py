"""The Server page's HTTP calls to a `pets serve` server (httpx): health, the task list,
classify and the Prometheus text. Every failure (no server, a timeout, an error answer, not a
pets server at all) becomes a `ServerError` whose message says what to do, never a traceback."""
from __future__ import annotations

from dataclasses import dataclass

import httpx

import pets

DEFAULT_URL = "http://127.0.0.1:8000"
HEALTH_TIMEOUT_S = 2.0
METRICS_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 30.0


class ServerError(pets.PetsError):
    """The server could not be asked, or it refused: the message says why and what to do."""


def normalize_url(text: str) -> str:
    """`text` as a base URL without a trailing slash ('127.0.0.1:8000' gets http://)."""
    raw = (text or "").strip()
    if raw and "://" not in raw:
        raw = "http://" + raw
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    bad_port = url is not None and url.port is not None and not 0 < url.port < 65536
    if (url is None or url.scheme not in ("http", "https") or not url.host or bad_port
            or any(c.isspace() or c == "%" for c in raw) or url.path not in ("", "/")):
        raise ServerError(f"{text!r} is not a server URL; enter one like {DEFAULT_URL}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Health:
    """What GET /health said: `ok` once the engine is loaded and warmed up."""

    url: str
    ok: bool
    problem: str = ""  # why not ok, and what to do
    info: dict | None = None  # the JSON of an ok answer
    starting: bool = False  # it answers 503 while it loads and warms up


@dataclass(frozen=True)
class TaskRow:
    """One task of GET /v1/tasks."""

    name: str
    pet: str
    num_labels: int
    label_names: tuple[str, ...] | None
    bytes: int

    @property
    def labels(self) -> str:
        if self.label_names:
            return ", ".join(self.label_names)
        return f"{self.num_labels} (unnamed)" if self.num_labels else "none (embeddings only)"


@dataclass(frozen=True)
class Classified:
    """One task's answer for one sentence, or the error that it got."""

    task: str
    label_name: str = ""
    probs: tuple[tuple[str, float], ...] = ()  # (label name, probability) in logit order
    error: str = ""

    @property
    def probability(self) -> float:
        return max((p for _, p in self.probs), default=float("nan"))


def health(url: str) -> Health:
    try:
        resp = httpx.get(f"{url}/health", timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as e:
        return Health(url, False, f"no server answers at {url} ({type(e).__name__}). Start one "
                      "with the button above or `pets serve --port PORT` in a terminal, or fix "
                      "the URL.")
    if resp.status_code == 503:
        return Health(url, False, f"the server at {url} is starting (loading its engine and "
                      "warming up every task); this page checks again every few seconds.",
                      starting=True)
    info = _json_or_none(resp)
    if resp.status_code != 200 or not isinstance(info, dict) or info.get("status") != "ok":
        return Health(url, False, f"{url}/health answered {resp.status_code} "
                      f"{resp.text[:120]!r}: that is not a pets server; check the URL.")
    return Health(url, True, info=info)


def list_tasks(url: str) -> list[TaskRow]:
    data = _call("GET", url, "/v1/tasks")
    try:
        return [TaskRow(t["name"], t["pet"], int(t["num_labels"]),
                        tuple(t["label_names"]) if t.get("label_names") else None, int(t["bytes"]))
                for t in data["tasks"]]
    except (KeyError, TypeError, ValueError):
        raise ServerError(f"{url}/v1/tasks did not answer a pets task list; check the URL") from None


def classify(url: str, task: str, text: str,
             label_names: tuple[str, ...] | None = None) -> Classified:
    """`text` under `task`; a refusal (unknown task, empty text, ...) is the result's error.
    `label_names` (from the task list) name every probability; else their index does."""
    try:
        data = _call("POST", url, "/v1/classify", json={"task": task, "text": text})
        result = data["results"][0]
        probs = [float(p) for p in result["probs"]]
    except ServerError as e:
        return Classified(task, error=str(e))
    except (KeyError, IndexError, TypeError, ValueError):
        return Classified(task, error=f"{url}/v1/classify answered something else than a result")
    name = result.get("label_name")
    return Classified(task, label_name=name if name is not None else f"label {result['label']}",
                      probs=tuple((_label(label_names, i), p) for i, p in enumerate(probs)))


def metrics_text(url: str) -> str:
    try:
        resp = httpx.get(f"{url}/metrics", timeout=METRICS_TIMEOUT_S)
    except httpx.HTTPError as e:
        raise ServerError(f"{url}/metrics did not answer ({type(e).__name__}); is the server "
                          "still running?") from None
    if resp.status_code != 200:
        raise ServerError(f"{url}/metrics answered {resp.status_code}; is it a pets server?")
    return resp.text


def _label(names: tuple[str, ...] | None, index: int) -> str:
    return names[index] if names and index < len(names) else f"label {index}"


def _call(method: str, url: str, path: str, **kwargs) -> dict:
    try:
        resp = httpx.request(method, f"{url}{path}", timeout=CALL_TIMEOUT_S, **kwargs)
    except httpx.TimeoutException:
        raise ServerError(f"{url}{path} did not answer within {CALL_TIMEOUT_S:g} s; the server "
                          "may be overloaded, try again") from None
    except httpx.HTTPError as e:
        raise ServerError(f"no server answers at {url} ({type(e).__name__}); did it stop? "
                          "Start it again or fix the URL") from None
    data = _json_or_none(resp)
    if resp.status_code >= 400:
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict) and "message" in err:
            raise ServerError(f"{resp.status_code} {err.get('type', 'error')}: {err['message']}")
        raise ServerError(f"{url}{path} answered {resp.status_code}: {resp.text[:200]}")
    if not isinstance(data, dict):
        raise ServerError(f"{url}{path} did not answer JSON: is it a pets server?")
    return data


def _json_or_none(resp: httpx.Response):
    try:
        return resp.json()
    except ValueError:
        return None
