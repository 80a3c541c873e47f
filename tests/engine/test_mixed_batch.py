"""A batch mixing tasks of all five PET types equals each query run alone,
and each task's standalone `transformers` model (the oracle)."""
from __future__ import annotations

import pytest
import torch

import pets
from tests.conftest import assert_results_close

PADDINGS = ["macro", "mini", "none"]


@pytest.fixture(scope="module")
def dense_outputs(engine, queries):
    """Per query: (pooled, logits) from the task's own HF model, run alone."""
    out = {}
    for task in engine.tasks:
        model = pets.baselines.dense_model(engine, task)
        bert = getattr(model, "bert", model)
        for q in (q for q in queries if q.task == task):
            ids = torch.tensor([q.input_ids])
            with torch.no_grad():
                pooled = bert(input_ids=ids).pooler_output[0]
                logits = model(input_ids=ids).logits[0] if bert is not model else None
            out[q.id] = pets.Result(query_id=q.id, task=task, pooled=pooled, logits=logits)
    return out


def test_every_pet_type_is_in_the_mix(engine, queries):
    assert {s.pet for s in engine.tasks.values()} == set(pets.method_names())
    assert len(engine.tasks) >= 8
    assert {q.task for q in queries} == set(engine.tasks)
    assert max(q.length for q in queries) == engine.config.max_position_embeddings
    assert min(q.length for q in queries) == 1


@pytest.mark.parametrize("padding", PADDINGS)
def test_mixed_batch_equals_each_query_alone(engine, queries, padding):
    mixed = engine.infer(queries, padding=padding)
    assert [r.query_id for r in mixed] == [q.id for q in queries]
    for q, r in zip(queries, mixed):
        assert_results_close(r, engine.infer([q], padding=padding)[0])


@pytest.mark.parametrize("padding", PADDINGS)
def test_mixed_batch_equals_dense_transformers_model(engine, queries, dense_outputs, padding):
    for r in engine.infer(queries, padding=padding):
        assert_results_close(r, dense_outputs[r.query_id])


def test_tasks_really_change_the_output(engine, queries):
    """Guard against a vacuous oracle: every task differs from the bare backbone."""
    from transformers import BertModel

    bare = BertModel(engine.config.to_hf()).eval()
    bare.load_state_dict(engine.backbone.state_dict())
    for q in queries:
        with torch.no_grad():
            base = bare(input_ids=torch.tensor([q.input_ids])).pooler_output[0]
        assert (engine.infer([q])[0].pooled - base).abs().max() > 1e-3, q.task


def test_dense_copy_in_our_code_equals_the_task(engine, queries):
    for task in ["lora-r4", "adapter-16", "diff-bias", "mask"]:
        copy = pets.baselines.dense_copy(engine, task)
        mine = [q for q in queries if q.task == task]
        for a, b in zip(copy.infer(mine), engine.infer(mine)):
            assert_results_close(a, b)


@pytest.mark.parametrize("padding", PADDINGS)
def test_run_takes_a_batch_with_several_minibatches_per_task(engine, queries, padding):
    by_task: dict[str, list] = {}
    for q in queries:
        by_task.setdefault(q.task, []).append(q)
    mbs = []
    for task, qs in by_task.items():
        mbs += [pets.MiniBatch(task, (q,)) for q in qs]  # one mini-batch per query
    batch = pets.Batch(tuple(mbs))
    for q, r in zip(batch.queries, engine.run(batch, padding=padding)):
        assert r.query_id == q.id
        assert_results_close(r, engine.infer([q])[0])


@pytest.mark.parametrize("padding", PADDINGS)
def test_batched_pet_ops_equal_the_per_segment_reference(engine, queries, padding):
    """The cross-task operators (gather, bmm, indexed adds) equal the plain per-segment loops."""
    fast = engine.infer(queries, padding=padding)
    for a, b in zip(fast, engine.infer(queries, padding=padding, reference=True)):
        assert_results_close(a, b)


def test_equal_length_segments_take_the_view_path_and_match_the_reference(engine):
    """One query of each task, all the same length: every slot group is a view, no gather."""
    queries = [pets.Query(task=t, input_ids=[101] + [2000 + i + j for j in range(6)], id=i)
               for i, t in enumerate(engine.tasks)]
    fast = engine.infer(queries)
    for q, a, b in zip(queries, fast, engine.infer(queries, reference=True)):
        assert_results_close(a, b)
        assert_results_close(a, engine.infer([q])[0])
