"""bf16 serves what fp32 serves: on the real MiniLM with real sentences, a bf16 engine's
logits stay within 3e-2 of the fp32 engine's with the same argmax on >= 99% of queries,
and a mixed bf16 batch equals each query run alone within bf16 noise."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.config import minilm_path
from pets.pet.mixes import PAPER_MIX

SENTENCES = [
    "The movie was wonderful and the actors were brilliant.",
    "A terrible, boring film that I would not watch again.",
    "The service at this restaurant was slow but the food was great.",
    "I can't believe how quickly the package arrived.",
    "The battery died after two hours, very disappointing.",
    "Stocks fell sharply after the central bank raised interest rates.",
    "The committee will meet again next Tuesday to discuss the budget.",
    "She scored twice in the second half to win the match.",
    "Heavy rain is expected across the north of the country tomorrow.",
    "This is the best coffee I have had in years!",
    "The instructions were confusing and the parts did not fit.",
    "Scientists discovered a new species of frog in the rainforest.",
    "My flight was delayed by four hours and nobody told us why.",
    "The new update makes the app much faster and easier to use.",
    "He apologised for the mistake and offered a full refund.",
    "The museum is closed on Mondays and public holidays.",
    "What a waste of money; it broke on the first day.",
    "The hotel room was clean, quiet and had a lovely view.",
    "Prices for fresh vegetables have doubled since last spring.",
    "The lecture was too long, but the examples were helpful.",
]


@pytest.fixture(scope="module")
def engines():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path())
    fp32 = pets.PetsEngine.from_pretrained("minilm", dtype=torch.float32)
    bf16 = pets.PetsEngine.from_pretrained("minilm", dtype=torch.bfloat16)
    for i, kw in enumerate(PAPER_MIX * 2):
        spec = pets.TaskSpec(name=f"{kw['pet']}-{i}", num_labels=2 + i % 3, **kw)
        fp32.add_task(spec)
        bf16.add_task(spec, fp32.task_params(spec.name))
    queries = [pets.Query(task=t, input_ids=tok(s)["input_ids"], id=j * 100 + k)
               for j, t in enumerate(fp32.tasks) for k, s in enumerate(SENTENCES)]
    return fp32, bf16, queries


def test_bf16_logits_match_fp32(engines):
    fp32, bf16, queries = engines
    ref, got = fp32.infer(queries), bf16.infer(queries)
    worst = max(float((a.logits - b.logits.float()).abs().max()) for a, b in zip(ref, got))
    agree = sum(int(a.logits.argmax() == b.logits.argmax()) for a, b in zip(ref, got)) / len(ref)
    assert worst <= 3e-2, worst
    assert agree >= 0.99, agree


def test_bf16_mixed_batch_equals_each_query_alone(engines):
    _, bf16, queries = engines
    mixed = bf16.infer(queries)
    for q, r in zip(queries[::7], mixed[::7]):
        alone = bf16.infer([q])[0]
        torch.testing.assert_close(r.logits.float(), alone.logits.float(), atol=1e-2, rtol=0)
