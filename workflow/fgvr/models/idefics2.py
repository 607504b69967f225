"""Idefics2 (the paper's base model): SigLIP vision encoder -> perceiver connector -> Mistral.

Visual tokens: the connector's ``resampler_n_latents`` (64) latents for the whole image, no
image splitting. ``vision.mean`` is the mean of the encoder's last hidden states over real
(unpadded) patches, ``connector.mean`` the mean of the latents; the LLM part is MLLMAdapter's.
Poolings: ``llm.last`` at the EOS appended after the latents, ``llm.mean`` over the latents and
that EOS; texts (Mistral adds a BOS): ``llm.last`` at the appended EOS, ``llm.mean`` over the
content tokens and EOS, BOS left out.
"""
from __future__ import annotations

import torch

from .base import MLLMAdapter, Visual


class Idefics2Adapter(MLLMAdapter):
    chat_image_kwargs = {"do_image_splitting": False}  # 64 visual tokens per image, as in the paper
    trainable = True
    # LoRA on the LLM and the connector (perceiver and projection), never the vision encoder
    lora_modules = r".*(text_model|connector)\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"

    def chat_images(self, images):
        return [[im] for im in images]  # one image per prompt

    def chat_image_tokens(self, inputs, rows):
        """The connector's 64 latents of each given row's image (one image per prompt, unsplit)."""
        return self.visual({"pixel_values": inputs["pixel_values"][rows, 0],
                            "pixel_attention_mask": inputs["pixel_attention_mask"][rows, 0]}).tokens

    @property
    def language_model(self):
        return self.core.text_model

    def preprocess(self, images):
        out = self.image_processor([[im] for im in images], do_image_splitting=False, return_tensors="pt")
        return {"pixel_values": out["pixel_values"][:, 0], "pixel_attention_mask": out["pixel_attention_mask"][:, 0]}

    def patch_mask(self, pixel_mask: torch.Tensor) -> torch.Tensor:
        """(B, h, w): patches wholly inside the image (Idefics2's rule)."""
        p = self.model.config.vision_config.patch_size
        return pixel_mask.unfold(1, p, p).unfold(2, p, p).sum((-1, -2)) == p * p

    def connect(self, vision: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.core.connector(vision, attention_mask=mask)

    def visual(self, batch):
        pixels = self.to_device(batch["pixel_values"])
        patch_mask = self.patch_mask(self.to_device(batch["pixel_attention_mask"]).bool())
        vision = self.core.vision_model(pixel_values=pixels, patch_attention_mask=patch_mask).last_hidden_state
        flat = patch_mask.flatten(1)
        tokens = self.connect(vision, flat)
        return Visual(vision, flat, tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device))
