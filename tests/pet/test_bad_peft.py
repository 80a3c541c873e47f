"""PEFT folders that hold more or other than a plain BERT LoRA adapter (issue 17)."""
from __future__ import annotations

import json

import pytest
import torch

import pets
from pets.pet.targets import LINEAR_TARGETS


def _write(folder, cfg, tensors):
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()},
              str(folder / "adapter_model.safetensors"))
    return folder


def _lora(layers=(0, 1), r=4, h=128):
    out = {}
    for i in layers:
        for t in ("query", "value"):
            base = f"base_model.model.encoder.layer.{i}.attention.self.{t}"
            out[f"{base}.lora_A.weight"] = torch.randn(r, h) * 0.01
            out[f"{base}.lora_B.weight"] = torch.randn(h, r) * 0.01
    return out


CFG = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "bias": "none"}
HEAD = "base_model.model.classifier"

CASES = {
    "alpha null": ({"lora_alpha": None}, {}, "lora_alpha must be"),
    "alpha string": ({"lora_alpha": "16"}, {}, "lora_alpha must be"),
    "alpha inf": ({"lora_alpha": float("inf")}, {}, "lora_alpha must be"),
    "alpha beyond fp16": ({"lora_alpha": 1e39}, {}, "alpha"),
    "r string": ({"r": "4"}, {}, "r must be"),
    "r disagrees": ({"r": 8}, {}, "r=8"),
    "peft_type null": ({"peft_type": None}, {}, "peft_type"),
    "use_dora string": ({"use_dora": "no"}, {}, "use_dora must be"),
    "bias all": ({"bias": "all"}, {f"base_model.model.encoder.layer.0.attention.self.query.bias":
                                   torch.zeros(128)}, "bias='none'"),
    "layers_to_transform": ({"layers_to_transform": [0]}, {}, "without layers_to_transform"),
    "roberta head": ({}, {f"{HEAD}.dense.weight": torch.zeros(128, 128),
                          f"{HEAD}.dense.bias": torch.zeros(128),
                          f"{HEAD}.out_proj.weight": torch.zeros(2, 128),
                          f"{HEAD}.out_proj.bias": torch.zeros(2)}, "two-layer head"),
    "head without bias": ({}, {f"{HEAD}.weight": torch.zeros(2, 128)}, "both weight and bias"),
    "head 1-D": ({}, {f"{HEAD}.weight": torch.zeros(2), f"{HEAD}.bias": torch.zeros(2)},
                 "not a \\[num_labels, hidden\\] linear"),
    "stray tensor": ({}, {"base_model.model.embeddings.word_embeddings.weight": torch.zeros(3, 3)},
                     "unexpected tensor"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_peft_folders(tmp_path, case):
    cfg_changes, extra, match = CASES[case]
    folder = _write(tmp_path / "a", {**CFG, **cfg_changes}, {**_lora(), **extra})
    eng = pets.PetsEngine.from_preset("bert-tiny")
    with pytest.raises(pets.PeftImportError, match=match):
        eng.import_peft(folder, name="x")
    assert "x" not in eng.tasks


def test_config_that_is_not_an_object(tmp_path):
    folder = _write(tmp_path / "a", CFG, _lora())
    (folder / "adapter_config.json").write_text("[1, 2]")
    with pytest.raises(pets.PeftImportError, match="JSON object"):
        pets.PetsEngine.from_preset("bert-tiny").import_peft(folder, name="x")


def test_layer_gap_names_the_fix(tmp_path):
    folder = _write(tmp_path / "a", CFG, _lora(layers=(0, 2)))
    with pytest.raises(pets.PeftImportError, match="without layers_to_transform"):
        pets.PetsEngine.from_preset("bert-tiny").import_peft(folder, name="x")


def test_a_bert_head_saved_by_modules_to_save_imports(tmp_path):
    extra = {f"{HEAD}.modules_to_save.default.weight": torch.randn(3, 128) * 0.1,
             f"{HEAD}.modules_to_save.default.bias": torch.zeros(3)}
    folder = _write(tmp_path / "a", CFG, {**_lora(), **extra})
    spec = pets.PetsEngine.from_preset("bert-tiny").import_peft(folder, name="x")
    assert spec.num_labels == 3 and set(spec.targets) <= set(LINEAR_TARGETS)
