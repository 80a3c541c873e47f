"""Task folders: `pet.json` (the TaskSpec fields) + `pet.safetensors` (tensors
named by the HF BertModel parameter they modify; DESIGN.md section 4)."""
from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from pets.errors import PetsError, TaskFileError
from pets.pet.spec import TaskSpec

SPEC_FILE = "pet.json"
TENSOR_FILE = "pet.safetensors"


def save_task_folder(folder: str | Path, spec: TaskSpec, params: dict[str, Tensor]) -> Path:
    """Write the task folder; TaskFileError when `folder` cannot be written."""
    from safetensors.torch import save_file

    try:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in params.items()}
        save_file(tensors, str(folder / TENSOR_FILE), metadata={"format": "pets-task-v1"})
        (folder / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2) + "\n",
                                        encoding="utf-8")
    except (OSError, TypeError, ValueError) as e:  # unwritable, a file in the way, bad path
        raise TaskFileError(f"cannot write task folder {folder}: {e}; pick a writable "
                            "folder") from None
    return folder


def read_task_folder(folder: str | Path) -> tuple[TaskSpec, dict[str, Tensor]]:
    from safetensors.torch import load_file

    try:
        folder = Path(folder)
    except TypeError:
        raise TaskFileError(f"a task folder is a path, got {folder!r}") from None
    if not folder.is_dir():
        raise TaskFileError(f"task folder {folder} does not exist")
    for f in (SPEC_FILE, TENSOR_FILE):
        if not (folder / f).is_file():
            raise TaskFileError(f"task folder {folder} lacks {f}; save one with engine.save_task")
    try:
        data = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise TaskFileError(f"{folder / SPEC_FILE} is not valid JSON: {e}") from None
    except OSError as e:
        raise TaskFileError(f"cannot read {folder / SPEC_FILE}: {e}") from None
    try:
        spec = TaskSpec.from_dict(data)
    except PetsError as e:
        raise TaskFileError(f"{folder / SPEC_FILE}: {e}") from None
    try:
        params = load_file(str(folder / TENSOR_FILE))
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise TaskFileError(f"{folder / TENSOR_FILE} is corrupt or not safetensors: {e}") from None
    return spec, params
