"""Every recipe's trained model and the task it exports compute the same thing: the engine
serving the exported task (fp32) reproduces the training-side model's logits."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.errors import TrainError
from pets.pet.spec import TaskSpec
from pets.train.loop import pad
from pets.train.model import TaskModel
from pets.train.recipes import get_recipe, recipe_names

PETS = ["lora", "adapter", "bitfit", "diff", "mask"]


def _perturbed(pet: str, engine) -> tuple[TaskModel, TaskSpec]:
    """A model after `attach`, its trainable numbers moved off their init as training would."""
    recipe = get_recipe(pet)
    spec = recipe.spec(f"t-{pet}", ("a", "b", "c"), seed=0)
    torch.manual_seed(0)
    model = TaskModel(engine.backbone, 3)
    recipe.attach(model, spec)
    with torch.no_grad():
        for p in model.trainable():
            p.add_(torch.randn_like(p) * 0.05)
    if pet == "diff":  # prune mid-run, as the recipe does after its dense epochs
        assert recipe.after_epoch(model, 0, 3)
    return model.eval(), spec


@pytest.mark.parametrize("pet", PETS)
def test_served_task_equals_trained_model(pet):
    engine = pets.PetsEngine.from_preset("bert-tiny", dtype="float32")
    model, spec = _perturbed(pet, engine)
    params = get_recipe(pet).export(model, spec) | model.head_params()
    engine.add_task(spec, params)
    rows = [[101, 2023, 3185, 2001, 2307, 102], [101, 6659, 102], [101] + list(range(2000, 2030))]
    with torch.no_grad():
        want = model(*pad(rows))
    got = engine.infer([pets.Query(task=spec.name, input_ids=r, id=i) for i, r in enumerate(rows)])
    for j, r in enumerate(got):
        torch.testing.assert_close(r.logits, want[j], atol=1e-4, rtol=1e-4)
        assert r.label == spec.labels[int(want[j].argmax())]


def test_diff_prunes_to_the_density_and_exports_only_kept_entries():
    engine = pets.PetsEngine.from_preset("bert-tiny", dtype="float32")
    model, spec = _perturbed("diff", engine)
    params = get_recipe("diff").export(model, spec)
    kept = sum(v.numel() for k, v in params.items() if k.endswith(".values"))
    total = sum(m.diff.numel() for m in model.modules() if hasattr(m, "diff"))
    assert kept == pytest.approx(spec.density * total, abs=len(params))


def test_mask_zeroes_the_target_fraction_of_each_linear():
    engine = pets.PetsEngine.from_preset("bert-tiny", dtype="float32")
    model, spec = _perturbed("mask", engine)
    params = get_recipe("mask").export(model, spec)
    w = engine.backbone.state_dict()
    for name, zeroed in params.items():
        numel = w[name.removesuffix(".zeroed")].numel()
        assert zeroed.shape[1] == round(spec.density * numel)


def test_only_the_method_trains():
    engine = pets.PetsEngine.from_preset("bert-tiny", dtype="float32")
    counts = {}
    for pet in recipe_names():
        recipe = get_recipe(pet)
        model = TaskModel(engine.backbone, 2)
        recipe.attach(model, recipe.spec("t", ("a", "b"), 0))
        counts[pet] = sum(p.numel() for p in model.trainable())
    assert counts["bitfit"] < counts["lora"] < counts["adapter"] < counts["full"]
    assert counts["full"] == sum(p.numel() for p in TaskModel(engine.backbone, 2).parameters())


def test_unknown_method():
    with pytest.raises(TrainError, match="unknown training method 'prefix'"):
        get_recipe("prefix")
