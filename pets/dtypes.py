"""The dtype an engine serves in: `auto` picks the fastest one the device runs natively.

  CUDA: bfloat16 where supported (Ampere and later), else float16.
  CPU:  bfloat16 with native bf16 arithmetic (avx512_bf16 or AMX), else float32.
  other devices: float32.
The environment variable PETS_DTYPE (e.g. `float32`) overrides what `auto` picks;
the test suite sets it to float32 so exactness is checked at 1e-5.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from pets.errors import InvalidSpecError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}
CHOICES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(dtype: str | torch.dtype | None, device: str | torch.device = "cpu") -> torch.dtype:
    """A torch dtype from a name, a torch dtype, or `auto`/None (see the module doc)."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise InvalidSpecError(f"dtype {dtype} is not served; choose one of {CHOICES}")
        return dtype
    name = "auto" if dtype is None else str(dtype).removeprefix("torch.")
    if name == "auto":
        name = os.environ.get("PETS_DTYPE", "") or "auto"
        if name == "auto":
            return native_dtype(torch.device(device))
    if name not in DTYPES:
        raise InvalidSpecError(f"unknown dtype {dtype!r}; choose one of {CHOICES}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def native_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return torch.float32


@functools.cache
def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX in /proc/cpuinfo (Linux); elsewhere False (fp32 is the safe pick)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})
