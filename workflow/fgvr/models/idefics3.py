"""Idefics3 and SmolVLM: SigLIP-style vision encoder -> pixel-shuffle connector -> Llama / SmolLM.

No image splitting: the image is resized to one ``max_image_size`` square, whose patches the
connector pixel-shuffles (by ``scale_factor``) into the visual tokens (169 for Idefics3-8B).
``vision.mean`` is the mean of the encoder's last hidden states over real patches.
"""
from __future__ import annotations

import torch

from .base import MLLMAdapter, Visual


class Idefics3Adapter(MLLMAdapter):
    @property
    def language_model(self):
        return self.core.text_model

    def preprocess(self, images):
        out = self.image_processor([[im] for im in images], do_image_splitting=False, return_tensors="pt")
        return {"pixel_values": out["pixel_values"][:, 0], "pixel_attention_mask": out["pixel_attention_mask"][:, 0]}

    def visual(self, batch):
        pixels = self.to_device(batch["pixel_values"])
        pixel_mask = self.to_device(batch["pixel_attention_mask"]).bool()
        p = self.model.config.vision_config.patch_size
        patch_mask = pixel_mask.unfold(1, p, p).unfold(2, p, p).sum((-1, -2)) > 0  # as the model does
        vision = self.core.vision_model(pixel_values=pixels, patch_attention_mask=patch_mask).last_hidden_state
        tokens = self.core.connector(vision)
        return Visual(vision, patch_mask.flatten(1), tokens,
                      torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device))
