"""Task folders and PEFT adapters as zip archives: upload into an engine, download from it."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import pets
from pets.pet.taskfile import SPEC_FILE

PEFT_FILE = "adapter_config.json"
MAX_UNZIPPED = 512 * 2**20  # refuse archives that would unpack to more than this


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
    except zipfile.BadZipFile:
        raise pets.TaskFileError(f"{filename} is not a zip archive; zip the task folder "
                                 "(pet.json + pet.safetensors) or the PEFT adapter folder") from None
    with archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_UNZIPPED:
            raise pets.TaskFileError(f"{filename} unpacks to more than {MAX_UNZIPPED >> 20} MiB")
        for m in members:
            path = PurePosixPath(m.filename)
            if path.is_absolute() or ".." in path.parts:
                raise pets.TaskFileError(f"{filename}: refusing the unsafe member path {m.filename!r}")
        try:
            archive.extractall(into)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise pets.TaskFileError(f"{filename} is corrupt: {e}") from None
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
