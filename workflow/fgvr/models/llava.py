"""LLaVA-1.5 and LLaVA-NeXT: CLIP vision tower -> MLP projector -> Llama / Vicuna / Mistral.

Visual tokens: the projector's output for the patch features of ``vision_feature_layer``
(-2 for LLaVA-1.5), CLS dropped under the "default" select strategy: 576 tokens at 336 px.
LLaVA-NeXT splits images into tiles ("anyres"); following the paper's no-splitting analysis we
take only its global view (the first of its image patches: the whole image at 336 px), whose
576 tokens it also feeds its LLM. ``vision.mean`` is the mean of the features the projector
consumes; the LLM part is MLLMAdapter's. Poolings: ``llm.last`` at the EOS appended after the
visual tokens, ``llm.mean`` over the visual tokens and EOS; texts (Llama adds a BOS) at / over
the content tokens and the appended EOS, BOS left out.
"""
from __future__ import annotations

import torch

from .base import MLLMAdapter, Visual


class LlavaAdapter(MLLMAdapter):
    def preprocess(self, images):
        return {"pixel_values": self.image_processor(images, return_tensors="pt")["pixel_values"]}

    def vision_size(self) -> int:
        layers = self.model.config.vision_feature_layer
        return self.model.config.vision_config.hidden_size * (len(layers) if isinstance(layers, list) else 1)

    def visual(self, batch):
        cfg = self.model.config
        out = self.core.vision_tower(self.to_device(batch["pixel_values"]), output_hidden_states=True)
        layers = cfg.vision_feature_layer if isinstance(cfg.vision_feature_layer, list) else [cfg.vision_feature_layer]
        features = torch.cat([out.hidden_states[i] for i in layers], dim=-1)
        if cfg.vision_feature_select_strategy == "default":
            features = features[:, 1:]
        tokens = self.core.multi_modal_projector(features)
        ones = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return Visual(features, ones, tokens, ones)


class LlavaNextAdapter(LlavaAdapter):
    def preprocess(self, images):
        # the global view only: a single 336 px "anyres" grid point leaves no tiles to compute
        pixel_values = self.image_processor(images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values[:, 0]}
