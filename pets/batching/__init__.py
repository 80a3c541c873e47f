"""Queries, batches, and (later) cost models and batching policies."""
from pets.batching.batch import Batch, MiniBatch, batch_by_task
from pets.batching.query import Query, Result

__all__ = ["Batch", "MiniBatch", "Query", "Result", "batch_by_task"]
