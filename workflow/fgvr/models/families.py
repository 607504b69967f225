"""The one table of model families: name, kind, the checkpoint architectures it reads, its
adapter and its tiny demo builder. Torch-free (adapters and builders are named, imported on
use), so the config check can read it.

Adding a family is one row here, one adapter file and one builder in demo.py.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str  # what `family:` of a `build: demo` model says
    kind: str  # mllm | vlm
    architectures: tuple[str, ...]  # config.json `architectures` entries it reads
    adapter: str  # "module:Class" under fgvr.models
    builder: str  # function of fgvr.models.demo that builds the tiny checkpoint
    # vision towers (vision_config.model_type) the adapter reads; empty: any. One architecture can
    # hold another tower that behaves otherwise (a Pixtral LlavaForConditionalGeneration packs
    # its images into one sequence unless told their sizes)
    vision_types: tuple[str, ...] = ()

    def adapter_class(self) -> type:
        module, name = self.adapter.split(":")
        return getattr(importlib.import_module(f"fgvr.models.{module}"), name)

    def build(self, *args, **kwargs):
        from . import demo

        return getattr(demo, self.builder)(*args, **kwargs)


FAMILIES = (
    Family("idefics2", "mllm", ("Idefics2ForConditionalGeneration",), "idefics2:Idefics2Adapter", "idefics2"),
    Family("idefics3", "mllm", ("Idefics3ForConditionalGeneration",), "idefics3:Idefics3Adapter", "idefics3"),
    Family("smolvlm", "mllm", ("SmolVLMForConditionalGeneration",), "idefics3:Idefics3Adapter", "smolvlm"),
    Family("llava", "mllm", ("LlavaForConditionalGeneration",), "llava:LlavaAdapter", "llava",
           ("clip_vision_model", "siglip_vision_model")),
    Family("llava_next", "mllm", ("LlavaNextForConditionalGeneration",), "llava:LlavaNextAdapter", "llava_next",
           ("clip_vision_model", "siglip_vision_model")),
    Family("qwen2_vl", "mllm", ("Qwen2VLForConditionalGeneration",), "qwen2_vl:Qwen2VLAdapter", "qwen2_vl"),
    Family("qwen2_5_vl", "mllm", ("Qwen2_5_VLForConditionalGeneration",), "qwen2_vl:Qwen2VLAdapter", "qwen2_5_vl"),
    Family("siglip", "vlm", ("SiglipModel",), "siglip:SiglipAdapter", "siglip"),
    Family("siglip2", "vlm", ("Siglip2Model",), "siglip:Siglip2Adapter", "siglip2"),
    Family("clip", "vlm", ("CLIPModel",), "clip:ClipAdapter", "clip"),
)
BY_NAME = {f.name: f for f in FAMILIES}
BY_ARCHITECTURE = {a: f for f in FAMILIES for a in f.architectures}
# The default demo family of each kind is the paper's pair: Idefics2 and SigLIP.
KINDS = {kind: tuple(f.name for f in FAMILIES if f.kind == kind) for kind in ("mllm", "vlm")}
