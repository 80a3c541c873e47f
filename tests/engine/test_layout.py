"""Token layouts per padding mode, and the two attention paths (blocks, gather)."""
from __future__ import annotations

import pytest

import pets
from pets.engine import layout as layout_mod
from pets.engine.layout import build_layout
from tests.conftest import assert_results_close


def _batch(lengths_by_task):
    mbs = []
    qid = 0
    for task, lengths in lengths_by_task:
        qs = []
        for n in lengths:
            qs.append(pets.Query(task=task, input_ids=[5] * n, id=qid))
            qid += 1
        mbs.append(pets.MiniBatch(task, tuple(qs)))
    return pets.Batch(tuple(mbs))


@pytest.mark.parametrize("padding,tokens", [("macro", 5 * 7), ("mini", 3 * 4 + 2 * 7), ("none", 3 + 4 + 2 + 7 + 1)])
def test_padded_token_counts(padding, tokens):
    batch = _batch([("a", [3, 4, 2]), ("b", [7, 1])])
    lay = build_layout(batch, padding, "cpu")
    assert lay.num_tokens == tokens
    assert [s.task for s in lay.segments] == ["a", "b"]
    assert lay.segments[-1].stop == tokens
    assert lay.cls_rows.tolist()[0] == 0


def test_unknown_padding_is_a_clear_error():
    with pytest.raises(pets.InvalidQueryError, match="padding"):
        build_layout(_batch([("a", [2])]), "diagonal", "cpu")


@pytest.mark.parametrize("max_blocks", [0, 1000])
@pytest.mark.parametrize("padding", ["macro", "mini", "none"])
def test_attention_paths_agree(engine, queries, monkeypatch, max_blocks, padding):
    reference = engine.infer(queries[:12], padding="macro")
    monkeypatch.setattr(layout_mod, "MAX_BLOCKS", max_blocks)
    for a, b in zip(engine.infer(queries[:12], padding=padding), reference):
        assert_results_close(a, b)
