"""How many bytes a device has free, so that a replay can refuse work that would not fit
(the `seqs` system holds one dense backbone copy per task) instead of exhausting memory."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

import torch

from pets.errors import InvalidSpecError

HEADROOM = 0.8  # use at most this share of what is free


def free_bytes(device: torch.device | str) -> int:
    """Bytes free on `device`: CUDA's own count, else the host's available memory."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_fits(what: str, nbytes: int, device: torch.device | str, fix: str) -> None:
    """Raise InvalidSpecError when `nbytes` exceed HEADROOM of what `device` has free."""
    free = free_bytes(device)
    if nbytes > HEADROOM * free:
        raise InvalidSpecError(f"{what} needs {nbytes / 2**30:.2f} GiB, more than "
                               f"{HEADROOM:.0%} of the {free / 2**30:.2f} GiB free on {device}; {fix}")


def release_freed() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc's `malloc_trim`).

    glibc keeps most of what large tensors freed (8 freed distilbert copies: 1.8 of 2.3 GB
    stayed resident), so a process that drops a big engine and then starts another process
    would leave that one short of memory. A no-op where there is no glibc."""
    gc.collect()
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
