"""Loading HF BERT checkpoints from a local folder (no hub access)."""
from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from pets.config import ModelConfig
from pets.errors import CheckpointError


def load_checkpoint(path: str | Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """(config, state dict) of a folder with config.json + model.safetensors or pytorch_model.bin."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"{folder} is not a local BERT checkpoint folder (no config.json); PetS loads "
            "local checkpoints only: save one with model.save_pretrained(folder)")
    from transformers import BertConfig

    try:
        cfg = ModelConfig.from_hf(BertConfig.from_dict(json.loads((folder / "config.json").read_text())))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder}/config.json is not a BERT config: {e}") from None
    sd = _read_weights(folder)
    return cfg, sd


def _read_weights(folder: Path) -> dict[str, Tensor]:
    st = sorted(folder.glob("*.safetensors"))
    if st:
        from safetensors.torch import load_file

        sd: dict[str, Tensor] = {}
        for f in st:
            sd.update(load_file(str(f)))
        return sd
    binary = folder / "pytorch_model.bin"
    if binary.is_file():
        import torch

        return torch.load(binary, map_location="cpu", weights_only=True)
    raise CheckpointError(f"{folder} has no model.safetensors or pytorch_model.bin")
