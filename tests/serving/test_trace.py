"""Trace files, generators and the Azure importer."""
from __future__ import annotations

import numpy as np
import pytest

import pets
from pets.serving import TraceError, TraceSpec, generate_trace, load_trace, save_trace
from pets.serving.azure import import_azure


def test_generated_trace_round_trips_through_csv(tmp_path):
    tr = generate_trace(TraceSpec(requests=50, tasks=4, seed=1))
    back = load_trace(save_trace(tr, tmp_path / "t.csv"))
    assert [(r.task, r.seq_len) for r in back.rows] == [(r.task, r.seq_len) for r in tr.rows]
    assert np.allclose([r.arrival_s for r in back.rows], [r.arrival_s for r in tr.rows], atol=1e-6)


def test_generators_are_seeded_and_shaped():
    a = generate_trace(TraceSpec(requests=2000, tasks=16, popularity="zipf", alpha=1.5, seed=3))
    assert a == generate_trace(TraceSpec(requests=2000, tasks=16, popularity="zipf", alpha=1.5, seed=3))
    counts = np.bincount([int(r.task.split("-")[1]) for r in a.rows], minlength=16)
    assert counts[0] > 4 * counts[8]  # zipf skew
    gaps = lambda cv: np.diff([r.arrival_s for r in generate_trace(  # noqa: E731
        TraceSpec(requests=4000, rate=100, cv=cv, seed=0)).rows])
    assert np.std(gaps(3.0)) > 2 * np.std(gaps(1.0))
    assert abs(np.mean(gaps(1.0)) - 0.01) < 0.001
    lengths = [r.seq_len for r in generate_trace(
        TraceSpec(requests=500, lengths="lognormal", mean_len=40, std_len=60, max_len=64)).rows]
    assert min(lengths) >= 1 and max(lengths) <= 64


@pytest.mark.parametrize("field,value", [("arrival", "hawkes"), ("popularity", "pareto"),
                                         ("lengths", "beta"), ("rate", 0), ("cv", -1)])
def test_bad_trace_specs(field, value):
    with pytest.raises(pets.InvalidSpecError):
        TraceSpec(**{field: value})


BAD = {
    "empty": ("", "empty file"),
    "unknown column": ("arrival_s,task,seq_len,colour\n0,a,3,red\n", "unknown columns"),
    "missing column": ("arrival_s,task\n0,a\n", "missing columns"),
    "bad time": ("arrival_s,task,seq_len\nsoon,a,3\n", "line 2: arrival_s"),
    "negative time": ("arrival_s,task,seq_len\n-1,a,3\n", "line 2"),
    "not monotone": ("arrival_s,task,seq_len\n0.5,a,3\n0.2,a,3\n", "line 3: arrival 0.2 is before"),
    "bad length": ("arrival_s,task,seq_len\n0,a,0\n", "seq_len must be >= 1"),
    "ragged": ("arrival_s,task,seq_len\n0,a\n", "2 fields"),
    "bad event": ("arrival_s,task,seq_len,event,spec\n0,a,3,explode,\n", "event 'explode'"),
    "add without spec": ("arrival_s,task,seq_len,event,spec\n0,a,,add_task,\n", "needs a spec"),
    "ids mismatch": ("arrival_s,task,seq_len,input_ids\n0,a,3,101 102\n", "2 input_ids"),
    "header only": ("arrival_s,task,seq_len\n", "no rows"),
}


@pytest.mark.parametrize("case", BAD)
def test_malformed_traces_name_file_and_line(tmp_path, case):
    text, match = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=match) as info:
        load_trace(path)
    assert "bad.csv" in str(info.value) and isinstance(info.value, pets.PetsError)


def test_azure_importer(tmp_path):
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, 1441))
    rows = [f"o,a,f{i},http," + ",".join(str(c) for c in counts + [0] * (1440 - len(counts)))
            for i, counts in enumerate([[1, 0, 2], [5, 5, 5], [0, 0, 0]])]
    path = tmp_path / "invocations_per_function_md.anon.d01.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    tr = import_azure(path, top=2, minutes=3, seq_len=16)
    assert len(tr.rows) == 18
    assert {r.task for r in tr.rows} == {"fn-0", "fn-1"}  # fn-0 is the busiest function
    assert sum(r.task == "fn-0" for r in tr.rows) == 15
    assert all(0 <= r.arrival_s < 180 for r in tr.rows)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TraceError, match="expected columns"):
        import_azure(path)


def test_duplicate_columns_and_bad_azure_ranges(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("arrival_s,task,seq_len,task\n0,a,3,b\n")
    with pytest.raises(TraceError, match="duplicate columns"):
        load_trace(path)
    with pytest.raises(TraceError, match="outside the day"):
        import_azure(path, start_minute=0)
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, 1441))
    az = tmp_path / "az.csv"
    az.write_text(header + "\no,a,f,http,1,2\n")
    with pytest.raises(TraceError, match="line 2: 6 fields"):
        import_azure(az)
    az.write_text(header + "\no,a,f,http," + ",".join(["-1"] * 1440) + "\n")
    with pytest.raises(TraceError, match="negative"):
        import_azure(az, minutes=2)


def test_text_rows_are_tokenized_at_replay(tmp_path):
    from pets.serving import ServeConfig

    path = tmp_path / "text.csv"
    path.write_text('arrival_s,task,seq_len,text\n0,a,,"A fine film, truly."\n0.01,a,5,\n')
    tr = load_trace(path)
    assert tr.rows[0].text == "A fine film, truly." and tr.rows[1].seq_len == 5
    assert load_trace(save_trace(tr, tmp_path / "again.csv")).rows == tr.rows
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="a", pet="lora", num_labels=2))
    from pets.serving.loop import ServingLoop
    from pets.serving.systems import make_system

    loop = ServingLoop(make_system("pets", eng), ServeConfig())
    rep = loop.run(tr, progress=False)
    assert rep.summary()["completed"] == 2
    assert loop.queries[0].input_ids[0] == 101 and loop.queries[0].input_ids[-1] == 102
    assert len(loop.queries[0].input_ids) > 4
