"""Task folders and PEFT adapters as zip archives: load into an engine (the dashboard's
upload, the server's POST /v1/tasks), export from it."""
from __future__ import annotations

import io
import lzma
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import pets
from pets.pet.taskfile import SPEC_FILE

PEFT_FILE = "adapter_config.json"
MAX_UNZIPPED = 512 * 2**20  # refuse archives that would unpack to more than this
MAX_MEMBERS = 1000
# What zipfile raises on damaged or exotic archives: BadZipFile (bad CRC, bad headers),
# zlib.error (corrupt deflate), NotImplementedError (compression it lacks), RuntimeError
# (encrypted members), EOFError/OSError (truncation, disk), ValueError, lzma/bz2 errors.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError,
    ValueError, lzma.LZMAError)


def import_zip(engine: pets.PetsEngine, data: bytes, *, filename: str,
               name: str | None = None) -> pets.TaskSpec:
    """Add the task inside a zip: a task folder (pet.json + pet.safetensors) or a PEFT LoRA
    adapter (adapter_config.json + adapter_model.safetensors), at the top or in one folder.

    `name` renames a task folder's task; a PEFT adapter needs it (default: the zip's stem).
    """
    with tempfile.TemporaryDirectory(prefix="pets-upload-") as tmp:
        root = _extract(data, Path(tmp), filename)
        folder, kind = _locate(root, filename)
        if kind == "peft":
            return engine.import_peft(folder, name=name or _stem(filename))
        return engine.load_task(folder, name=name or None)


def export_zip(engine: pets.PetsEngine, task: str) -> bytes:
    """The task as a zip of its task folder (pet.json + pet.safetensors)."""
    with tempfile.TemporaryDirectory(prefix="pets-download-") as tmp:
        folder = engine.save_task(task, Path(tmp) / task)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.iterdir()):
                z.write(f, f"{task}/{f.name}")
        return buf.getvalue()


def _extract(data: bytes, into: Path, filename: str) -> Path:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS:
        raise pets.TaskFileError(f"{filename} is not a zip archive; zip the task folder "
                                 "(pet.json + pet.safetensors) or the PEFT adapter folder") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise pets.TaskFileError(f"{filename} holds {len(members)} files; a task zip holds "
                                     "two or three")
        if sum(m.file_size for m in members) > MAX_UNZIPPED:
            raise pets.TaskFileError(f"{filename} unpacks to more than {MAX_UNZIPPED >> 20} MiB")
        for m in members:
            path = PurePosixPath(m.filename)
            if path.is_absolute() or ".." in path.parts:
                raise pets.TaskFileError(f"{filename}: refusing the unsafe member path {m.filename!r}")
        encrypted = [m.filename for m in members if m.flag_bits & 0x1]
        if encrypted:
            raise pets.TaskFileError(f"{filename}: {encrypted[0]!r} is encrypted; zip the task "
                                     "folder again without a password")
        try:
            archive.extractall(into)
        except ZIP_ERRORS as e:  # corrupt deflate, bad CRC, unsupported compression, truncation
            raise pets.TaskFileError(f"{filename} is corrupt or uses an unsupported compression "
                                     f"({type(e).__name__}: {e}); zip the folder again with "
                                     "plain deflate (the default of zip and Finder)") from None
    return into


def _locate(root: Path, filename: str) -> tuple[Path, str]:
    """The folder holding pet.json ("task") or adapter_config.json ("peft")."""
    for marker, kind in ((SPEC_FILE, "task"), (PEFT_FILE, "peft")):
        found = sorted(p for p in root.rglob(marker) if "__MACOSX" not in p.parts)
        if len(found) > 1:
            raise pets.TaskFileError(f"{filename} holds {len(found)} {marker} files; "
                                     "upload one task per zip")
        if found:
            return found[0].parent, kind
    raise pets.TaskFileError(f"{filename} holds neither a task folder ({SPEC_FILE} + "
                             f"pet.safetensors) nor a PEFT adapter ({PEFT_FILE} + "
                             "adapter_model.safetensors)")


def _stem(filename: str) -> str:
    stem = Path(filename).stem
    return "".join(c if c.isalnum() or c in "_-." else "-" for c in stem)[:64] or "peft-task"
