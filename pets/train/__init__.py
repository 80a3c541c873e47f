"""Training real tasks: data sets, one recipe per PET type, the trainer, evaluation."""
from pets.train.api import TrainConfig, TrainMetrics, TrainResult, train
from pets.train.data import dataset_names, load_dataset, split
from pets.train.recipes import get_recipe, recipe_names

__all__ = ["TrainConfig", "TrainMetrics", "TrainResult", "dataset_names", "get_recipe",
           "load_dataset", "recipe_names", "split", "train"]
