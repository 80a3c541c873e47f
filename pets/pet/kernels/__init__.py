"""Compiled CPU kernels for the PET operators, built on first use.

`segment_spmm` (segment_spmm.cpp) applies every segment's sparse term of a hook
point in one call (Diff, Mask); `segment_gemm` (segment_gemm.cpp) every segment's
dense projection (LoRA's and adapters' two), `segment_bias` (segment_bias.cpp) every
segment's task-bias add (BitFit, Diff's biases), each reading and writing the engine's
dtype directly; `simd.h` holds what they share, `module.cpp` the bindings. They are
built with torch's C++ extension loader the first time an engine needs them (about a
minute, then cached on disk under ~/.cache/torch_extensions); without a working
compiler, or with PETS_NO_KERNELS=1, `cpu_kernels()` is None and the ops run on
torch's own kernels instead (CSR sparse products, batched GEMMs, broadcast adds).
"""
from __future__ import annotations

import functools
import os
import shutil
import warnings
import zlib
from pathlib import Path
from types import ModuleType

import torch


SOURCES = ("module.cpp", "segment_spmm.cpp", "segment_gemm.cpp", "segment_bias.cpp")


KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def kernels_for(enabled: bool, device: torch.device, dtype: torch.dtype) -> ModuleType | None:
    """The compiled kernels for PET ops on `device` in `dtype` when `enabled` (an engine's
    flag) and they apply there, else None (the ops use torch's own)."""
    if not enabled or device.type != "cpu" or dtype not in KERNEL_DTYPES:
        return None
    return cpu_kernels()


@functools.cache
def cpu_kernels() -> ModuleType | None:
    if os.environ.get("PETS_NO_KERNELS"):
        return None
    try:
        from torch.utils.cpp_extension import load

        _ninja_on_path()

        here = Path(__file__).parent
        # the loader rebuilds when a source or a flag changes; the header's hash as a flag
        header = zlib.crc32((here / "simd.h").read_bytes())
        return load(name="pets_cpu_kernels", sources=[str(here / f) for f in SOURCES],
                    extra_cflags=["-O3", "-march=native", "-fopenmp", f"-DPETS_SIMD_H={header}"],
                    extra_ldflags=["-fopenmp"], verbose=False)
    except Exception as e:  # noqa: BLE001 - any build failure means: use the torch path
        warnings.warn(f"pets: the CPU kernels could not be built ({type(e).__name__}: {e}); "
                      "PET ops use torch's own kernels instead", RuntimeWarning, stacklevel=2)
        return None


def _ninja_on_path() -> None:
    """torch's loader runs `ninja` from PATH; the PyPI package's copy sits in the venv."""
    if shutil.which("ninja") is None:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
