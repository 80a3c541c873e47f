"""PET methods (one module each, registered by name), the TaskSpec and task files."""
from pets.pet import adapter, bitfit, diff, lora, mask  # noqa: F401  (registers the methods)
from pets.pet.method import PetMethod, get_method, method_names
from pets.pet.spec import TaskSpec

__all__ = ["PetMethod", "TaskSpec", "get_method", "method_names"]
