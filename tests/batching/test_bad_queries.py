"""Token ids are ints, never coerced; infer(None) and friends are InvalidQueryErrors (issue 17)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pets

BAD_IDS = {
    "float id": ([101, 101.7, 102], "101.7"),
    "whole float": ([101.0, 102], "not an int"),
    "string": ("101", "tokenize text first"),
    "string ids": (["101", "102"], "not an int"),
    "bool id": ([True, 102], "not an int"),
    "none": (None, "list of int token ids"),
    "int": (101, "list of int token ids"),
    "float tensor": (torch.tensor([101.0, 102.0]), "integer tensor"),
    "bool tensor": (torch.tensor([True]), "integer tensor"),
    "float array": (np.array([101.5]), "not an int"),
    "nested": ([[101]], "not an int"),
    "bytes": (b"\x65", "list of int token ids"),
}


@pytest.mark.parametrize("case", BAD_IDS)
def test_bad_token_ids(case):
    ids, match = BAD_IDS[case]
    with pytest.raises(pets.InvalidQueryError, match=match):
        pets.Query(task="t", input_ids=ids)


@pytest.mark.parametrize("ids", [[101, 102], (101, 102), np.array([101, 102]),
                                 torch.tensor([101, 102]), [np.int64(101), 102], range(101, 103)])
def test_good_token_ids(ids):
    assert pets.Query(task="t", input_ids=ids).input_ids == (101, 102)


@pytest.mark.parametrize("kw,match", [(dict(task=5), "task"), (dict(id="a"), "id"),
                                      (dict(arrival=math.nan), "arrival"),
                                      (dict(arrival=math.inf), "arrival")])
def test_bad_query_fields(kw, match):
    with pytest.raises(pets.InvalidQueryError, match=match):
        pets.Query(**{"task": "t", "input_ids": [101], **kw})


@pytest.mark.parametrize("arg", [None, 5, "abc", pets.Query(task="t", input_ids=[1])])
def test_infer_needs_a_list_of_queries(arg):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="t", pet="bitfit"))
    with pytest.raises(pets.InvalidQueryError, match="list of pets.Query"):
        eng.infer(arg)
