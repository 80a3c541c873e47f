"""LoRA tasks equal HF PEFT (PeftModel from a saved adapter); PEFT adapters import."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.pet.targets import linear_path

peft = pytest.importorskip("peft")

# PEFT matches target_modules by suffix; these regexes pin each of our targets.
PEFT_TARGET = {
    "query": r".*\.attention\.self\.query", "key": r".*\.attention\.self\.key",
    "value": r".*\.attention\.self\.value", "attn_out": r".*\.attention\.output\.dense",
    "intermediate": r".*\.intermediate\.dense", "output": r".*\.layer\.\d+\.output\.dense",
}


def _base_model(eng):
    from transformers import BertModel

    model = BertModel(eng.config.to_hf()).eval()
    model.load_state_dict(eng.backbone.state_dict())
    return model


def save_as_peft(eng, task, folder):
    """Write `task` (a LoRA task of `eng`) as a PEFT adapter folder with the same weights."""
    spec = eng.tasks[task]
    params = eng.task_params(task)
    cfg = peft.LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=0.0,
                          target_modules="|".join(f"({PEFT_TARGET[t]})" for t in spec.targets))
    model = peft.get_peft_model(_base_model(eng), cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            for part in ("lora_A", "lora_B"):
                if f".{part}." in name:
                    path = name.split(f".{part}.")[0].removeprefix("base_model.model.")
                    p.copy_(params[f"{path}.{part}"])
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lora_engine():
    eng = pets.PetsEngine.from_preset("bert-tiny", seed=1)
    eng.add_task(pets.TaskSpec(name="qv", pet="lora", rank=8, alpha=16))
    eng.add_task(pets.TaskSpec(name="all6", pet="lora", rank=4, alpha=4,
                               targets=("query", "key", "value", "attn_out", "intermediate", "output")))
    eng.add_task(pets.TaskSpec(name="bitfit", pet="bitfit"))
    return eng


QUERIES = [[101, 7592, 2088, 102], [101] + list(range(2000, 2030)) + [102], [101]]


@pytest.mark.parametrize("task", ["qv", "all6"])
def test_lora_equals_peft_model(lora_engine, task, tmp_path):
    folder = save_as_peft(lora_engine, task, tmp_path / task)
    model = peft.PeftModel.from_pretrained(_base_model(lora_engine), folder).eval()
    mixed = [pets.Query(task=t, input_ids=ids) for ids in QUERIES for t in ("bitfit", task, "qv")]
    results = lora_engine.infer(mixed)
    for q, r in zip(mixed, results):
        if q.task != task:
            continue
        with torch.no_grad():
            ref = model(input_ids=torch.tensor([q.input_ids])).pooler_output[0]
        torch.testing.assert_close(r.pooled, ref, atol=1e-5, rtol=0)


def test_import_peft_gives_the_same_task(lora_engine, tmp_path):
    folder = save_as_peft(lora_engine, "all6", tmp_path / "a")
    eng = pets.PetsEngine(lora_engine.backbone)
    spec = eng.import_peft(folder, name="imported")
    orig = lora_engine.tasks["all6"]
    assert (spec.rank, spec.alpha, spec.targets) == (orig.rank, orig.alpha, orig.targets)
    for ids in QUERIES:
        a = eng.infer([pets.Query(task="imported", input_ids=ids)])[0]
        b = lora_engine.infer([pets.Query(task="all6", input_ids=ids)])[0]
        assert torch.equal(a.pooled, b.pooled)


def test_import_peft_with_classifier_head(tmp_path):
    from transformers import BertForSequenceClassification

    eng = pets.PetsEngine.from_preset("bert-tiny", seed=2)
    base = BertForSequenceClassification(eng.config.to_hf(num_labels=3)).eval()
    base.bert.load_state_dict(eng.backbone.state_dict())
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                          modules_to_save=["classifier"])
    model = peft.get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or "classifier" in name:
                p.normal_(0, 0.1)
    model.eval()
    model.save_pretrained(tmp_path / "cls")
    eng.import_peft(tmp_path / "cls", name="cls")
    assert eng.tasks["cls"].num_labels == 3
    ids = [101, 2023, 2003, 102]
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids])).logits[0]
    torch.testing.assert_close(eng.infer([pets.Query(task="cls", input_ids=ids)])[0].logits,
                               ref, atol=1e-5, rtol=0)


def test_peft_folder_of_another_model_shape(lora_engine, tmp_path):
    small = pets.PetsEngine(pets.engine.backbone.Backbone.random(pets.ModelConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        vocab_size=500, max_position_embeddings=64)))
    small.add_task(pets.TaskSpec(name="s", pet="lora", rank=4))
    folder = save_as_peft(small, "s", tmp_path / "small")
    before = dict(lora_engine.tasks)
    with pytest.raises(pets.PeftImportError, match="does not fit this model"):
        lora_engine.import_peft(folder, name="x")
    assert dict(lora_engine.tasks) == before


@pytest.mark.parametrize("damage,match", [
    (lambda d: (d / "adapter_config.json").unlink(), "not a PEFT adapter folder"),
    (lambda d: (d / "adapter_model.safetensors").write_bytes(b"junk"), "cannot read"),
    (lambda d: (d / "adapter_config.json").write_text('{"peft_type": "IA3"}'), "only LORA"),
])
def test_broken_peft_folders(lora_engine, tmp_path, damage, match):
    folder = save_as_peft(lora_engine, "qv", tmp_path / "b")
    damage(folder)
    with pytest.raises(pets.PeftImportError, match=match):
        lora_engine.import_peft(folder, name="x")
    assert "x" not in lora_engine.tasks
