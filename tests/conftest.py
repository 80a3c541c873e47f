"""Shared fixtures: a bert-tiny engine holding a mix of tasks of all five PET types."""
from __future__ import annotations

import os
import random
import sys

import pytest
import torch

import pets


_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process with pytest's exit status once every report is written, without
    the interpreter's own teardown: Ray's native core worker and the threads it leaves behind
    can crash that teardown (a segmentation fault after every test had passed). Set
    PETS_TEST_TEARDOWN=1 to run the teardown anyway."""
    if os.environ.get("PETS_TEST_TEARDOWN") == "1" or _EXIT_STATUS not in config.stash:
        return
    config.get_terminal_writer().flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(config.stash[_EXIT_STATUS])


@pytest.fixture(scope="package", autouse=True)
def _fp32_under_test():
    """Engines made with dtype "auto" serve in float32 under tests/, so exactness holds at 1e-5
    (tests of the auto choice clear it). Notebooks, run after, keep the real `auto`."""
    old = os.environ.get("PETS_DTYPE")
    os.environ["PETS_DTYPE"] = "float32"
    yield
    if old is None:
        os.environ.pop("PETS_DTYPE", None)
    else:
        os.environ["PETS_DTYPE"] = old

# 13 tasks (same-rank LoRA and same-bottleneck adapters run batched): every PET type, several ranks / bottlenecks / densities / targets / head sizes.
MIXED_SPECS = [
    dict(name="lora-r2", pet="lora", rank=2, num_labels=2),
    dict(name="lora-r8-all", pet="lora", rank=8, alpha=8,
         targets=("query", "key", "value", "attn_out", "intermediate", "output")),
    dict(name="lora-r4", pet="lora", rank=4, alpha=32, num_labels=5),
    dict(name="lora-r2-b", pet="lora", rank=2, alpha=4, targets=("query", "value", "output")),
    dict(name="adapter-16", pet="adapter", bottleneck=16, num_labels=3),
    dict(name="adapter-64-out", pet="adapter", bottleneck=64, targets=("output",)),
    dict(name="adapter-16-b", pet="adapter", bottleneck=16, num_labels=2),
    dict(name="bitfit", pet="bitfit", num_labels=2),
    dict(name="bitfit-q", pet="bitfit", targets=("query",)),
    dict(name="diff-bias", pet="diff", density=0.01, bias=True, num_labels=2),
    dict(name="diff", pet="diff"),
    dict(name="mask", pet="mask", num_labels=4),
    dict(name="mask-ffn", pet="mask", density=0.1, targets=("intermediate", "output")),
]


def tiny_engine(specs=MIXED_SPECS, **kw) -> pets.PetsEngine:
    eng = pets.PetsEngine.from_preset("bert-tiny", seed=0, **kw)
    for s in specs:
        eng.add_task(pets.TaskSpec(**s))
    return eng


def mixed_queries(eng: pets.PetsEngine, per_task: int = 3, seed: int = 0) -> list[pets.Query]:
    """Queries of every task, interleaved, lengths from 1 to the model maximum."""
    rng = random.Random(seed)
    tasks = list(eng.tasks)
    max_len = eng.config.max_position_embeddings
    lengths = [1, max_len] + [rng.randint(1, 40) for _ in range(per_task * len(tasks) - 2)]
    queries = []
    for i, n in enumerate(lengths):
        ids = [101] + [rng.randint(1000, eng.config.vocab_size - 1) for _ in range(n - 1)]
        queries.append(pets.Query(task=tasks[i % len(tasks)], input_ids=ids[:n], id=i))
    rng.shuffle(queries)
    return queries


@pytest.fixture(scope="module")
def engine() -> pets.PetsEngine:
    return tiny_engine()


@pytest.fixture(scope="module")
def queries(engine) -> list[pets.Query]:
    return mixed_queries(engine)


def assert_results_close(a: pets.Result, b: pets.Result, atol: float = 1e-5) -> None:
    assert a.task == b.task
    torch.testing.assert_close(a.pooled, b.pooled, atol=atol, rtol=0)
    if a.logits is None or b.logits is None:
        assert a.logits is None and b.logits is None
    else:
        torch.testing.assert_close(a.logits, b.logits, atol=atol, rtol=0)


def engine_with(specs, dtype, **options) -> pets.PetsEngine:
    """A seeded bert-tiny engine holding `specs` (options: engine flags such as kernels)."""
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype=dtype, seed=0, **options)
    for spec in specs:
        eng.add_task(spec)
    return eng


def round_robin_queries(specs, lengths) -> list[pets.Query]:
    """One query per length, its task cycling through `specs`; ids 101, 2000, 2001, ..."""
    return [pets.Query(task=s.name, input_ids=[101] + [2000 + j for j in range(n - 1)], id=i)
            for i, (s, n) in enumerate(zip(list(specs) * len(lengths), lengths))]


def assert_kernel_paths_agree(make_engine, queries) -> None:
    """A compiled-kernel engine equals its torch-path twin and its own per-segment reference
    in fp32, and its bf16 twin stays within bf16 noise. make_engine(dtype, kernels)."""
    fast, torch_path = make_engine(torch.float32, True), make_engine(torch.float32, False)
    for a, b, c in zip(fast.infer(queries), torch_path.infer(queries),
                       fast.infer(queries, reference=True)):
        assert_results_close(a, b)
        assert_results_close(a, c)
    for a, b in zip(fast.infer(queries), make_engine(torch.bfloat16, True).infer(queries)):
        torch.testing.assert_close(b.pooled.float(), a.pooled, atol=3e-2, rtol=0)
