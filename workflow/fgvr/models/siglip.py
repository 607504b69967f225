"""SigLIP dual encoders (the paper's reference space).

Images: ``vision.mean`` is the mean of the vision tower's last hidden states; ``embed`` its
attention-pooled output (what ``get_image_features`` returns). Texts: ``embed`` is the text
tower's pooled output, with the padding to ``max_position_embeddings`` that SigLIP was trained with.
"""
from __future__ import annotations

import torch

from .base import Adapter


class SiglipAdapter(Adapter):
    kind = "vlm"
    image_keys = ("vision.mean", "embed")
    text_keys = ("embed",)
    auto_class = "AutoModel"

    def preprocess(self, images):
        return {"pixel_values": self.processor.image_processor(images, return_tensors="pt")["pixel_values"]}

    def hidden_sizes(self):
        cfg = self.model.config
        return {"vision.mean": cfg.vision_config.hidden_size, "embed": cfg.vision_config.hidden_size}

    @torch.inference_mode()
    def encode_images(self, batch):
        out = self.model.vision_model(pixel_values=batch["pixel_values"].to(self.device, self.dtype, non_blocking=True))
        return self._out({"vision.mean": out.last_hidden_state.mean(1), "embed": out.pooler_output})

    @torch.inference_mode()
    def encode_texts(self, texts):
        length = self.model.config.text_config.max_position_embeddings
        tok = self.processor.tokenizer(texts, padding="max_length", max_length=length, truncation=True,
                                       return_tensors="pt")
        out = self.model.text_model(input_ids=tok["input_ids"].to(self.device))
        return self._out({"embed": out.pooler_output})
