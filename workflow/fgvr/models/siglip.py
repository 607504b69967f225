"""SigLIP and SigLIP2 dual encoders (the paper's reference space).

Images: ``vision.mean`` is the mean of the vision tower's last hidden states (real patches
only for SigLIP2's NaFlex inputs), ``embed`` its attention-pooled output. Texts: ``embed`` is
the text tower's pooled output, padded to 64 tokens as both were trained.
"""
from __future__ import annotations

import torch

from .adapter import VLMAdapter, masked_mean

TEXT_LENGTH = 64


class SiglipAdapter(VLMAdapter):
    def preprocess(self, images):
        return {"pixel_values": self.image_processor(images, return_tensors="pt")["pixel_values"]}

    def _vision(self, batch):
        out = self.model.vision_model(pixel_values=self.to_device(batch["pixel_values"]))
        mask = torch.ones(out.last_hidden_state.shape[:2], device=self.device)
        return out, mask

    @torch.inference_mode()
    def encode_images(self, batch):
        out, mask = self._vision(batch)
        return self._out({"vision.mean": masked_mean(out.last_hidden_state, mask), "embed": out.pooler_output})

    @torch.inference_mode()
    def encode_texts(self, texts):
        length = min(TEXT_LENGTH, self.model.config.text_config.max_position_embeddings)
        tok = self.tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        return self._out({"embed": self.model.text_model(input_ids=tok["input_ids"].to(self.device)).pooler_output})


class Siglip2Adapter(SiglipAdapter):
    def preprocess(self, images):
        out = self.image_processor(images, return_tensors="pt")
        return {k: out[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")}

    def _vision(self, batch):
        mask = self.to_device(batch["pixel_attention_mask"])
        out = self.model.vision_model(pixel_values=self.to_device(batch["pixel_values"]), pixel_attention_mask=mask,
                                      spatial_shapes=batch["spatial_shapes"].to(self.device))
        return out, mask
