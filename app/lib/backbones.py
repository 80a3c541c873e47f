"""The backbones the dashboard offers, loaded once per process (st.cache_resource).

A backbone is read-only once loaded, so every session's engine wraps the same
cached `Backbone` object and only its tasks are per session.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

import pets
from pets.config import MINILM_NAME
from pets.serving.dispatch import tokenizer

DEFAULT_ENV = "PETS_DASHBOARD_BACKBONE"  # tests set bert-tiny here


@dataclass(frozen=True)
class BackboneChoice:
    key: str
    label: str
    pretrained: bool


CHOICES: dict[str, BackboneChoice] = {c.key: c for c in (
    BackboneChoice(MINILM_NAME, "all-MiniLM-L6-v2 (real weights, 6 x 384)", True),
    BackboneChoice("bert-tiny", "bert-tiny preset (random weights, 2 x 128)", False),
    BackboneChoice("distilbert", "distilbert preset (random weights, 6 x 768)", False),
    BackboneChoice("bert-base", "bert-base preset (random weights, 12 x 768)", False),
    BackboneChoice("bert-large", "bert-large preset (random weights, 24 x 1024)", False),
)}


def default_backbone() -> str:
    key = os.environ.get(DEFAULT_ENV, MINILM_NAME)
    return key if key in CHOICES else MINILM_NAME


@st.cache_resource(show_spinner="Loading the backbone…", max_entries=3)
def _template(key: str) -> pets.PetsEngine:
    """An engine with no tasks: its backbone is what the cache keeps."""
    if CHOICES[key].pretrained:
        return pets.PetsEngine.from_pretrained(key)
    return pets.PetsEngine.from_preset(key)


def new_engine(key: str) -> pets.PetsEngine:
    """A task-free engine over the cached backbone `key` (no copy of the weights)."""
    if key not in CHOICES:
        raise pets.InvalidSpecError(f"unknown backbone {key!r}; choose one of {sorted(CHOICES)}")
    t = _template(key)
    return pets.PetsEngine(t.backbone, seed=t.seed, padding=t.padding, model_name=t.model_name)


def fork(engine: pets.PetsEngine) -> pets.PetsEngine:
    """A copy of `engine` with the same tasks and parameters over the same backbone,
    so that a replay can add and remove tasks without touching the original."""
    out = pets.PetsEngine(engine.backbone, seed=engine.seed, padding=engine.padding,
                          model_name=engine.model_name)
    for name, spec in dict(engine.tasks).items():  # a snapshot: the user may change tasks meanwhile
        try:
            params = engine.task_params(name)
        except pets.UnknownTaskError:  # removed since the snapshot: the copy goes without it
            continue
        out.add_task(spec, params)
    return out


def tokenize(text: str, max_len: int) -> list[int]:
    return tokenizer()(text, truncation=True, max_length=max_len)["input_ids"]
