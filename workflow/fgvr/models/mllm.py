"""The one MLLM adapter: any image-text-to-text model through transformers' own API, steered by
its row of the family table (fgvr.models.families).

Representations of an image (DESIGN.md, REFERENCE.md section 1):
- ``vision.mean``: mean of what the connector consumes (the vision features after the model's
  layer choice; real patches only where the vision tower was given a patch mask), read by a hook
  on the connector's input;
- ``connector.mean``: mean of the visual tokens the model's ``get_image_features`` hands its LLM;
- ``llm.last`` / ``llm.mean``: the object sequence's last layer at its EOS / averaged over it
  (BOS left out). The paper's object path ("llm"): the visual tokens, then the EOS embedding,
  through the LLM alone (``get_decoder()``), no prompt. Families whose positions or attention
  depend on the image ("model": M-RoPE, bidirectional image attention, row breaks) run the
  model's own forward on the image as its processor expands it, then EOS.
Texts: the tokenizer's ids (its own BOS, if any) + EOS through the same LLM; ``llm.last`` at the
EOS, ``llm.mean`` over the content tokens and EOS, never BOS nor padding.

One row per image, never one per tile or pack: the table says how a family avoids tiles
(``image_kwargs``, ``global_view``) and packed outputs are split per image.
"""
from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass

import torch

from ..io import FgvrError
from .adapter import Adapter, append_eos, eos_padded, last_valid, masked_mean
from .chat import TEXT_KEYS, ChatMixin


@dataclass
class Visual:
    """What an MLLM makes of a batch of images before its LLM: both right-padded with masks."""

    vision: torch.Tensor  # (B, P, Dv) vision features the connector consumes
    vision_mask: torch.Tensor  # (B, P)
    tokens: torch.Tensor  # (B, T, D) visual tokens in the LLM's input space
    token_mask: torch.Tensor  # (B, T)


