"""Compiled CPU kernels for the sparse PETs, built on first use.

`segment_spmm` (segment_spmm.cpp) applies every segment's sparse term of a hook
point in one call, reading and writing the engine's dtype directly. It is built
with torch's C++ extension loader the first time an engine needs it (about 30 s,
then cached on disk under ~/.cache/torch_extensions); without a working compiler,
or with PETS_NO_KERNELS=1, `segment_spmm_kernel()` is None and the sparse ops run
on torch's own CSR kernels (MKL / cuSPARSE) instead.
"""
from __future__ import annotations

import functools
import os
import shutil
import warnings
from pathlib import Path
from types import ModuleType


@functools.cache
def segment_spmm_kernel() -> ModuleType | None:
    if os.environ.get("PETS_NO_KERNELS"):
        return None
    try:
        from torch.utils.cpp_extension import load

        _ninja_on_path()

        return load(name="pets_segment_spmm",
                    sources=[str(Path(__file__).with_name("segment_spmm.cpp"))],
                    extra_cflags=["-O3", "-march=native", "-fopenmp"],
                    extra_ldflags=["-fopenmp"], verbose=False)
    except Exception as e:  # noqa: BLE001 - any build failure means: use the torch path
        warnings.warn(f"pets: the CPU sparse kernel could not be built ({type(e).__name__}: {e}); "
                      "sparse PET ops use torch's CSR kernels instead", RuntimeWarning, stacklevel=2)
        return None


def _ninja_on_path() -> None:
    """torch's loader runs `ninja` from PATH; the PyPI package's copy sits in the venv."""
    if shutil.which("ninja") is None:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
