"""Idefics2 (the paper's base model): SigLIP vision encoder -> perceiver connector -> Mistral.

Object representation, as in the paper's code: the image alone (no image splitting, no prompt)
goes through the vision encoder and the connector, whose 64 latents (``resampler_n_latents``)
are the visual tokens; the EOS embedding is appended and the sequence runs through the LLM
text model alone. ``llm.last`` is the last layer at the last (EOS) position, ``llm.mean`` its
mean over the sequence, ``connector.mean`` the mean of the visual tokens and ``vision.mean``
the mean of the encoder's last hidden states over real (unpadded) patches.
Texts: tokens (BOS first, as the tokenizer does) + EOS through the same LLM, pooled alike.
"""
from __future__ import annotations

import torch

from .base import Adapter, masked_mean


class Idefics2Adapter(Adapter):
    kind = "mllm"
    image_keys = ("vision.mean", "connector.mean", "llm.last", "llm.mean")
    text_keys = ("llm.last", "llm.mean")
    auto_class = "AutoModelForImageTextToText"

    @property
    def core(self):
        return self.model.model

    def preprocess(self, images):
        out = self.processor.image_processor([[im] for im in images], do_image_splitting=False, return_tensors="pt")
        return {"pixel_values": out["pixel_values"][:, 0], "pixel_attention_mask": out["pixel_attention_mask"][:, 0]}

    def hidden_sizes(self):
        cfg = self.model.config
        d = cfg.text_config.hidden_size
        return {"vision.mean": cfg.vision_config.hidden_size, "connector.mean": d, "llm.last": d, "llm.mean": d}

    def _eos_embedding(self, batch: int) -> torch.Tensor:
        eos = self.processor.tokenizer.eos_token_id
        ids = torch.full((batch, 1), eos, dtype=torch.long, device=self.device)
        return self.core.text_model.get_input_embeddings()(ids)

    @torch.inference_mode()
    def encode_images(self, batch):
        pixels = batch["pixel_values"].to(self.device, self.dtype, non_blocking=True)
        pixel_mask = batch["pixel_attention_mask"].to(self.device, non_blocking=True).bool()
        p = self.model.config.vision_config.patch_size
        patch_mask = pixel_mask.unfold(1, p, p).unfold(2, p, p).sum((-1, -2)) == p * p  # (B, h, w)
        vision = self.core.vision_model(pixel_values=pixels, patch_attention_mask=patch_mask).last_hidden_state
        flat_mask = patch_mask.flatten(1)
        visual_tokens = self.core.connector(vision, attention_mask=flat_mask)  # (B, latents, D)
        sequence = torch.cat([visual_tokens, self._eos_embedding(len(pixels)).to(visual_tokens.dtype)], dim=1)
        hidden = self.core.text_model(inputs_embeds=sequence).last_hidden_state
        return self._out({"vision.mean": masked_mean(vision, flat_mask), "connector.mean": visual_tokens.mean(1),
                          "llm.last": hidden[:, -1], "llm.mean": hidden.mean(1)})

    @torch.inference_mode()
    def encode_texts(self, texts):
        ids, mask = eos_padded(self.processor.tokenizer, texts, self.device)
        hidden = self.core.text_model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = mask.sum(1) - 1  # right padding: the EOS we appended
        return self._out({"llm.last": hidden[torch.arange(len(ids), device=self.device), last],
                          "llm.mean": masked_mean(hidden, mask)})


def eos_padded(tokenizer, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of each text with EOS appended, right-padded into one batch, and their mask."""
    encoded = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    width = max(map(len, encoded))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(texts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for row, seq in enumerate(encoded):
        ids[row, :len(seq)], mask[row, :len(seq)] = torch.tensor(seq), 1
    return ids.to(device), mask.to(device)
