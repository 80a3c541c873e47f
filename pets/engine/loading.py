"""Loading HF BERT checkpoints from a local folder (no hub access).

Every way a checkpoint can be wrong (no config, a config that is not BERT, corrupt or
truncated weights, weights of another shape than the config says, NaN or inf) is a
`CheckpointError` that says what to do, raised before any backbone is built.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from pets.config import ModelConfig
from pets.errors import CheckpointError, PetsError

_SAVE_HINT = "save it again with model.save_pretrained(folder)"


def load_checkpoint(path: str | Path, *, dtype: torch.dtype | None = None
                    ) -> tuple[ModelConfig, dict[str, Tensor]]:
    """(config, state dict) of a folder with config.json + model.safetensors or pytorch_model.bin.

    The state dict is checked against the config: every BertModel tensor present, of the
    config's shape, floating point and finite (also once cast to `dtype`, when given).
    Raises CheckpointError.
    """
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"{folder} is not a local BERT checkpoint folder (no config.json); PetS loads "
            "local checkpoints only: save one with model.save_pretrained(folder)")
    cfg = _read_config(folder)
    sd = {k.removeprefix("bert."): v for k, v in _read_weights(folder).items()}
    check_state_dict(folder, cfg, sd, dtype)
    return cfg, sd


def _read_config(folder: Path) -> ModelConfig:
    from transformers import BertConfig

    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8-sig"))
        if not isinstance(data, dict):
            raise ValueError(f"a JSON object is needed, got {type(data).__name__}")
        return ModelConfig.from_hf(BertConfig.from_dict(data))
    except CheckpointError:
        raise
    except (PetsError, ValueError, TypeError, OSError, RecursionError) as e:
        raise CheckpointError(f"{folder}/config.json is not a BERT config: {e}; "
                              f"{_SAVE_HINT}") from None


def _read_weights(folder: Path) -> dict[str, Tensor]:
    st = sorted(folder.glob("*.safetensors"))
    binary = folder / "pytorch_model.bin"
    if not st and not binary.is_file():
        raise CheckpointError(f"{folder} has no model.safetensors or pytorch_model.bin")
    try:
        if st:
            from safetensors.torch import load_file

            sd: dict[str, Tensor] = {}
            for f in st:
                sd.update(load_file(str(f)))
            return sd
        sd = torch.load(binary, map_location="cpu", weights_only=True)
    except Exception as e:  # SafetensorError, UnpicklingError, truncated zips, OSError ...
        raise CheckpointError(f"cannot read the weights in {folder}: {type(e).__name__}: "
                              f"{str(e)[:200]}; the file is corrupt or not a PyTorch "
                              f"checkpoint: {_SAVE_HINT}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise CheckpointError(f"{binary} does not hold a state dict of tensors; {_SAVE_HINT}")
    return sd


def check_state_dict(folder: Path | str, cfg: ModelConfig, sd: dict[str, Tensor],
                     dtype: torch.dtype | None = None) -> None:
    """Raise CheckpointError unless `sd` holds every BertModel tensor of `cfg`'s shape,
    floating point and finite (in `dtype` too, when given)."""
    from pets.engine.backbone import hf_shapes

    expected = hf_shapes(cfg)
    missing = [n for n in expected if n not in sd]
    if missing:
        raise CheckpointError(
            f"{folder}: the weights lack {len(missing)} BertModel tensors, e.g. {missing[:3]}; "
            "is it a BERT checkpoint saved for this config.json?")
    for name, shape in expected.items():
        t = sd[name]
        if tuple(t.shape) != shape:
            raise CheckpointError(
                f"{folder}: {name} has shape {tuple(t.shape)} but config.json implies {shape}; "
                "the config and the weights belong to different models: put the matching "
                "config.json next to the weights")
        if not t.is_floating_point():
            raise CheckpointError(f"{folder}: {name} is {t.dtype}, not floating point; {_SAVE_HINT}")
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{folder}: {name} holds NaN or inf; the checkpoint is damaged")
        if dtype is not None and t.dtype != dtype and not bool(torch.isfinite(t.to(dtype)).all()):
            raise CheckpointError(
                f"{folder}: {name} holds values beyond {dtype}'s range; load the checkpoint "
                "with a wider dtype (float32)")
