"""The backbone a task trains on: the same weights the engine serves, in fp32, with
its tokenizer. `minilm` (the default) is the real all-MiniLM-L6-v2 shipped by a package;
presets (bert-tiny, ...) are seeded random backbones, for tests."""
from __future__ import annotations

from pathlib import Path

import torch

from pets.config import MINILM_ALIASES, PRESETS
from pets.engine.engine import PetsEngine
from pets.errors import TrainError


def load_engine(backbone: str, *, dtype: torch.dtype = torch.float32) -> PetsEngine:
    """An engine over `backbone`: 'minilm', a preset name, or a local HF checkpoint folder."""
    if backbone in PRESETS:
        return PetsEngine.from_preset(backbone, dtype=dtype)
    if backbone in MINILM_ALIASES or Path(backbone).is_dir():
        return PetsEngine.from_pretrained(backbone, dtype=dtype)
    raise TrainError(f"unknown backbone {backbone!r}; choose minilm, a preset "
                     f"({', '.join(PRESETS)}) or a BERT checkpoint folder")


def load_tokenizer(backbone: str):
    """The checkpoint folder's own tokenizer when it has one, else MiniLM's uncased
    WordPiece (the vocabulary every preset shares)."""
    from pets.serving.dispatch import tokenizer

    folder = Path(backbone)
    if backbone not in PRESETS and folder.is_dir() and (folder / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    return tokenizer()
