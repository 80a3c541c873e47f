"""BitFit: the task's biases replace the shared biases of every target linear
and both LayerNorms of each encoder layer. Run-time form: the full bias vectors."""
from __future__ import annotations

import torch

from pets.pet.bias import bias_name, bias_ops, shared_bias
from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, linear_keys
from pets.pet.params import ParamSpec
from pets.pet.targets import LAYERNORM_PATHS


def _keys(spec, backbone) -> list[HookKey]:
    layers = backbone.cfg.num_hidden_layers
    return linear_keys(spec.targets, layers) + [
        HookKey("layernorm", i, s) for i in range(layers) for s in LAYERNORM_PATHS]


@register
class BitFit(PetMethod):
    name = "bitfit"
    storage = "dense bias vectors"

    def param_specs(self, spec, backbone):
        return {bias_name(k): ParamSpec(tuple(shared_bias(backbone, k).shape))
                for k in _keys(spec, backbone)}

    def init_params(self, spec, backbone, gen):
        return {bias_name(k): shared_bias(backbone, k).cpu().float()
                + torch.randn(shared_bias(backbone, k).shape, generator=gen) * 0.05
                for k in _keys(spec, backbone)}

    def build_state(self, spec, backbone, params):
        return {k: params[bias_name(k)].to(backbone.device, backbone.dtype).contiguous()
                for k in _keys(spec, backbone)}

    def export_params(self, spec, backbone, state):
        return {bias_name(k): b for k, b in state.items()}

    def ops(self, items, backbone):
        return bias_ops(items, backbone)

    def merge_into(self, spec, params, sd):
        for name, b in params.items():
            sd[name].copy_(b)
