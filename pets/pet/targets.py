"""Where PET parameters attach: the six linears of each encoder layer (HF
`BertModel` names), the two adapter sites and the two LayerNorms."""
from __future__ import annotations

from pets.config import ModelConfig

LINEAR_PATHS: dict[str, str] = {
    "query": "encoder.layer.{i}.attention.self.query",
    "key": "encoder.layer.{i}.attention.self.key",
    "value": "encoder.layer.{i}.attention.self.value",
    "attn_out": "encoder.layer.{i}.attention.output.dense",
    "intermediate": "encoder.layer.{i}.intermediate.dense",
    "output": "encoder.layer.{i}.output.dense",
}
LINEAR_TARGETS: tuple[str, ...] = tuple(LINEAR_PATHS)

LAYERNORM_PATHS: dict[str, str] = {
    "attn_ln": "encoder.layer.{i}.attention.output.LayerNorm",
    "out_ln": "encoder.layer.{i}.output.LayerNorm",
}

# Adapters sit after these dense layers, before dropout/residual/LayerNorm.
ADAPTER_PATHS: dict[str, str] = {
    "attn_out": "encoder.layer.{i}.attention.output.adapter",
    "output": "encoder.layer.{i}.output.adapter",
}


def linear_path(target: str, layer: int) -> str:
    return LINEAR_PATHS[target].format(i=layer)


def linear_shape(cfg: ModelConfig, target: str) -> tuple[int, int]:
    """(out_features, in_features) of a target linear."""
    h, f = cfg.hidden_size, cfg.intermediate_size
    return {"intermediate": (f, h), "output": (h, f)}.get(target, (h, h))


def parse_linear_path(path: str) -> tuple[int, str] | None:
    """`encoder.layer.3.attention.self.query` -> (3, "query"); None if not a target."""
    marker = "encoder.layer."
    at = path.find(marker)
    if at < 0:
        return None
    rest = path[at + len(marker):]
    num, _, tail = rest.partition(".")
    if not num.isdigit():
        return None
    for target, template in LINEAR_PATHS.items():
        if template.split("{i}.", 1)[1] == tail:
            return int(num), target
    return None
