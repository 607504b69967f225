"""CLIP dual encoders. ``vision.mean``: mean of the vision tower's last hidden states over the
patch tokens (CLS left out); ``embed``: the projected image / text embeddings (text pooled at
EOS, as CLIP does)."""
from __future__ import annotations

import torch

from .adapter import VLMAdapter


class ClipAdapter(VLMAdapter):
    def embed_size(self) -> int:
        return self.model.config.projection_dim

    def preprocess(self, images):
        return {"pixel_values": self.image_processor(images, return_tensors="pt")["pixel_values"]}

    @torch.inference_mode()
    def encode_images(self, batch):
        out = self.model.vision_model(pixel_values=self.to_device(batch["pixel_values"]))
        return self._out({"vision.mean": out.last_hidden_state[:, 1:].mean(1),
                          "embed": self.model.visual_projection(out.pooler_output)})

    @torch.inference_mode()
    def encode_texts(self, texts):
        length = self.model.config.text_config.max_position_embeddings
        tok = self.tokenizer(texts, padding=True, max_length=length, truncation=True, return_tensors="pt")
        out = self.model.text_model(input_ids=tok["input_ids"].to(self.device),
                                    attention_mask=tok["attention_mask"].to(self.device))
        return self._out({"embed": self.model.text_projection(out.pooler_output)})
