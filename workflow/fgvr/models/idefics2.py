"""Idefics2 (the paper's base model): SigLIP vision encoder -> perceiver connector -> Mistral.

Visual tokens: the connector's ``resampler_n_latents`` (64) latents for the whole image, no
image splitting. ``vision.mean`` is the mean of the encoder's last hidden states over real
(unpadded) patches, ``connector.mean`` the mean of the latents; the LLM part is MLLMAdapter's.
"""
from __future__ import annotations

import torch

from .base import MLLMAdapter, Visual


class Idefics2Adapter(MLLMAdapter):
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
        patch_mask = pixel_mask.unfold(1, p, p).unfold(2, p, p).sum((-1, -2)) == p * p  # (B, h, w)
        vision = self.core.vision_model(pixel_values=pixels, patch_attention_mask=patch_mask).last_hidden_state
        flat = patch_mask.flatten(1)
        tokens = self.core.connector(vision, attention_mask=flat)
        return Visual(vision, flat, tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device))
