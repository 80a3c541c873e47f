"""`make demo`: the trained task zoo (one task per PET type + a source classifier) on the
real all-MiniLM-L6-v2 backbone, every example sentence under every task in ONE mixed batch.

Without a zoo (data/tasks/ empty) it falls back to five random tasks and says so.
"""
from __future__ import annotations

import pandas as pd
import torch

import pets
from pets.config import MINILM_NAME
from pets.pet.params import param_count
from pets.serving.dispatch import tokenizer

# Random (untrained) tasks of the five PET types: the dashboard's "demo tasks" and the
# fallback when no zoo is present. Their labels mean nothing.
DEMO_TASKS = (
    pets.TaskSpec(name="sentiment-lora", pet="lora", rank=8, alpha=16, num_labels=2),
    pets.TaskSpec(name="topic-adapter", pet="adapter", bottleneck=64, num_labels=4),
    pets.TaskSpec(name="nli-bitfit", pet="bitfit", num_labels=3),
    pets.TaskSpec(name="spam-diff", pet="diff", density=0.005, num_labels=2),
    pets.TaskSpec(name="intent-mask", pet="mask", density=0.05, num_labels=5),
)


def run_demo(padding: str | None = None) -> pd.DataFrame:
    """Serve the demo; returns one row per task (what it is, its cost, its exactness)."""
    from pets.errors import TaskFileError
    from pets.train.zoo import EXAMPLES, load_zoo, zoo_metrics

    torch.manual_seed(0)
    eng = pets.PetsEngine.from_pretrained(MINILM_NAME)
    try:
        load_zoo(eng)
        trained = {m["name"]: m for m in zoo_metrics()}
    except TaskFileError:
        for spec in DEMO_TASKS:
            eng.add_task(spec)
        trained = {}
    tasks = list(eng.tasks)
    tok = tokenizer()
    ids = [tok(s)["input_ids"] for s in EXAMPLES]
    queries = [pets.Query(task=t, input_ids=x, id=i * len(tasks) + j)
               for i, x in enumerate(ids) for j, t in enumerate(tasks)]
    results = eng.infer(queries, padding=padding)

    dtype = str(eng.backbone.dtype).removeprefix("torch.")
    mem = eng.memory()
    print(f"Backbone: {MINILM_NAME} (real weights, {mem.shared / 2**20:.1f} MiB, {dtype}: the "
          f"machine's fastest native dtype). {len(tasks)} tasks, {len(EXAMPLES)} sentences: "
          f"{len(queries)} queries in ONE mixed batch (padding={padding or eng.padding}).")
    if trained:
        print("Tasks: the trained zoo (data/tasks/, `pets zoo`), VADER corpus "
              "(Hutto & Gilbert, ICWSM 2014).\n")
    else:
        print("No trained zoo in data/tasks/ (build it with `pets zoo`): these five tasks have "
              "RANDOM parameters; their labels mean nothing.\n")
    grid = pd.DataFrame(
        [[_cell(results[i * len(tasks) + j]) for j in range(len(tasks))]
         for i in range(len(EXAMPLES))],
        index=[s if len(s) <= 44 else s[:41] + "..." for s in EXAMPLES], columns=tasks)
    with pd.option_context("display.width", 240, "display.max_columns", 20,
                           "display.max_colwidth", 48):
        print(grid.to_string())

    rows = []
    for j, task in enumerate(tasks):
        spec, m = eng.tasks[task], trained.get(task, {})
        alone = _dense_reference(eng, queries[j])
        rows.append({
            "task": task, "pet": spec.pet, "trained on": m.get("data", "random"),
            "test accuracy": f"{m['test_accuracy']:.3f}" if m else "-",
            "params": param_count(eng.task_params(task)), "bytes": mem.tasks[task],
            "vs dense copy": f"{mem.tasks[task] / mem.dense_copy:.3%}",
            "max |diff| vs dense HF model": f"{(results[j].logits - alone).abs().max().item():.1e}",
        })
    df = pd.DataFrame(rows)
    print()
    with pd.option_context("display.width", 240, "display.max_columns", 20):
        print(df.to_string(index=False))
    saved = mem.dense_total - mem.total
    print(f"\nMemory: PetS {mem.total / 2**20:.1f} MiB for {len(tasks)} tasks vs "
          f"{mem.dense_total / 2**20:.1f} MiB for per-task dense copies: "
          f"{saved / 2**20:.1f} MiB saved ({mem.dense_total / mem.total:.1f}x less). "
          f"'max |diff|': each task's logits in the mixed batch vs a transformers model with "
          f"that task merged in, alone ({dtype}).")
    return df


def _cell(r: pets.Result) -> str:
    p = torch.softmax(r.logits.float(), -1).max().item()
    return f"{r.label} {p:.2f}"


def _dense_reference(eng: pets.PetsEngine, q: pets.Query) -> torch.Tensor:
    model = pets.baselines.dense_model(eng, q.task)
    with torch.inference_mode():
        return model(input_ids=torch.tensor([q.input_ids], device=eng.backbone.device)).logits[0]
