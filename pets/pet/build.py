"""Building a task's run-time form from a spec and (optional) parameters.

The multi-step path every load takes: random seeded parameters when none are
given, name/shape/dtype checks, the method's own checks, the run-time state,
and the classifier head, in the engine's device and dtype. Pure: the engine
only registers what this returns.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import torch
from torch import Tensor

from pets.errors import InvalidParamsError
from pets.pet.head import head_specs, init_head
from pets.pet.method import PetMethod, get_method
from pets.pet.params import check_params, task_generator
from pets.pet.spec import TaskSpec


@dataclass(frozen=True)
class BuiltTask:
    spec: TaskSpec
    method: PetMethod
    state: Any                                 # what the method's slot store keeps
    head: tuple[Tensor, Tensor] | None         # W [k, H], b [k] in the engine's dtype


def build_task(spec: TaskSpec, params: dict[str, Tensor] | None, backbone,
               engine_seed: int) -> BuiltTask:
    """Validate `params` (or make seeded random ones) and build the task's run-time form."""
    method = get_method(spec.pet)
    hidden = backbone.cfg.hidden_size
    if params is None:
        gen = task_generator(spec.name, spec.seed, engine_seed)
        params = {**method.init_params(spec, backbone, gen), **init_head(spec.num_labels, hidden, gen)}
    expected = {**method.param_specs(spec, backbone), **head_specs(spec.num_labels, hidden)}
    params = check_params(spec.name, params, expected)
    method.check_params(spec, backbone, params)
    state = method.build_state(spec, backbone, params)
    head = None
    if spec.num_labels:
        put = lambda t: t.to(backbone.device, backbone.dtype).contiguous()  # noqa: E731
        head = (put(params["classifier.weight"]), put(params["classifier.bias"]))
    return BuiltTask(spec, method, state, head)


def check_finite_after_cast(spec: TaskSpec, obj: Any, dtype: torch.dtype) -> None:
    """Raise if any tensor of the task, as held in the engine's dtype, is inf or NaN
    (an fp32 1e5 is inf in fp16; 1e300 from an fp64 file is inf in fp32)."""
    bad = _first_non_finite(obj)
    if bad is not None:
        raise InvalidParamsError(
            f"task {spec.name!r}: {bad} is not finite in the engine's dtype "
            f"{str(dtype).removeprefix('torch.')} (largest finite value "
            f"{torch.finfo(dtype).max:.3g}); rescale the parameters or load the task into "
            f"an engine with a wider dtype (e.g. float32)")


def _first_non_finite(obj: Any, path: str = "parameters") -> str | None:
    if isinstance(obj, Tensor):
        if obj.is_floating_point() and obj.layout == torch.strided and not bool(obj.isfinite().all()):
            return path
        return None
    items: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        items = [(f"{path}[{k!r}]" if path != "parameters" else str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    elif is_dataclass(obj):
        items = [(f"{path}.{f.name}", getattr(obj, f.name)) for f in fields(obj)]
    for sub, value in items:
        if (bad := _first_non_finite(value, sub)) is not None:
            return bad
    return None
