"""The shared BERT encoder: our own compact implementation over plain tensors.

Weights come from a `transformers` BertModel state dict (same names), with
query/key/value fused into one [3H, H] GEMM. The backbone knows nothing of
PETs: after each shared op it fires the hook point named in `pets.pet.ops`,
and whatever the batch's PET ops registered there runs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.config import ModelConfig
from pets.engine.layout import TokenLayout
from pets.engine.linear import LINEARS, choose_linear, packs
from pets.errors import CheckpointError
from pets.pet.ops import HookKey, OpTable
from pets.pet.targets import LAYERNORM_PATHS, LINEAR_PATHS

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda t: F.gelu(t, approximate="tanh"),
    "gelu_pytorch_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "relu": F.relu,
}


@dataclass
class LayerWeights:
    """One encoder layer. Shapes: qkv_w [3H, H], inter_w [I, H], out_w [H, I]."""

    qkv_w: Tensor
    qkv_b: Tensor
    attn_out_w: Tensor
    attn_out_b: Tensor
    attn_ln_w: Tensor
    attn_ln_b: Tensor
    inter_w: Tensor
    inter_b: Tensor
    out_w: Tensor
    out_b: Tensor
    out_ln_w: Tensor
    out_ln_b: Tensor

    def tensors(self) -> list[Tensor]:
        return [getattr(self, f.name) for f in fields(self)]


class Backbone:
    """Shared weights plus the forward pass with hook points.

    linear: how the shared linears run (`pets.engine.linear`: "auto", "plain", "packed");
    the choice is `linear_impl`. The weights are read-only once built: a packed copy is
    made at construction (build a new Backbone to change weights).
    """

    def __init__(self, cfg: ModelConfig, embeddings: dict[str, Tensor],
                 layers: list[LayerWeights], pooler: tuple[Tensor, Tensor], *,
                 linear: str = "auto") -> None:
        if cfg.hidden_act not in ACTIVATIONS:
            raise CheckpointError(
                f"activation {cfg.hidden_act!r} unsupported; known: {sorted(ACTIVATIONS)}"
            )
        self.cfg = cfg
        self.emb = embeddings
        self.layers = layers
        self.pooler_w, self.pooler_b = pooler
        self._act = ACTIVATIONS[cfg.hidden_act]
        self.linear_impl = choose_linear(linear, self.device, self.dtype)
        self._linears = self._make_linears()

    def _make_linears(self) -> list[dict[str, object]]:
        make = LINEARS[self.linear_impl]
        return [{name: make(getattr(lw, f"{name}_w"), getattr(lw, f"{name}_b"))
                 for name in ("qkv", "attn_out", "inter", "out")} for lw in self.layers]

    def __getstate__(self) -> dict:
        """Pickled without the packed weights (oneDNN's opaque tensors do not pickle); the
        receiving process packs them again, or runs plain where it cannot."""
        state = self.__dict__.copy()
        del state["_linears"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        packed = state.get("linear_impl") == "packed" and self.device.type == "cpu" and packs(self.dtype)
        self.linear_impl = "packed" if packed else "plain"
        self._linears = self._make_linears()

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, cfg: ModelConfig, sd: dict[str, Tensor], *,
                        device: str | torch.device = "cpu",
                        dtype: torch.dtype = torch.float32, linear: str = "auto") -> "Backbone":
        """Build from HF `BertModel` names (a `bert.` prefix is stripped)."""
        sd = {k.removeprefix("bert."): v for k, v in sd.items()}
        put = lambda t: t.detach().to(device=device, dtype=dtype).contiguous()  # noqa: E731

        def get(name: str) -> Tensor:
            if name not in sd:
                raise CheckpointError(f"checkpoint lacks tensor {name!r}")
            return sd[name]

        emb = {n: put(get(f"embeddings.{n}")) for n in (
            "word_embeddings.weight", "position_embeddings.weight",
            "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")}
        layers = []
        for i in range(cfg.num_hidden_layers):
            lin = {t: p.format(i=i) for t, p in LINEAR_PATHS.items()}
            ln = {s: p.format(i=i) for s, p in LAYERNORM_PATHS.items()}
            layers.append(LayerWeights(
                qkv_w=put(torch.cat([get(f"{lin[t]}.weight") for t in ("query", "key", "value")])),
                qkv_b=put(torch.cat([get(f"{lin[t]}.bias") for t in ("query", "key", "value")])),
                attn_out_w=put(get(f"{lin['attn_out']}.weight")),
                attn_out_b=put(get(f"{lin['attn_out']}.bias")),
                attn_ln_w=put(get(f"{ln['attn_ln']}.weight")),
                attn_ln_b=put(get(f"{ln['attn_ln']}.bias")),
                inter_w=put(get(f"{lin['intermediate']}.weight")),
                inter_b=put(get(f"{lin['intermediate']}.bias")),
                out_w=put(get(f"{lin['output']}.weight")),
                out_b=put(get(f"{lin['output']}.bias")),
                out_ln_w=put(get(f"{ln['out_ln']}.weight")),
                out_ln_b=put(get(f"{ln['out_ln']}.bias")),
            ))
        pooler = (put(get("pooler.dense.weight")), put(get("pooler.dense.bias")))
        return cls(cfg, emb, layers, pooler, linear=linear)

    @classmethod
    def random(cls, cfg: ModelConfig, *, seed: int = 0, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, linear: str = "auto") -> "Backbone":
        """BERT-shaped random weights: N(0, 0.02) matrices and biases, LayerNorm 1 + N(0, 0.02).

        Biases are non-zero on purpose, so a task that replaces them (BitFit) is visible.
        """
        gen = torch.Generator().manual_seed(seed)
        sd = {}
        for name, shape in hf_shapes(cfg).items():
            t = torch.randn(shape, generator=gen) * 0.02
            sd[name] = t + 1.0 if name.endswith("LayerNorm.weight") else t
        return cls.from_state_dict(cfg, sd, device=device, dtype=dtype, linear=linear)

    def state_dict(self) -> dict[str, Tensor]:
        """HF `BertModel` state dict (views of our tensors, q/k/v split back out)."""
        h = self.cfg.hidden_size
        sd = {f"embeddings.{n}": t for n, t in self.emb.items()}
        for i, lw in enumerate(self.layers):
            lin = {t: p.format(i=i) for t, p in LINEAR_PATHS.items()}
            ln = {s: p.format(i=i) for s, p in LAYERNORM_PATHS.items()}
            for j, t in enumerate(("query", "key", "value")):
                sd[f"{lin[t]}.weight"] = lw.qkv_w[j * h:(j + 1) * h]
                sd[f"{lin[t]}.bias"] = lw.qkv_b[j * h:(j + 1) * h]
            for t, attr in (("attn_out", "attn_out"), ("intermediate", "inter"), ("output", "out")):
                sd[f"{lin[t]}.weight"] = getattr(lw, f"{attr}_w")
                sd[f"{lin[t]}.bias"] = getattr(lw, f"{attr}_b")
            for s in ("attn_ln", "out_ln"):
                sd[f"{ln[s]}.weight"] = getattr(lw, f"{s}_w")
                sd[f"{ln[s]}.bias"] = getattr(lw, f"{s}_b")
        sd["pooler.dense.weight"] = self.pooler_w
        sd["pooler.dense.bias"] = self.pooler_b
        return sd

    # ---- accessors PET methods use ------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.pooler_w.device

    @property
    def dtype(self) -> torch.dtype:
        return self.pooler_w.dtype

    def linear(self, layer: int, target: str) -> tuple[Tensor, Tensor]:
        """(weight [out, in], bias [out]) of a target linear; views into the shared tensors."""
        lw = self.layers[layer]
        h = self.cfg.hidden_size
        qkv = {"query": 0, "key": 1, "value": 2}
        if target in qkv:
            j = qkv[target]
            return lw.qkv_w[j * h:(j + 1) * h], lw.qkv_b[j * h:(j + 1) * h]
        attr = {"attn_out": "attn_out", "intermediate": "inter", "output": "out"}[target]
        return getattr(lw, f"{attr}_w"), getattr(lw, f"{attr}_b")

    def layernorm_bias(self, layer: int, site: str) -> Tensor:
        return getattr(self.layers[layer], f"{site}_b")

    def nbytes(self) -> int:
        """Bytes of the weights (a packed copy of them: `packed_bytes`)."""
        ts = list(self.emb.values()) + [self.pooler_w, self.pooler_b]
        ts += [t for lw in self.layers for t in lw.tensors()]
        return sum(t.numel() * t.element_size() for t in ts)

    def packed_bytes(self) -> int:
        """Bytes of the packed copy of the shared linears' weights (0 when plain)."""
        return sum(lin.extra_bytes() for lins in self._linears for lin in lins.values())

    # ---- forward ------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, layout: TokenLayout, ops: OpTable) -> Tensor:
        """Run the encoder over the batch's token rows. Returns [T, H]."""
        cfg = self.cfg
        e = self.emb
        x = (F.embedding(layout.input_ids, e["word_embeddings.weight"])
             + e["position_embeddings.weight"][layout.position_ids]
             + e["token_type_embeddings.weight"][0])
        x = F.layer_norm(x, (cfg.hidden_size,), e["LayerNorm.weight"], e["LayerNorm.bias"],
                         cfg.layer_norm_eps)
        for i, lw in enumerate(self.layers):
            x = self._layer(i, lw, x, layout, ops)
        return x

    def _layer(self, i: int, lw: LayerWeights, x: Tensor, layout: TokenLayout,
               ops: OpTable) -> Tensor:
        cfg = self.cfg
        hdim = (cfg.hidden_size,)
        fire = _Firer(ops, i)
        lin = self._linears[i]
        q, k, v = lin["qkv"](x).split(cfg.hidden_size, dim=1)
        fire("linear", "query", x, q)
        fire("linear", "key", x, k)
        fire("linear", "value", x, v)
        ctx = layout.attention(q, k, v, cfg.num_attention_heads)
        a = lin["attn_out"](ctx)
        fire("linear", "attn_out", ctx, a)
        fire("adapter", "attn_out", a, a)
        x = F.layer_norm(a + x, hdim, lw.attn_ln_w, lw.attn_ln_b, cfg.layer_norm_eps)
        fire("layernorm", "attn_ln", x, x)
        h = lin["inter"](x)
        fire("linear", "intermediate", x, h)
        h = self._act(h)
        o = lin["out"](h)
        fire("linear", "output", h, o)
        fire("adapter", "output", o, o)
        x = F.layer_norm(o + x, hdim, lw.out_ln_w, lw.out_ln_b, cfg.layer_norm_eps)
        fire("layernorm", "out_ln", x, x)
        return x

    @torch.inference_mode()
    def pool(self, cls_hidden: Tensor) -> Tensor:
        """BERT pooler: tanh(W_p h_CLS + b_p). [B, H] -> [B, H]."""
        return torch.tanh(F.linear(cls_hidden, self.pooler_w, self.pooler_b))


class _Firer:
    """Calls the ops registered at (kind, layer, name), if any."""

    __slots__ = ("ops", "layer")

    def __init__(self, ops: OpTable, layer: int) -> None:
        self.ops, self.layer = ops, layer

    def __call__(self, kind: str, name: str, x: Tensor, y: Tensor) -> None:
        if self.ops:
            for fn in self.ops.get(HookKey(kind, self.layer, name), ()):
                fn(x, y)


def hf_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a `BertModel` state dict for this config."""
    h, f = cfg.hidden_size, cfg.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (cfg.vocab_size, h),
        "embeddings.position_embeddings.weight": (cfg.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    from pets.pet.targets import linear_shape

    for i in range(cfg.num_hidden_layers):
        for t, p in LINEAR_PATHS.items():
            out_f, in_f = linear_shape(cfg, t)
            shapes[f"{p.format(i=i)}.weight"] = (out_f, in_f)
            shapes[f"{p.format(i=i)}.bias"] = (out_f,)
        for p in LAYERNORM_PATHS.values():
            shapes[f"{p.format(i=i)}.weight"] = (h,)
            shapes[f"{p.format(i=i)}.bias"] = (h,)
    shapes["pooler.dense.weight"] = (h, h)
    shapes["pooler.dense.bias"] = (h,)
    return shapes