class MLLMAdapter(ChatMixin, Adapter):
    kind = "mllm"
    image_keys = ("vision.mean", "connector.mean", "llm.last", "llm.mean")
    text_keys = ("llm.last", "llm.mean")
    auto_class = "AutoModelForImageTextToText"

    @property
    def core(self):
        return self.model.model

    @property
    def language_model(self):
        return self.model.get_decoder()

    def part(self, path: str):
        """A module of the model by its table path under ``model.model`` ("visual.merger")."""
        try:
            return operator.attrgetter(path)(self.core)
        except AttributeError:
            raise FgvrError(f"{self.path}: the model has no module model.{path} (the {self.family.name} family's "
                            "table row names it)") from None

    def lora_targets(self) -> dict[str, list[str]]:
        """Module names fine-tuning adapts, by part: ``llm``, the language model's ``*_proj``
        linears (attention and MLP, never the LM head); ``connector``, every linear of the
        connector (Qwen's merger sits inside its vision module and is still one); ``whole``,
        the table's ``lora_extra`` modules, trained whole. Never the vision tower."""
        names = {id(m): n for n, m in self.model.named_modules()}
        decoder = names[id(self.language_model)] + "."
        connector = names[id(self.part(self.family.connector))] + "."
        vision = names[id(self.part(self.family.vision))] + "."
        out = {"llm": [], "connector": [], "whole": [names[id(self.part(p))] for p in self.family.lora_extra]}
        for name, module in self.model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            if name.startswith(connector):
                out["connector"].append(name)
            elif name.startswith(decoder) and name.endswith("_proj") and not name.startswith(vision):
                out["llm"].append(name)
        return out

    @property
    def image_token_id(self) -> int:
        cfg = self.model.config
        return cfg.image_token_id if getattr(cfg, "image_token_id", None) is not None else cfg.image_token_index

    def vision_size(self) -> int:
        cfg = self.model.config
        vc = cfg.vision_config
        width = getattr(vc, "embed_dim", None) or vc.hidden_size  # Qwen2-VL's ViT width is embed_dim
        layers = getattr(cfg, "vision_feature_layer", None)  # several layers are concatenated
        return width * (len(layers) if isinstance(layers, (list, tuple)) else 1)

    def hidden_sizes(self):
        d = self.model.config.text_config.hidden_size
        return {"vision.mean": self.vision_size(), "connector.mean": d, "llm.last": d, "llm.mean": d}

    # ---- preprocessing (CPU, DataLoader workers)

    def preprocess(self, images):
        f = self.family
        if f.object_path == "model":
            return self.object_inputs(images)
        out = self.image_processor(self.chat_images(images), return_tensors="pt")
        batch = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
        if f.global_view:  # anyres: the first view, the whole image, alone
            batch = {"pixel_values": batch["pixel_values"][:, 0]}
        if len(batch["pixel_values"]) != len(images):  # tiles would each become an "image"
            raise FgvrError(f"{self.path}: its image processor made {len(batch['pixel_values'])} views of "
                            f"{len(images)} images (tiling); one row per image needs one view: turn tiling off in "
                            "its preprocessor_config.json (crop_to_patches, do_image_splitting) or give the family "
                            "a row of fgvr.models.families with image_kwargs that do")
        return batch

    def object_inputs(self, images):
        """The processor's inputs for the model's own object sequence: ``object_text`` (the
        image, as the processor expands it) + EOS, right-padded."""
        out = self.any_processor(text=[self.family.object_text + self.tokenizer.eos_token] * len(images),
                             images=self.chat_images(images), padding=True, padding_side="right",
                             return_tensors="pt")
        return {k: v for k, v in out.items() if isinstance(v, torch.Tensor) and k != "labels"}

    # ---- the vision side, read where the model computes it

    @contextlib.contextmanager
    def watch(self):
        """Record, while the model runs: the connector's input, the vision tower's patch mask
        (if it is given one) and what ``get_image_features`` returns."""
        seen = {}
        core, connector, vision = self.core, self.part(self.family.connector), self.part(self.family.vision)

        def features(*args, **kwargs):
            seen["tokens"] = own(*args, **kwargs)
            return seen["tokens"]

        def connector_in(module, args, kwargs):
            seen["vision"] = args[0] if args else next(v for v in kwargs.values() if isinstance(v, torch.Tensor))

        def vision_in(module, args, kwargs):
            if kwargs.get("patch_attention_mask") is not None:
                seen["patch_mask"] = kwargs["patch_attention_mask"]

        own = core.get_image_features
        hooks = [connector.register_forward_pre_hook(connector_in, with_kwargs=True),
                 vision.register_forward_pre_hook(vision_in, with_kwargs=True)]
        core.get_image_features = features  # the instance's own, called by its forward too
        try:
            yield seen
        finally:
            del core.get_image_features
            for hook in hooks:
                hook.remove()

    def per_image(self, tokens, n: int) -> list[torch.Tensor]:
        """``get_image_features``' output as one (T_i, D) tensor per image."""
        tokens = getattr(tokens, "pooler_output", tokens)
        if isinstance(tokens, (list, tuple)):
            rows = [t.reshape(-1, t.shape[-1]) for t in tokens]
        else:
            rows = list(tokens.reshape(tokens.shape[0], -1, tokens.shape[-1]))
        if len(rows) != n:
            raise FgvrError(f"{self.path}: get_image_features gave {len(rows)} rows of visual tokens for {n} images "
                            f"(images packed or tiled? the {self.family.name} row of the family table says how)")
        return rows

    def image_tokens(self, batch: dict, n: int) -> list[torch.Tensor]:
        """Each image's visual tokens, as the model hands them to its LLM."""
        inputs = {k: self.to_device(v) for k, v in batch.items()}
        if self.family.global_view:  # the first view through the single-view LLaVA path
            from transformers import LlavaModel

            return self.per_image(LlavaModel.get_image_features(self.core, **inputs), n)
        return self.per_image(self.core.get_image_features(**inputs), n)

    def visual(self, seen: dict, n: int) -> Visual:
        """The recorded vision features and visual tokens, one padded row per image."""
        tokens = self.per_image(seen["tokens"], n)
        width = self.vision_size()
        vision = seen["vision"]
        if not self.family.packed and vision.shape[0] == n:
            vision = vision.reshape(n, -1, width)  # pixel-shuffled rows (InternVL) back to patches
            mask = seen.get("patch_mask")
            mask = mask.reshape(n, -1) if mask is not None else torch.ones(vision.shape[:2], device=vision.device)
            vision_rows = [v[m.bool()] for v, m in zip(vision, mask)]
        else:  # one packed sequence: each image's share is its tokens' share
            flat = vision.reshape(-1, width)
            ratio, left = divmod(flat.shape[0], sum(len(t) for t in tokens))
            if left:
                raise FgvrError(f"{self.path}: {flat.shape[0]} packed vision features do not split over "
                                f"{[len(t) for t in tokens]} visual tokens")
            vision_rows = list(flat.split([len(t) * ratio for t in tokens]))
        return Visual(*padded(vision_rows), *padded(tokens))

    # ---- the object sequence

    def object_sequence(self, batch):
        """-> (Visual, last hidden states, pooling mask whose last true position is the EOS)."""
        n = len(batch["pixel_values"]) if self.family.object_path == "llm" else len(batch["input_ids"])
        with self.watch() as seen:
            if self.family.object_path == "llm":
                seen["tokens"] = self.image_tokens(batch, n)
            else:
                inputs = {k: self.to_device(v) for k, v in batch.items()}
                hidden = self.core(**inputs, use_cache=False).last_hidden_state
        v = self.visual(seen, n)
        if self.family.object_path == "llm":
            embeds, pool = append_eos(v.tokens, v.token_mask, self.eos_embedding())
            hidden = self.language_model(inputs_embeds=embeds, attention_mask=pool, use_cache=False).last_hidden_state
            return v, hidden, pool
        return v, hidden, self.object_pool(inputs["input_ids"], inputs["attention_mask"])

    def object_pool(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The model path's pooled positions: up to the appended EOS, BOS left out (PaliGemma's
        processor ends its text with "\\n" after it)."""
        eos = (ids == self.tokenizer.eos_token_id) & mask.bool()
        if not eos.any(1).all():
            raise FgvrError(f"{self.path}: the processor dropped the EOS from the object sequence")
        last = eos.shape[1] - 1 - eos.flip(1).int().argmax(1)
        pool = mask.bool() & (torch.arange(ids.shape[1], device=ids.device)[None] <= last[:, None])
        if self.tokenizer.bos_token_id is not None:
            pool &= ids != self.tokenizer.bos_token_id
        return pool.long()

    def text_sequence(self, texts: list[str]):
        """Texts + EOS through the LLM alone -> (hidden, attention mask, pooling mask)."""
        ids, mask, pool = eos_padded(self.tokenizer, texts, self.device)
        hidden = self.language_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        return hidden, mask, pool

    def eos_embedding(self) -> torch.Tensor:
        eos = torch.tensor([self.tokenizer.eos_token_id], device=self.device)
        return self.language_model.get_input_embeddings()(eos)[0]

    @torch.inference_mode()
    def encode_images(self, batch):
        v, hidden, pool = self.object_sequence(batch)
        return self._out({"vision.mean": masked_mean(v.vision, v.vision_mask),
                          "connector.mean": masked_mean(v.tokens, v.token_mask),
                          "llm.last": last_valid(hidden, pool), "llm.mean": masked_mean(hidden, pool)})

    @torch.inference_mode()
    def encode_texts(self, texts):
        hidden, mask, pool = self.text_sequence(texts)
        return self._out({"llm.last": last_valid(hidden, mask), "llm.mean": masked_mean(hidden, pool)})

    # ---- training: the analysis's representations with gradients

    def object_states(self, batch) -> torch.Tensor:
        """``llm.last`` of each image, with gradients (what stage 1 aligns)."""
        _, hidden, pool = self.object_sequence(batch)
        return last_valid(hidden, pool)

    def text_states(self, texts: list[str]) -> torch.Tensor:
        """``llm.last`` of each text, with gradients."""
        hidden, mask, _ = self.text_sequence(texts)
        return last_valid(hidden, mask)


def padded(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, max T, D) right-padded with zeros, and its (B, max T) mask."""
    width = max(len(r) for r in rows)
    out = rows[0].new_zeros(len(rows), width, rows[0].shape[-1])
    mask = torch.zeros(len(rows), width, dtype=torch.bool, device=rows[0].device)
    for i, row in enumerate(rows):
        out[i, :len(row)], mask[i, :len(row)] = row, True
    return out, mask


__all__ = ["MLLMAdapter", "Visual", "TEXT_KEYS"]
