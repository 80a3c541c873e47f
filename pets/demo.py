"""`make demo`: five PET tasks on the real all-MiniLM-L6-v2 backbone, one mixed batch."""
from __future__ import annotations

import pandas as pd
import torch

import pets
from pets.config import MINILM_NAME, minilm_path
from pets.pet.params import param_count

DEMO_TASKS = (
    pets.TaskSpec(name="sentiment-lora", pet="lora", rank=8, alpha=16, num_labels=2),
    pets.TaskSpec(name="topic-adapter", pet="adapter", bottleneck=64, num_labels=4),
    pets.TaskSpec(name="nli-bitfit", pet="bitfit", num_labels=3),
    pets.TaskSpec(name="spam-diff", pet="diff", density=0.005, num_labels=2),
    pets.TaskSpec(name="intent-mask", pet="mask", density=0.05, num_labels=5),
)
SENTENCES = (
    ("sentiment-lora", "A gripping, beautifully acted film."),
    ("topic-adapter", "The central bank raised interest rates again."),
    ("nli-bitfit", "A man is playing a guitar. [SEP] Someone is making music."),
    ("spam-diff", "Congratulations! You won a free cruise, click here."),
    ("intent-mask", "Set an alarm for seven tomorrow morning."),
    ("sentiment-lora", "Two hours of my life I will never get back."),
)


def run_demo(padding: str | None = None) -> pd.DataFrame:
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    eng = pets.PetsEngine.from_pretrained(MINILM_NAME)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    for spec in DEMO_TASKS:
        eng.add_task(spec)
    queries = [pets.Query(task=t, input_ids=tok(s)["input_ids"], id=i)
               for i, (t, s) in enumerate(SENTENCES)]
    results = eng.infer(queries, padding=padding)

    mem = eng.memory()
    rows = []
    for q, r, (_, text) in zip(queries, results, SENTENCES):
        spec = eng.tasks[q.task]
        n_params = param_count(eng.task_params(q.task))
        alone = _dense_reference(eng, q)
        rows.append({
            "task": q.task, "pet": spec.pet, "sentence": text[:38],
            "params": n_params, "bytes": mem.tasks[q.task],
            "vs dense copy": f"{mem.tasks[q.task] / mem.dense_copy:.3%}",
            "logits": " ".join(f"{v:+.2f}" for v in r.logits.tolist()),
            "max |diff| vs dense HF model": f"{(r.logits - alone).abs().max().item():.1e}",
        })
    df = pd.DataFrame(rows)
    print(f"Backbone: {MINILM_NAME} (real weights, {mem.shared / 2**20:.1f} MiB, "
          f"{str(eng.backbone.dtype).removeprefix('torch.')}: the machine's fastest native dtype), "
          f"{len(eng.tasks)} tasks, {len(queries)} sentences in one mixed batch "
          f"(padding={padding or eng.padding}).")
    print("PET parameters are random (seeded): the logits show the machinery, not accuracy.\n")
    with pd.option_context("display.width", 220, "display.max_columns", 20,
                           "display.max_colwidth", 40):
        print(df.to_string(index=False))
    saved = mem.dense_total - mem.total
    print(f"\nMemory: PetS {mem.total / 2**20:.1f} MiB for {len(eng.tasks)} tasks vs "
          f"{mem.dense_total / 2**20:.1f} MiB for per-task dense copies: "
          f"{saved / 2**20:.1f} MiB saved ({mem.dense_total / mem.total:.1f}x less).")
    return df


def _dense_reference(eng: pets.PetsEngine, q: pets.Query) -> torch.Tensor:
    model = pets.baselines.dense_model(eng, q.task)
    with torch.inference_mode():
        return model(input_ids=torch.tensor([q.input_ids])).logits[0]
