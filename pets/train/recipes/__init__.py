"""Training recipes, one module per method, registered by name."""
from pets.train.recipes import adapter, bitfit, diff, full, lora, mask  # noqa: F401 (register)
from pets.train.recipes.base import Recipe, get_recipe, recipe_names

__all__ = ["Recipe", "get_recipe", "recipe_names"]
