"""PetS workbench: serve many parameter-efficient fine-tuned tasks on one shared transformer."""
from pets import baselines
from pets.batching import Batch, MiniBatch, Query, Result
from pets.config import PRESETS, ModelConfig
from pets.engine import MemoryReport, PetsEngine
from pets.engine.trace import OpTrace
from pets.errors import (CheckpointError, DuplicateTaskError, InvalidParamsError,
                         InvalidQueryError, InvalidSpecError, PeftImportError, PetsError,
                         TaskFileError, UnknownTaskError)
from pets.pet import TaskSpec, method_names

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "Batch", "CheckpointError", "DuplicateTaskError", "InvalidParamsError",
    "InvalidQueryError", "InvalidSpecError", "MemoryReport", "MiniBatch", "ModelConfig", "OpTrace",
    "PeftImportError", "PetsEngine", "PetsError", "Query", "Result", "TaskFileError",
    "TaskSpec", "UnknownTaskError", "baselines", "method_names",
]
