"""Idefics3 and SmolVLM: SigLIP-style vision encoder -> pixel-shuffle connector -> Llama / SmolLM.

No image splitting: the image is resized to one ``max_image_size`` square, whose patches the
connector pixel-shuffles (by ``scale_factor``) into the visual tokens (169 for Idefics3-8B).
Preprocessing and the LLM side are Idefics2's; ``vision.mean`` is over real patches.
Poolings as Idefics2: images over the visual tokens and the appended EOS; texts over the content
tokens and EOS, never the tokenizer's BOS.
"""
from __future__ import annotations

import torch

from .idefics2 import Idefics2Adapter


class Idefics3Adapter(Idefics2Adapter):
    trainable = False  # fine-tuning is tested on Idefics2 only
    def patch_mask(self, pixel_mask: torch.Tensor) -> torch.Tensor:
        p = self.model.config.vision_config.patch_size  # any image pixel makes a patch real here
        return pixel_mask.unfold(1, p, p).unfold(2, p, p).sum((-1, -2)) > 0

    def connect(self, vision: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.core.connector(vision)
