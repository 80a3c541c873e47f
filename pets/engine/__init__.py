"""The PetS engine: shared backbone, token layouts, batch execution, the facade."""
from pets.engine.engine import MemoryReport, PetsEngine

__all__ = ["MemoryReport", "PetsEngine"]
