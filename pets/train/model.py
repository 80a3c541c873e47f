"""What a training run optimises: the HF `BertModel` of the shared backbone plus a
classifier on its pooler, with a recipe's trainable PET modules patched in.

The backbone's weights come from the engine's own backbone (`Backbone.state_dict()`),
so what is trained is exactly what the engine later serves.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from pets.engine.backbone import Backbone
from pets.pet.targets import LINEAR_PATHS


class TaskModel(nn.Module):
    """logits = classifier(dropout(pooler(bert(ids)))); [B, L] ids -> [B, num_labels]."""

    def __init__(self, backbone: Backbone, num_labels: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        from transformers import BertModel

        cfg = backbone.cfg.to_hf()
        self.bert = BertModel(cfg, add_pooling_layer=True)
        sd = {k: v.detach().to(torch.float32).cpu().clone() for k, v in backbone.state_dict().items()}
        missing, unexpected = self.bert.load_state_dict(sd, strict=False)
        missing = [m for m in missing if not m.endswith("position_ids")]
        assert not missing and not unexpected, (missing, unexpected)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)
        self.num_layers = cfg.num_hidden_layers

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        pooled = self.bert(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return self.classifier(self.dropout(pooled))

    def freeze_backbone(self) -> None:
        for p in self.bert.parameters():
            p.requires_grad_(False)

    def sites(self, targets) -> list[tuple[str, int]]:
        """(target, layer) for every layer and target: where a recipe patches modules."""
        return [(t, i) for i in range(self.num_layers) for t in targets]

    def linear(self, target: str, layer: int) -> nn.Module:
        return self.bert.get_submodule(LINEAR_PATHS[target].format(i=layer))

    def set_linear(self, target: str, layer: int, module: nn.Module) -> None:
        parent, _, child = LINEAR_PATHS[target].format(i=layer).rpartition(".")
        setattr(self.bert.get_submodule(parent), child, module)

    def head_params(self) -> dict[str, Tensor]:
        return {"classifier.weight": self.classifier.weight.detach().clone(),
                "classifier.bias": self.classifier.bias.detach().clone()}

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]
