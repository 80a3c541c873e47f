"""Crafted uploads on the dashboard: each a PetsError (shown as st.error), never a
traceback, and the workspace unchanged (issue 17, classes 5-6)."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

import pets


def _task_zip(compression=zipfile.ZIP_STORED) -> bytes:
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="t", pet="bitfit"))
    from lib.taskfiles import export_zip

    src = zipfile.ZipFile(io.BytesIO(export_zip(eng, "t")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            out = zipfile.ZipInfo(info.filename)
            out.compress_type = compression
            z.writestr(out, src.read(info.filename))
    return buf.getvalue()


def _patch(data: bytes, local: int, central: int, value: int) -> bytes:
    """Set a 2-byte field of every member's local and central header."""
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = 0
        while (at := b.find(sig, at)) >= 0:
            b[at + off:at + off + 2] = struct.pack("<H", value)
            at += 4
    return bytes(b)


def _patch_method(data: bytes, method: int) -> bytes:
    return _patch(data, 8, 10, method)


def _encrypted(data: bytes) -> bytes:
    return _patch(data, 6, 8, 0x1)


def _corrupt_deflate(data: bytes) -> bytes:
    """Overwrite the middle of the first member's deflate stream."""
    b = bytearray(data)
    name_len, extra_len = struct.unpack("<HH", b[26:30])
    start = 30 + name_len + extra_len
    size = struct.unpack("<I", b[18:22])[0]
    for i in range(start + size // 4, start + size // 2):
        b[i] = 0xFF
    return bytes(b)


CRAFTED = {
    "encrypted member": lambda: _encrypted(_task_zip()),
    "unsupported compression": lambda: _patch_method(_task_zip(), 99),
    "corrupt deflate": lambda: _corrupt_deflate(_task_zip(zipfile.ZIP_DEFLATED)),
    "truncated": lambda: _task_zip()[:-40],
    "not a zip": lambda: b"hello",
    "empty": lambda: b"",
}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_zips_are_task_file_errors(case):
    from lib.taskfiles import import_zip

    eng = pets.PetsEngine.from_preset("bert-tiny")
    with pytest.raises(pets.PetsError) as info:
        import_zip(eng, CRAFTED[case](), filename="x.zip")
    assert "x.zip" in str(info.value)
    assert not eng.tasks


def test_a_good_zip_still_imports():
    from lib.taskfiles import import_zip

    eng = pets.PetsEngine.from_preset("bert-tiny")
    assert import_zip(eng, _task_zip(zipfile.ZIP_DEFLATED), filename="x.zip").name == "t"


@pytest.mark.parametrize("spec,ok", [
    ('"{""pet"": ""lora"", ""name"": ""n""}"', True),
    ("/etc", False), ("../../data/tasks/x", False), ("data/tasks/x", False),
])
def test_uploaded_traces_add_only_what_they_carry(spec, ok):
    from lib.traces import parse_upload

    data = f"arrival_s,task,seq_len,event,spec\n0,a,4,,\n0.1,n,,add_task,{spec}\n".encode()
    if ok:
        assert parse_upload("up.csv", data).rows[1].event == "add_task"
    else:
        with pytest.raises(pets.PetsError, match="up.csv line 3.*JSON TaskSpec"):
            parse_upload("up.csv", data)


def test_fork_copies_a_snapshot_of_the_tasks():
    from lib.backbones import fork

    eng = pets.PetsEngine.from_preset("bert-tiny")
    for i in range(3):
        eng.add_task(pets.TaskSpec(name=f"t{i}", pet="bitfit"))
    copy = fork(eng)
    eng.remove_task("t0")
    assert set(copy.tasks) == {"t0", "t1", "t2"} and set(eng.tasks) == {"t1", "t2"}
