"""Per-task dense models: the correctness oracle and the SeqS baseline.

`dense_model` builds a standalone `transformers` model equal to one task run
alone (PET merged into the weights; adapters inserted as modules; the head on
the pooler). `dense_copy` builds the same task as a one-task PetsEngine over a
merged copy of the backbone, so SeqS and PetS differ only in batching.
"""
from __future__ import annotations

from torch import Tensor

from pets.engine.backbone import Backbone
from pets.engine.engine import PetsEngine
from pets.pet.head import HEAD_NAMES
from pets.pet.method import get_method


def merged_state_dict(engine: PetsEngine, task: str) -> dict[str, Tensor]:
    """HF BertModel state dict with the task's mergeable PET folded in (fresh tensors)."""
    spec = engine.task(task)
    method = get_method(spec.pet)
    sd = {k: v.detach().clone() for k, v in engine.backbone.state_dict().items()}
    if method.mergeable:
        params = {k: v for k, v in engine.task_params(task).items() if k not in HEAD_NAMES}
        method.merge_into(spec, params, sd)
    return sd


def dense_model(engine: PetsEngine, task: str):
    """A `transformers` model equal to `task` alone, in eval mode on the engine's device.

    BertForSequenceClassification when the task has a head, else BertModel.
    """
    from transformers import BertForSequenceClassification, BertModel

    spec, params = engine.task(task), engine.task_params(task)
    method = get_method(spec.pet)
    hf_cfg = engine.config.to_hf(num_labels=max(spec.num_labels, 1))
    if spec.num_labels:
        model = BertForSequenceClassification(hf_cfg)
        bert = model.bert
        model.classifier.weight.data.copy_(params["classifier.weight"])
        model.classifier.bias.data.copy_(params["classifier.bias"])
    else:
        model = bert = BertModel(hf_cfg)
    bert.load_state_dict(merged_state_dict(engine, task), strict=True)
    if not method.mergeable:
        method.insert_modules(spec, params, bert)
    return model.to(engine.backbone.device, engine.backbone.dtype).eval()


def dense_copy(engine: PetsEngine, task: str) -> PetsEngine:
    """A one-task PetsEngine over its own merged backbone copy (our code, SeqS baseline)."""
    spec, params = engine.task(task), engine.task_params(task)
    bb = engine.backbone
    copy = PetsEngine(Backbone.from_state_dict(engine.config, merged_state_dict(engine, task),
                                               device=bb.device, dtype=bb.dtype,
                                               linear=bb.linear_impl),
                      seed=engine.seed, padding=engine.padding, model_name=engine.model_name)
    if get_method(spec.pet).mergeable:
        head = (params["classifier.weight"], params["classifier.bias"]) if spec.num_labels else None
        copy.add_merged_task(spec, head)
    else:
        copy.add_task(spec, params)
    return copy


def peft_model(engine: PetsEngine, tasks: list[str]):
    """A HF PEFT model over the shared backbone with each LoRA task as a named adapter,
    for mixed-adapter batches (`model(input_ids, adapter_names=[...])`)."""
    import peft
    from transformers import BertModel

    bb = engine.backbone
    base = BertModel(engine.config.to_hf()).to(bb.device, bb.dtype).eval()
    base.load_state_dict(bb.state_dict())
    model = None
    for t in tasks:
        spec = engine.tasks[t]
        cfg = peft.LoraConfig(r=spec.rank, lora_alpha=spec.alpha, target_modules=list(spec.targets))
        if model is None:
            model = peft.get_peft_model(base, cfg, adapter_name=t)
        else:
            model.add_adapter(t, cfg)
        _copy_lora(model, engine.task_params(t), t)
    return model.eval()


def _copy_lora(model, params: dict[str, Tensor], adapter: str) -> None:
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            for part in ("lora_A", "lora_B"):
                marker = f".{part}.{adapter}."
                if marker in name:
                    path = name.split(marker)[0].removeprefix("base_model.model.")
                    p.copy_(params[f"{path}.{part}"])
