"""The server's task catalog: what `GET /v1/tasks` shows, and adding tasks from a JSON
TaskSpec or a zip (task folder or PEFT LoRA adapter) through the scheduler."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from pets.errors import DuplicateTaskError, InvalidSpecError, UnknownTaskError
from pets.pet.spec import TaskSpec
from pets.server.scheduler import Scheduler
from pets.server.taskzip import import_zip


@dataclass(frozen=True)
class TaskInfo:
    """One loaded task as the API lists it."""

    name: str
    pet: str
    hyperparameters: dict
    num_labels: int
    label_names: list[str] | None
    bytes: int

    def to_json(self) -> dict:
        return {"name": self.name, "pet": self.pet, "hyperparameters": self.hyperparameters,
                "num_labels": self.num_labels, "label_names": self.label_names,
                "bytes": self.bytes}


class TaskCatalog:
    """Loaded tasks plus the label names given when they were added."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._labels: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def label_names(self, task: str) -> list[str] | None:
        """The names given when the task was added, else those its task file carries."""
        if task in self._labels:
            return self._labels[task]
        try:
            labels = self.scheduler.engine.task(task).labels
        except UnknownTaskError:
            return None
        return list(labels) if labels else None

    def info(self, name: str) -> TaskInfo:
        eng = self.scheduler.engine
        spec = eng.task(name)
        hyper = {k: v for k, v in spec.to_dict().items() if k not in ("name", "pet", "num_labels", "labels")}
        return TaskInfo(name, spec.pet, hyper, spec.num_labels, self.label_names(name),
                        eng.task_bytes(name))

    def list(self) -> list[TaskInfo]:
        infos = []
        for name in sorted(self.scheduler.engine.tasks):
            try:
                infos.append(self.info(name))
            except UnknownTaskError:  # removed while listing
                continue
        return infos

    def add_spec(self, spec_data: dict, label_names: list[str] | None = None) -> TaskInfo:
        """A task with seeded random parameters from a JSON TaskSpec."""
        spec = TaskSpec.from_dict(spec_data)
        _check_labels(spec, label_names)
        if spec.name in self.scheduler.tasks:
            raise DuplicateTaskError(f"task {spec.name!r} is already loaded; DELETE "
                                     f"/v1/tasks/{spec.name} first or pick another name")
        self.scheduler.add_task(lambda eng: eng.add_task(spec))
        return self._labelled(spec.name, label_names)

    def add_zip(self, data: bytes, *, filename: str, name: str | None = None) -> TaskInfo:
        """The task in a zip of a task folder (pet.json + pet.safetensors) or PEFT adapter."""
        spec = self.scheduler.add_task(
            lambda eng: import_zip(eng, data, filename=filename, name=name))
        return self._labelled(spec.name, None)

    def remove(self, name: str) -> int:
        cancelled = self.scheduler.remove_task(name)
        with self._lock:
            self._labels.pop(name, None)
        return cancelled

    def _labelled(self, name: str, label_names: list[str] | None) -> TaskInfo:
        with self._lock:
            if label_names is not None:
                self._labels[name] = list(label_names)
            else:
                self._labels.pop(name, None)
        return self.info(name)


def _check_labels(spec: TaskSpec, label_names: list[str] | None) -> None:
    if label_names is not None and len(label_names) != spec.num_labels:
        raise InvalidSpecError(f"task {spec.name!r}: {len(label_names)} label_names for "
                               f"num_labels {spec.num_labels}; give one name per label")

