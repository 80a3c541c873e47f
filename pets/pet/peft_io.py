"""Importing PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`).

PEFT names tensors `base_model.model.[bert.]encoder.layer.i.<...>.lora_A.weight`;
we map each to its target by the path inside `encoder.layer.i`. A classifier
saved through `modules_to_save` becomes the task's head.
"""
from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from pets.errors import PeftImportError
from pets.pet.spec import TaskSpec
from pets.pet.targets import LINEAR_TARGETS, linear_path, parse_linear_path

_UNSUPPORTED = {"use_dora": "DoRA", "use_rslora": "rsLoRA scaling"}


def read_peft_lora(folder: str | Path, name: str) -> tuple[TaskSpec, dict[str, Tensor], list[int]]:
    """The LoRA task of a PEFT folder: (spec, params named as ours, layers it covers)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_file, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise PeftImportError(
            f"{folder} is not a PEFT adapter folder: it needs adapter_config.json and "
            "adapter_model.safetensors (PeftModel.save_pretrained writes both)")
    try:
        cfg = json.loads(cfg_file.read_text())
        tensors = load_file(str(weights))
    except Exception as e:
        raise PeftImportError(f"cannot read PEFT adapter in {folder}: {e}") from None
    if cfg.get("peft_type") != "LORA":
        raise PeftImportError(f"{folder}: peft_type {cfg.get('peft_type')!r}; only LORA imports")
    for key, what in _UNSUPPORTED.items():
        if cfg.get(key):
            raise PeftImportError(f"{folder}: {what} is not supported; save a plain LoRA adapter")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise PeftImportError(f"{folder}: per-module rank/alpha patterns are not supported")

    params: dict[str, Tensor] = {}
    targets: set[str] = set()
    layers: set[int] = set()
    head: dict[str, Tensor] = {}
    for key, t in tensors.items():
        for part in ("lora_A", "lora_B"):
            if f".{part}." in key:
                where = parse_linear_path(key.split(f".{part}.")[0])
                if where is None:
                    raise PeftImportError(f"{folder}: LoRA on {key!r}, not one of {LINEAR_TARGETS}")
                layer, target = where
                layers.add(layer)
                targets.add(target)
                params[f"{linear_path(target, layer)}.{part}"] = t
                break
        else:
            leaf = key.rsplit(".", 1)[-1]
            if "classifier" in key and leaf in ("weight", "bias"):
                head[f"classifier.{leaf}"] = t
            else:
                raise PeftImportError(f"{folder}: unexpected tensor {key!r} in the adapter")
    if not params:
        raise PeftImportError(f"{folder}: the adapter holds no LoRA weights")
    some_a = next(v for k, v in params.items() if k.endswith("lora_A"))
    spec = TaskSpec(name=name, pet="lora", rank=int(some_a.shape[0]),
                    alpha=float(cfg.get("lora_alpha", some_a.shape[0])),
                    targets=tuple(t for t in LINEAR_TARGETS if t in targets),
                    num_labels=int(head["classifier.weight"].shape[0]) if head else 0)
    return spec, {**params, **head}, sorted(layers)
