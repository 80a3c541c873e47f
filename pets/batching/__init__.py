"""Queries and batches, the cost model, and batching policies."""
from pets.batching.batch import Batch, MiniBatch, batch_by_task
from pets.batching.cost import CostModel
from pets.batching.query import Query, Result
from pets.batching.policies import POLICIES, get_policy, plan

__all__ = ["POLICIES", "Batch", "CostModel", "MiniBatch", "Query", "Result", "batch_by_task",
           "get_policy", "plan"]
