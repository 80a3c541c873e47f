"""How the backbone runs its shared linears.

  plain   `F.linear(x, W, b)`: every device.
  packed  oneDNN with the weight reordered once into its blocked layout
          (`torch.ops.mkldnn._reorder_linear_weight`, what torch.compile's CPU freezing
          uses); each call runs `torch.ops.mkldnn._linear_pointwise` without re-packing.
          On an AVX-512 CPU (interleaved with plain, one 768 -> 3072 linear) it measured
          1.14x (bf16) and 2.39x (fp32) faster over 1,024 tokens, 1.58x and 2.30x over 16
          tokens. It holds a second
          copy of the encoder's matrices (the plain ones stay: PET operators, exports and
          merges read them), reported as `engine.memory().packed`. Packed weights do not
          pickle: a pickled backbone packs them again where it is loaded.
`auto` is packed on CPUs where the oneDNN ops exist and pack this dtype, else plain; the
environment variable PETS_LINEAR (`plain` or `packed`) overrides it.
"""
from __future__ import annotations

import functools
import os
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.errors import InvalidSpecError

CHOICES = ("auto", "plain", "packed")


class PlainLinear:
    name = "plain"

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        self.weight, self.bias = weight, bias

    def __call__(self, x: Tensor) -> Tensor:
        """x [T, in] -> [T, out]."""
        return F.linear(x, self.weight, self.bias)

    def extra_bytes(self) -> int:
        return 0


class PackedLinear:
    name = "packed"

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        self.weight, self.bias = weight, bias
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1024)

    def __call__(self, x: Tensor) -> Tensor:
        """x [T, in] (contiguous rows) -> [T, out]."""
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def extra_bytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()


LINEARS: dict[str, Callable[[Tensor, Tensor], PlainLinear | PackedLinear]] = {
    "plain": PlainLinear, "packed": PackedLinear}


def choose_linear(requested: str | None, device: torch.device, dtype: torch.dtype) -> str:
    """The implementation for `requested` ("auto"/None, "plain" or "packed")."""
    name = requested or "auto"
    if name == "auto":
        name = os.environ.get("PETS_LINEAR", "") or "auto"
    if name not in CHOICES:
        raise InvalidSpecError(f"unknown linear {name!r} (argument or PETS_LINEAR); "
                               f"choose one of {CHOICES}")
    if name == "auto":
        return "packed" if device.type == "cpu" and packs(dtype) else "plain"
    if name == "packed" and not (device.type == "cpu" and packs(dtype)):
        raise InvalidSpecError(f"packed linears need a CPU with oneDNN that packs {dtype}; "
                               "use linear='plain'")
    return name


@functools.cache
def packs(dtype: torch.dtype) -> bool:
    """Whether oneDNN here packs and runs a linear in `dtype` with the plain result."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        w = torch.linspace(-1, 1, 48, dtype=torch.float32).reshape(6, 8).to(dtype)
        b = torch.linspace(0, 1, 6).to(dtype)
        x = torch.linspace(-2, 2, 24).reshape(3, 8).to(dtype)
        got = PackedLinear(w, b)(x)
    except (RuntimeError, AttributeError):
        return False
    return bool(torch.allclose(got.float(), F.linear(x, w, b).float(), atol=1e-2))
