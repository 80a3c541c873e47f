"""The CLI answers every user error in one line, PetsError or not (issue 17, class 5-6)."""
from __future__ import annotations

import pytest

from pets.cli import main


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.csv"
    assert main(["trace", "gen", "--out", str(path), "--requests", "20", "--tasks", "3"]) == 0
    return path


def test_a_trace_with_a_bom_replays(tmp_path, trace, capsys):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + trace.read_bytes())
    assert main(["replay", str(bom), "--out", str(tmp_path / "o")]) == 0


def _blocked(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    return str(blocker / "sub")


@pytest.mark.parametrize("args,message", [
    (lambda t, tmp: ["replay", str(t), "--out", _blocked(tmp)], "NotADirectoryError"),
    (lambda t, tmp: ["trace", "gen", "--out", _blocked(tmp) + "/x.csv"], "NotADirectoryError"),
    (lambda t, tmp: ["trace", "gen", "--out", str(tmp / "x.csv"), "--std-len", "inf"], "std_len"),
    (lambda t, tmp: ["trace", "gen", "--out", str(tmp / "x.csv"), "--requests", "0"], "requests"),
    (lambda t, tmp: ["trace", "import-azure", str(t), "--out", str(tmp / "a.csv"), "--scale", "-1"],
     "scale"),
    (lambda t, tmp: ["replay", str(tmp / "missing.csv")], "missing.csv"),
])
def test_user_errors_are_one_line(tmp_path, trace, capsys, args, message):
    assert main(args(trace, tmp_path)) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("pets: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err


@pytest.mark.parametrize("device", ["gpu0", "cuda:99", "tpu"])
def test_bad_devices_are_usage_errors(trace, capsys, device):
    import torch

    if device == "cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("a machine with 100 GPUs")
    with pytest.raises(SystemExit) as info:
        main(["replay", str(trace), "--device", device])
    assert info.value.code == 2
    assert "--device" in capsys.readouterr().err
