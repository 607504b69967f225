"""Qwen2-VL and Qwen2.5-VL: native-resolution ViT whose PatchMerger (2x2 merge) is the connector.

Their LLM places visual tokens with multimodal rotary positions (M-RoPE: time, height,
width), so the object path runs the model's own forward on the image as the model sees it:
``<|vision_start|>`` + one ``<|image_pad|>`` per merged token + ``<|vision_end|>``, then EOS,
no prompt. Hooks on the merger read what it consumes (``vision.mean``: mean over the image's
patches) and makes (``connector.mean``: mean over its visual tokens). Texts go through the
LLM alone (text-only M-RoPE equals 1-D positions).
Poolings: ``llm.last`` at the EOS; ``llm.mean`` over the model's own image sequence
(``<|vision_start|>``, the visual tokens, ``<|vision_end|>``) and EOS. Texts: Qwen's tokenizer adds
no BOS, so ``llm.mean`` covers every content token and the appended EOS, ``llm.last`` that EOS.
"""
from __future__ import annotations

import torch

from .base import MLLMAdapter, last_valid, masked_mean


class Qwen2VLAdapter(MLLMAdapter):
    def preprocess(self, images):
        out = self.image_processor(images, return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}

    def vision_size(self) -> int:
        vc = self.model.config.vision_config
        return getattr(vc, "embed_dim", None) or vc.hidden_size  # Qwen2-VL: embed_dim; Qwen2.5-VL: hidden_size

    def token_ids(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, merge = self.model.config, self.model.config.vision_config.spatial_merge_size
        counts = (grid.prod(-1) // merge**2).tolist()
        rows = [[cfg.vision_start_token_id] + [cfg.image_token_id] * n + [cfg.vision_end_token_id,
                                                                          self.tokenizer.eos_token_id] for n in counts]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        return ids.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def encode_images(self, batch):
        grid = batch["image_grid_thw"]
        ids, mask = self.token_ids(grid)
        seen = {}
        merger = self.core.visual.merger
        hooks = [merger.register_forward_pre_hook(lambda m, args: seen.__setitem__("vision", args[0])),
                 merger.register_forward_hook(lambda m, args, out: seen.__setitem__("tokens", out))]
        try:
            # mm_token_type_ids (1 = image token) is what tells the model to build M-RoPE positions
            types = (ids == self.model.config.image_token_id).long()
            hidden = self.core(input_ids=ids, attention_mask=mask, mm_token_type_ids=types,
                               pixel_values=self.to_device(batch["pixel_values"]),
                               image_grid_thw=grid.to(self.device), use_cache=False).last_hidden_state
        finally:
            for h in hooks:
                h.remove()
        patches = grid.prod(-1).tolist()
        merge = self.model.config.vision_config.spatial_merge_size ** 2
        vision = torch.stack([v.mean(0) for v in seen["vision"].reshape(-1, seen["vision"].shape[-1]).split(patches)])
        tokens = torch.stack([t.mean(0) for t in seen["tokens"].split([p // merge for p in patches])])
        return self._out({"vision.mean": vision, "connector.mean": tokens,
                          "llm.last": last_valid(hidden, mask), "llm.mean": masked_mean(hidden, mask)})
