"""Replays refuse work that would not fit in memory, with the bytes it would need."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import pets
from pets.errors import InvalidSpecError
from pets.serving import memory
from pets.serving.systems import make_system


def test_check_fits_refuses_what_exceeds_the_headroom(monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 10 * 2**30)
    memory.check_fits("a thing", 7 * 2**30, "cpu", "make it smaller")  # 70% of free: fits
    with pytest.raises(InvalidSpecError, match=r"a thing needs 9.00 GiB.*10.00 GiB free.*make it smaller"):
        memory.check_fits("a thing", 9 * 2**30, "cpu", "make it smaller")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_seqs_counts_each_copy_with_its_packed_linears(monkeypatch, dtype):
    import torch

    eng = pets.PetsEngine.from_preset("bert-tiny", seed=0, dtype=getattr(torch, dtype))
    for i in range(3):
        eng.add_task(pets.TaskSpec(name=f"t{i}", pet="lora"))
    mem = eng.memory()
    seen = []
    monkeypatch.setattr("pets.serving.systems.check_fits",
                        lambda what, nbytes, device, fix: seen.append(nbytes))
    make_system("seqs", eng).prepare()
    assert seen == [3 * (mem.shared + mem.packed)]


def test_seqs_that_does_not_fit_builds_nothing_and_says_so(monkeypatch):
    eng = pets.PetsEngine.from_preset("bert-tiny", seed=0)
    eng.add_task(pets.TaskSpec(name="t0", pet="bitfit"))
    monkeypatch.setattr(memory, "free_bytes", lambda device: 1)
    system = make_system("seqs", eng)
    for _ in range(2):  # refused again, not half-built
        with pytest.raises(InvalidSpecError, match="seqs with 1 dense backbone copies needs"):
            system.prepare()
    assert system._copies is None


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_release_freed_hands_what_glibc_kept_back_to_the_os():
    import torch

    before = _rss()
    blocks, pins = [], []
    for _ in range(8192):  # 512 MiB in 64 KiB tensors, each followed by a kept one
        blocks.append(torch.ones(2**14))
        pins.append(torch.ones(4))
    del blocks
    kept = _rss() - before  # freed but still resident: the heap's holes stay mapped
    memory.release_freed()
    assert _rss() - before < max(kept / 4, 2**26)
