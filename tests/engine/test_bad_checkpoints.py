"""from_pretrained on damaged or mismatched checkpoints: a CheckpointError that says what
to do, raised before any engine exists (issue 17, class 5)."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

import pets


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small BertModel checkpoint folder (safetensors)."""
    from transformers import BertModel

    folder = tmp_path_factory.mktemp("ckpt")
    BertModel(pets.PRESETS["bert-tiny"].to_hf()).save_pretrained(folder)
    return folder


def _copy(good, tmp_path):
    for f in good.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path


def _config(tmp_path, **changes):
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(cfg))


def _to_bin(tmp_path, sd):
    (tmp_path / "model.safetensors").unlink()
    torch.save(sd, tmp_path / "pytorch_model.bin")


def _weights(tmp_path):
    from safetensors.torch import load_file

    return load_file(str(tmp_path / "model.safetensors"))


DAMAGE = {
    "truncated safetensors": (lambda d: (d / "model.safetensors").write_bytes(
        (d / "model.safetensors").read_bytes()[:1000]), "cannot read the weights"),
    "junk safetensors": (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64),
                         "cannot read the weights"),
    "pickle bomb bin": (lambda d: (_to_bin(d, {}), (d / "pytorch_model.bin").write_bytes(
        pickle.dumps(print))), "cannot read the weights"),
    "junk bin": (lambda d: (_to_bin(d, {}), (d / "pytorch_model.bin").write_bytes(b"PK\x03\x04junk")),
                 "cannot read the weights"),
    "bin of a list": (lambda d: _to_bin(d, [torch.zeros(2)]), "state dict of tensors"),
    "hidden size disagrees": (lambda d: _config(d, hidden_size=64, num_attention_heads=2,
                                                intermediate_size=512), "different models"),
    "fewer vocab rows": (lambda d: _config(d, vocab_size=1000), "different models"),
    "more layers in config": (lambda d: _config(d, num_hidden_layers=3), "lack"),
    "config is a list": (lambda d: (d / "config.json").write_text("[1, 2]"), "not a BERT config"),
    "config not json": (lambda d: (d / "config.json").write_text("{"), "not a BERT config"),
    "config bad heads": (lambda d: _config(d, num_attention_heads=3), "not a BERT config"),
    "config binary": (lambda d: (d / "config.json").write_bytes(b"\xff\xfe\x00"), "not a BERT config"),
    "roberta": (lambda d: _config(d, model_type="roberta"), "BERT-family"),
    "nan weight": (lambda d: _to_bin(d, {**_weights(d), "pooler.dense.bias":
                                         torch.full((128,), float("nan"))}), "NaN or inf"),
    "int weight": (lambda d: _to_bin(d, {**_weights(d), "pooler.dense.bias":
                                         torch.zeros(128, dtype=torch.int64)}), "floating point"),
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_bad_checkpoints_raise_checkpoint_error(good, tmp_path, case):
    damage, match = DAMAGE[case]
    folder = _copy(good, tmp_path)
    damage(folder)
    with pytest.raises(pets.CheckpointError, match=match):
        pets.PetsEngine.from_pretrained(folder)


def test_values_beyond_the_dtype_are_refused(good, tmp_path):
    from pets.engine.loading import load_checkpoint

    folder = _copy(good, tmp_path)
    _to_bin(folder, {**_weights(folder), "pooler.dense.bias": torch.full((128,), 1e5)})
    load_checkpoint(folder)  # fine in fp32
    with pytest.raises(pets.CheckpointError, match="range"):
        load_checkpoint(folder, dtype=torch.float16)
