"""Importing PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`).

PEFT names tensors `base_model.model.[bert.]encoder.layer.i.<...>.lora_A.weight`;
we map each to its target by the path inside `encoder.layer.i`. A BERT classifier
(one linear named `classifier`) saved through `modules_to_save` becomes the task's
head. Only what this format defines imports: any other tensor, or a config field of
the wrong type, is a `PeftImportError` saying what to change.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from torch import Tensor

from pets.errors import PeftImportError, PetsError
from pets.pet.spec import TaskSpec
from pets.pet.targets import LINEAR_TARGETS, linear_path, parse_linear_path

_UNSUPPORTED = {"use_dora": "DoRA", "use_rslora": "rsLoRA scaling",
                "fan_in_fan_out": "fan_in_fan_out (Conv1D weights)"}
_HEAD_LEAVES = ("classifier.weight", "classifier.bias")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# adapter_config.json field -> (accepts its value?, what it must be). Absent fields are fine.
_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "peft_type": (lambda v: isinstance(v, str), "a string"),
    "r": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "lora_alpha": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
    "bias": (lambda v: isinstance(v, str), 'one of "none", "all", "lora_only"'),
    "use_dora": (lambda v: isinstance(v, bool), "true or false"),
    "use_rslora": (lambda v: isinstance(v, bool), "true or false"),
    "fan_in_fan_out": (lambda v: isinstance(v, bool), "true or false"),
    "rank_pattern": (lambda v: v is None or isinstance(v, dict), "an object"),
    "alpha_pattern": (lambda v: v is None or isinstance(v, dict), "an object"),
    "modules_to_save": (lambda v: v is None or isinstance(v, (list, str)), "a list of names"),
    "layers_to_transform": (lambda v: v is None or _is_int(v) or isinstance(v, list),
                            "null, an int or a list of ints"),
}


def read_peft_lora(folder: str | Path, name: str) -> tuple[TaskSpec, dict[str, Tensor], list[int]]:
    """The LoRA task of a PEFT folder: (spec, params named as ours, layers it covers).

    Raises PeftImportError when the folder is missing, unreadable, not plain LoRA, or
    holds tensors the format does not define for a BERT LoRA task.
    """
    folder = Path(folder)
    cfg, tensors = _read(folder)
    _check_config(folder, cfg)
    params: dict[str, Tensor] = {}
    targets: set[str] = set()
    layers: set[int] = set()
    head: dict[str, Tensor] = {}
    for key, t in tensors.items():
        part = next((p for p in ("lora_A", "lora_B") if f".{p}." in key), None)
        if part is not None:
            where = parse_linear_path(key.split(f".{part}.")[0])
            if where is None or not key.endswith(f".{part}.weight"):
                raise PeftImportError(f"{folder}: LoRA on {key!r}, not one of {LINEAR_TARGETS}")
            layer, target = where
            layers.add(layer)
            targets.add(target)
            params[f"{linear_path(target, layer)}.{part}"] = t
        elif (leaf := _head_leaf(key)) is not None:
            head[leaf] = t
        else:
            raise PeftImportError(_unexpected(folder, key, cfg))
    if not params:
        raise PeftImportError(f"{folder}: the adapter holds no LoRA weights")
    _check_head(folder, head)
    _check_layers(folder, sorted(layers))
    some_a = next(v for k, v in params.items() if k.endswith("lora_A"))
    rank = int(some_a.shape[0]) if some_a.dim() == 2 else 0
    if "r" in cfg and cfg["r"] != rank:
        raise PeftImportError(f"{folder}: adapter_config.json says r={cfg['r']} but lora_A "
                              f"has {rank} rows; save the adapter again with PEFT")
    try:
        spec = TaskSpec(name=name, pet="lora", rank=rank,
                        alpha=float(cfg.get("lora_alpha", rank)),
                        targets=tuple(t for t in LINEAR_TARGETS if t in targets),
                        num_labels=int(head["classifier.weight"].shape[0]) if head else 0)
    except PetsError as e:
        raise PeftImportError(f"{folder}: {e}") from None
    return spec, {**params, **head}, sorted(layers)


def check_layers_cover(folder: str | Path, layers: list[int], num_layers: int) -> None:
    """Raise PeftImportError unless the adapter covers layers 0..num_layers-1 (for the engine)."""
    if layers == list(range(num_layers)):
        return
    if layers and max(layers) >= num_layers:
        raise PeftImportError(
            f"{folder}: adapter has LoRA weights on layers up to {max(layers)}, this model has "
            f"{num_layers} layers: it was saved for a deeper model; import it into that model")
    missing = sorted(set(range(num_layers)) - set(layers))
    raise PeftImportError(
        f"{folder}: adapter covers layers {layers} but not {missing}; PetS LoRA tasks apply "
        "to every encoder layer: train the adapter without layers_to_transform")


def _read(folder: Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    from safetensors.torch import load_file

    cfg_file, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise PeftImportError(
            f"{folder} is not a PEFT adapter folder: it needs adapter_config.json and "
            "adapter_model.safetensors (PeftModel.save_pretrained writes both)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8-sig"))
        tensors = load_file(str(weights))
    except Exception as e:  # JSON, encoding, OS and safetensors' own error types
        raise PeftImportError(f"cannot read PEFT adapter in {folder}: {e}; "
                              "save it again with PeftModel.save_pretrained") from None
    if not isinstance(cfg, dict):
        raise PeftImportError(f"{folder}/adapter_config.json must be a JSON object, "
                              f"got {type(cfg).__name__}")
    return cfg, tensors


def _check_config(folder: Path, cfg: dict[str, Any]) -> None:
    for key, (ok, what) in _FIELD_TYPES.items():
        if key in cfg and not ok(cfg[key]):
            raise PeftImportError(f"{folder}/adapter_config.json: {key} must be {what}, "
                                  f"got {cfg[key]!r}")
    if cfg.get("peft_type") != "LORA":
        raise PeftImportError(f"{folder}: peft_type {cfg.get('peft_type')!r}; only LORA imports")
    for key, what in _UNSUPPORTED.items():
        if cfg.get(key):
            raise PeftImportError(f"{folder}: {what} is not supported; save a plain LoRA adapter")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise PeftImportError(f"{folder}: per-module rank/alpha patterns are not supported; "
                              "train with one r and lora_alpha for every target")
    if cfg.get("bias", "none") != "none":
        raise PeftImportError(
            f"{folder}: bias={cfg['bias']!r} trains the base model's biases, which a LoRA task "
            "does not carry; train with bias='none' (or serve those biases as a BitFit task)")
    if cfg.get("layers_to_transform") is not None:
        raise PeftImportError(
            f"{folder}: layers_to_transform={cfg['layers_to_transform']!r}; PetS LoRA tasks "
            "apply to every encoder layer: train the adapter without layers_to_transform")


def _head_leaf(key: str) -> str | None:
    """`classifier.weight`/`.bias` for a BERT head saved by modules_to_save, else None."""
    path = key.removeprefix("base_model.model.")
    parts = path.split(".")
    if len(parts) >= 4 and parts[-4:-2] == ["classifier", "modules_to_save"]:
        path = "classifier." + parts[-1]  # classifier.modules_to_save.<adapter>.<leaf>
    return path if path in _HEAD_LEAVES else None


def _unexpected(folder: Path, key: str, cfg: dict[str, Any]) -> str:
    if "classifier" in key:
        return (f"{folder}: unexpected head tensor {key!r}: only a BERT head (one linear "
                "named 'classifier', [num_labels, hidden] + bias) imports; a two-layer head "
                "(e.g. RoBERTa's classifier.dense + classifier.out_proj) cannot be served")
    return f"{folder}: unexpected tensor {key!r} in the adapter; only lora_A/lora_B weights " \
           "of BERT linears and a 'classifier' head import"


def _check_head(folder: Path, head: dict[str, Tensor]) -> None:
    if not head:
        return
    if set(head) != set(_HEAD_LEAVES):
        raise PeftImportError(f"{folder}: the classifier head needs both weight and bias, "
                              f"got only {sorted(head)}")
    w, b = head["classifier.weight"], head["classifier.bias"]
    if w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[0]:
        raise PeftImportError(f"{folder}: classifier weight {tuple(w.shape)} and bias "
                              f"{tuple(b.shape)} are not a [num_labels, hidden] linear")


def _check_layers(folder: Path, layers: list[int]) -> None:
    if layers and layers != list(range(max(layers) + 1)):
        check_layers_cover(folder, layers, max(layers) + 1)
