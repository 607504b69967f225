"""The one table of model families: data only, torch-free (the config check reads it).

A checkpoint's family is chosen by its config.json ``model_type`` and, where one architecture
holds towers that behave differently, its ``vision_config.model_type`` (a Pixtral-style
LlavaForConditionalGeneration packs its images into one sequence; a CLIP-tower one does not).
Every MLLM runs through the one generic adapter (fgvr.models.mllm), which reads its row here;
VLMs (dual encoders) keep a small adapter each.

Adding a family is one row here and, for the demo, one builder in demo.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    name: str  # what `family:` of a `build: demo` model says
    kind: str  # mllm | vlm
    model_types: tuple[str, ...]  # config.json `model_type` values it reads
    vision_types: tuple[str, ...] = ()  # vision_config.model_type values it reads; empty: any
    builder: str | None = None  # function of fgvr.models.demo that builds a tiny checkpoint
    adapter: str = "mllm:MLLMAdapter"  # "module:Class" under fgvr.models
    # --- where things are (attribute paths under model.model)
    connector: str = "multi_modal_projector"  # makes the visual tokens; its input is what vision.mean averages
    vision: str = "vision_tower"  # the vision encoder: never adapted by LoRA
    # --- images
    image_kwargs: dict = field(default_factory=dict)  # image-processor arguments (no tiling: one view per image)
    nested_images: bool = False  # the processor wants one list of images per prompt (Idefics)
    global_view: bool = False  # anyres: only the first view (the whole image) is analysed
    packed: bool = False  # the vision tower packs a batch's images into one sequence (split by their sizes)
    # --- the object sequence: "llm" = visual tokens + EOS through the LLM alone (the paper's);
    # "model" = the model's own forward on `object_text` + EOS as its processor expands it, where
    # positions or attention depend on the image (M-RoPE, bidirectional image attention, row breaks)
    object_path: str = "llm"
    object_text: str = ""
    # --- prompts: None = the checkpoint's chat template; else a format for the prompt (a
    # checkpoint without a template: PaliGemma's task prefix)
    prompt_format: str | None = None
    # --- fine-tuning: LoRA on the LLM's *_proj linears and every linear of the connector, never
    # the vision tower; `lora_extra`: modules trained whole where the connector has no linear
    lora_extra: tuple[str, ...] = ()
    trained_in_tests: bool = True  # both stages run on its tiny checkpoints in the test suite


QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
QWEN = dict(connector="visual.merger", vision="visual", packed=True, object_path="model", object_text=QWEN_IMAGE)
IDEFICS = dict(connector="connector", vision="vision_model", nested_images=True,
               image_kwargs={"do_image_splitting": False})  # one view: 64 latents per image, as in the paper
PIXTRAL = dict(packed=True, object_path="model", object_text="[IMG]")  # the processor adds row breaks
LLAVA_TOWERS = ("clip_vision_model", "siglip_vision_model")

FAMILIES = (
    Family("idefics2", "mllm", ("idefics2",), builder="idefics2", **IDEFICS),
    Family("idefics3", "mllm", ("idefics3",), builder="idefics3", **IDEFICS),
    Family("smolvlm", "mllm", ("smolvlm",), builder="smolvlm", **IDEFICS),
    Family("llava", "mllm", ("llava",), LLAVA_TOWERS, builder="llava"),
    Family("pixtral", "mllm", ("llava",), ("pixtral",), builder="pixtral", **PIXTRAL),
    Family("llava_next", "mllm", ("llava_next",), LLAVA_TOWERS, builder="llava_next", global_view=True),
    # kept as the release stores it: anyres tiling (no setting turns it off); only the first view,
    # the whole image, is analysed (global_view)
    Family("llava_onevision", "mllm", ("llava_onevision",), builder="llava_onevision", global_view=True),
    Family("internvl", "mllm", ("internvl",), builder="internvl", image_kwargs={"crop_to_patches": False}),
    Family("qwen2_vl", "mllm", ("qwen2_vl",), builder="qwen2_vl", **QWEN),
    # kept as the release stores it: native resolution (min/max_pixels), one view per image
    Family("qwen2_5_vl", "mllm", ("qwen2_5_vl",), builder="qwen2_5_vl", **QWEN),
    # the MoE releases (30B-A3B ...) share the layout; their experts are fused (no linears): LoRA
    # adapts attention and the merger there
    Family("qwen3_vl", "mllm", ("qwen3_vl", "qwen3_vl_moe"), builder="qwen3_vl", **QWEN),
    # its projector is a bare matrix (no linear for LoRA): trained whole
    # the release stores do_pan_and_scan: null (the processor's default, false): pinned false, one view
    Family("gemma3", "mllm", ("gemma3",), builder="gemma3", object_path="model", object_text="<start_of_image>",
           nested_images=True, lora_extra=("multi_modal_projector",), image_kwargs={"do_pan_and_scan": False}),
    # no chat template (pt / mix releases): the model card's task prefix; the processor puts BOS
    # after the image tokens and "\n" after the prefix
    Family("paligemma", "mllm", ("paligemma",), builder="paligemma", object_path="model", object_text="<image>",
           prompt_format="<image>answer en {}"),
    Family("mistral3", "mllm", ("mistral3",), builder="mistral3", **PIXTRAL),
    Family("siglip", "vlm", ("siglip",), builder="siglip", adapter="siglip:SiglipAdapter"),
    Family("siglip2", "vlm", ("siglip2",), builder="siglip2", adapter="siglip:Siglip2Adapter"),
    Family("clip", "vlm", ("clip",), builder="clip", adapter="clip:ClipAdapter"),
)
# An image-text-to-text model of a type not in the table: the generic adapter's defaults.
GENERIC = Family("generic", "mllm", (), trained_in_tests=False)
BY_NAME = {f.name: f for f in FAMILIES}
MODEL_TYPES = sorted({t for f in FAMILIES for t in f.model_types})
# The default demo family of each kind is the paper's pair: Idefics2 and SigLIP.
KINDS = {kind: tuple(f.name for f in FAMILIES if f.kind == kind and f.builder) for kind in ("mllm", "vlm")}


def family_for(model_type: str | None, vision_type: str | None) -> Family | None:
    """The row that reads this model type with this vision tower; None if no row names the type."""
    rows = [f for f in FAMILIES if model_type in f.model_types]
    for row in rows:
        if not row.vision_types or vision_type in row.vision_types:
            return row
    if rows:
        from ..io import FgvrError

        raise FgvrError(f"a {model_type!r} model with a {vision_type!r} vision tower is not supported; towers read: "
                        f"{sorted(t for f in rows for t in f.vision_types)} (another tower can pack several images "
                        "into one sequence)")
    return None
