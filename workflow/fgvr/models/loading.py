"""Loading a checkpoint folder: its family (from config.json), its adapter, weights, processor,
and the device / dtype / attention choices."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..io import FgvrError
from .families import GENERIC, MODEL_TYPES, Family, family_for

log = logging.getLogger("fgvr.models")


def pick_device(device: str = "auto"):
    import torch

    if device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: str, device):
    """'auto' is bfloat16 on a GPU and float32 on the CPU (CPU bf16 matmuls are slow and lossy)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def checkpoint_config(path: str | Path) -> dict:
    config = Path(path) / "config.json"
    if not config.exists():
        raise FgvrError(f"{config}: not found; is {path} a Hugging Face checkpoint folder?")
    return json.loads(config.read_text())


def family_of(path: str | Path) -> Family:
    """The family row of the checkpoint folder ``path``: by its model type and vision tower; an
    image-text-to-text type the table does not name gets the generic adapter's defaults."""
    settings = checkpoint_config(path)
    model_type = settings.get("model_type")
    vision_type = (settings.get("vision_config") or {}).get("model_type")
    try:
        family = family_for(model_type, vision_type)
    except FgvrError as err:
        raise FgvrError(f"{Path(path) / 'config.json'}: {err}") from None
    if family is not None:
        return family
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        log.warning("%s: model type %r is not in the family table; read with the generic adapter's defaults "
                    "(connector: model.model.%s, visual tokens + EOS through the LLM alone)", path, model_type,
                    GENERIC.connector)
        return GENERIC
    raise FgvrError(f"{Path(path) / 'config.json'}: model type {model_type!r} (architectures "
                    f"{settings.get('architectures')}) is not an image-text-to-text model nor a supported dual "
                    f"encoder; supported model types: {MODEL_TYPES}")


def family_adapter(family: Family) -> type:
    """The adapter class a family row names ("module:Class" under fgvr.models)."""
    import importlib

    module, name = family.adapter.split(":")
    return getattr(importlib.import_module(f"fgvr.models.{module}"), name)


def adapter_class(path: str | Path) -> type:
    """The adapter class for the checkpoint folder ``path``."""
    return family_adapter(family_of(path))


# Image-processor classes a release names that transformers 5 no longer has: the Qwen2.5-VL-7B-Instruct
# release's preprocessor_config.json says Qwen2_5_VLImageProcessor, since renamed Qwen2VLImageProcessor
# (the same processor); AutoImageProcessor then refuses the checkpoint ("Unrecognized image processor").
RENAMED_IMAGE_PROCESSORS = {"Qwen2_5_VLImageProcessor": "Qwen2VLImageProcessor"}


def register_renamed_image_processors() -> None:
    """Make each old name in ``RENAMED_IMAGE_PROCESSORS`` resolve (in AutoImageProcessor and in every
    processor's from_pretrained) to its new class: torchvision's where installed, else the PIL
    twin, as transformers itself falls back. Idempotent; names transformers still knows are left."""
    import importlib.util

    from transformers.models.auto import image_processing_auto as auto

    for old, new in RENAMED_IMAGE_PROCESSORS.items():
        if auto.get_image_processor_class_from_name(old) is not None:
            continue
        cls = auto.get_image_processor_class_from_name(new if importlib.util.find_spec("torchvision") else f"{new}Pil")
        if cls is None:
            continue
        alias = type(old, (cls,), {"__module__": cls.__module__, "__doc__": f"{new} under its old name {old}"})
        auto.IMAGE_PROCESSOR_MAPPING._extra_content[f"fgvr-renamed:{old}"] = {"pil": alias}


def load_adapter(path: str | Path, kind: str | None = None, dtype: str = "auto", device: str = "auto",
                 trust_remote_code: bool = False, weights: bool = True):
    """Wrap a checkpoint folder in its family's adapter: image processor and tokenizer now, the
    weights through from_pretrained now or, with ``weights=False``, on ``adapter.load_weights()``
    (extraction starts its preprocessing workers first, so they fork from a small process and
    work while the weights load)."""
    import transformers

    family = family_of(path)
    cls = family_adapter(family)
    register_renamed_image_processors()
    if kind is not None and cls.kind != kind:
        raise FgvrError(f"{path}: is a {cls.kind} ({family.name}) but the config says kind: {kind}")
    dev = pick_device(device)
    # image processor and tokenizer, not AutoProcessor: a processor may also want a video
    # processor (torchvision) that extraction never uses
    image_processor = overridden(transformers.AutoImageProcessor.from_pretrained(
        path, trust_remote_code=trust_remote_code, **family.image_kwargs), family, path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    adapter = cls(path, None, image_processor, tokenizer, dev, pick_dtype(dtype, dev))
    adapter.family, adapter.trust_remote_code = family, trust_remote_code
    return adapter.load_weights() if weights else adapter


def load_model(adapter):
    """The adapter's checkpoint through its kind's Auto class, on its device, in eval mode."""
    import transformers

    auto = getattr(transformers, adapter.auto_class)
    quantization = getattr(adapter, "quantization", None)  # 4-bit (QLoRA): placed on the GPU as it loads
    attention = attention_implementation(adapter.device, adapter.dtype, model_class(auto, adapter))
    model = auto.from_pretrained(adapter.path, dtype=adapter.dtype, attn_implementation=attention,
                                 trust_remote_code=adapter.trust_remote_code, quantization_config=quantization,
                                 **({"device_map": {"": adapter.device}} if quantization is not None else {}))
    return (model if quantization is not None else model.to(adapter.device)).eval()


def model_class(auto, adapter) -> type | None:
    """The class ``auto`` builds for the adapter's checkpoint (None where it cannot tell: remote code)."""
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(adapter.path, trust_remote_code=adapter.trust_remote_code)
        return auto._model_mapping[type(config)]
    except (KeyError, ValueError, OSError):
        return None


def attention_implementation(device, dtype, cls: type | None = None) -> str | None:
    """flash_attention_2 for bf16/fp16 on a GPU where the package is installed (it has no
    float32 kernels) and the model supports it (Gemma 3 and PaliGemma do not: their image
    tokens attend both ways), else transformers' default: PyTorch SDPA where the model supports
    it, eager attention where not (Gemma 2, PaliGemma 2's LLM)."""
    import importlib.util

    import torch

    half = dtype in (torch.bfloat16, torch.float16)
    if device.type == "cuda" and half and getattr(cls, "_supports_flash_attn", True) \
            and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return None


def overridden(image_processor, family: Family, path: str | Path):
    """``image_processor`` with the family's ``image_kwargs`` in force, whatever the checkpoint
    stores: a processor writes its prompts' image tokens from its own attributes, so a stored
    ``do_image_splitting: true`` (the Idefics2-8B release) beside a per-call ``false`` gives five
    views' tokens for one view's features. from_pretrained was given them; this checks it took."""
    for key, value in family.image_kwargs.items():
        if not hasattr(image_processor, key):
            raise FgvrError(f"{path}: its image processor {type(image_processor).__name__} has no setting {key!r}, "
                            f"which the {family.name} family's table row sets (image_kwargs)")
        if getattr(image_processor, key) != value:
            setattr(image_processor, key, value)
    return image_processor


def load_processor(path: str | Path, trust_remote_code: bool = False):
    """The checkpoint's full processor: AutoProcessor's, or, where its class wants torchvision and
    torchvision is not installed, the same class without the video processor this workflow never
    uses, loaded as the official code loads it: with the family's image arguments overriding what
    the checkpoint stores (``AutoProcessor.from_pretrained(path, do_image_splitting=False)``).
    Errors name the checkpoint and the missing package."""
    from transformers import AutoProcessor

    family = family_of(path)
    register_renamed_image_processors()
    try:
        name = saved_processor_class(path)
        if name is not None and needs_torchvision(name):
            processor = image_only_processor(path, trust_remote_code, name, **family.image_kwargs)
        else:
            processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, **family.image_kwargs)
    except (OSError, ValueError, ImportError) as err:
        missing = missing_package(err)
        if missing:
            raise FgvrError(f"{path}: its processor needs the {missing} package, which is not installed "
                            f"(pip install {missing}); chat prompts, generation and letter scoring need it") from err
        raise FgvrError(f"{path}: its processor cannot be loaded for chat prompts ({err})") from err
    if hasattr(processor, "image_processor"):
        overridden(processor.image_processor, family, path)
    return processor


def saved_processor_class(path: str | Path) -> str | None:
    """The processor class the checkpoint names (processor_config.json, else its model type's)."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        file = Path(path) / name
        named = json.loads(file.read_text()).get("processor_class") if file.is_file() else None
        if named:
            return named
    name = PROCESSOR_MAPPING_NAMES.get(checkpoint_config(path).get("model_type"))
    return name if isinstance(name, str) else None


def needs_torchvision(name: str) -> bool:
    """Whether transformers' processor class ``name`` cannot be built here as it is: torchvision
    is missing and the class is marked as needing it or wants a video processor."""
    import importlib.util
    import inspect

    import transformers

    if importlib.util.find_spec("torchvision") is not None or not hasattr(transformers, name):
        return False
    cls = getattr(transformers, name)
    return hasattr(cls, "_backends") or "video_processor" in inspect.signature(cls.__init__).parameters


def image_only(cls: type) -> type:
    """``cls``, a processor class whose constructor wants a video processor, without it: images and
    text are all this workflow gives a processor. Its video processor (Qwen-VL, SmolVLM, ...) is
    what needs torchvision, which does not import beside the CPU build of torch."""
    import inspect

    from transformers.processing_utils import ProcessorMixin

    class ImageOnly(cls):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                             chat_template=chat_template, **kwargs)

        def apply_chat_template(self, conversation, chat_template=None, **kwargs):
            # a family's own override only fills in video defaults (SmolVLM: frames, fps) from the
            # video processor this one lacks; the template itself is the generic mixin's work
            return ProcessorMixin.apply_chat_template(self, conversation, chat_template, **kwargs)

    # the family's own arguments (SmolVLM's image_seq_len ...) but the video processor: what
    # transformers reads to load, save and pass them
    signature = inspect.signature(cls.__init__)
    ImageOnly.__init__.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "video_processor"])
    ImageOnly.__name__ = ImageOnly.__qualname__ = cls.__name__
    return ImageOnly


def processor_class(name: str) -> type:
    """transformers' processor class ``name``. One marked as needing torchvision for a helper of its
    torchvision image processor (Pixtral's resize rule) is imported with that module's PIL twin in
    its place: the lazy module would hand out a placeholder that refuses to construct."""
    import importlib
    import sys

    import transformers

    cls = getattr(transformers, name)
    if not hasattr(cls, "_backends"):  # a real class, not transformers' placeholder
        return cls
    module = f"transformers.{transformers._class_to_module[name]}"  # ...pixtral.processing_pixtral
    package, model = module.rsplit(".processing_", 1)
    twin = importlib.import_module(f"{package}.image_processing_pil_{model}")
    sys.modules.setdefault(f"{package}.image_processing_{model}", twin)
    return getattr(importlib.import_module(module), name)


def image_only_processor(path: str | Path, trust_remote_code: bool = False, name: str | None = None, **overrides):
    """The checkpoint's own processor class (``name``, else the one it names), loaded without the
    video processor that AutoProcessor could not import."""
    import inspect

    import transformers

    name = name or saved_processor_class(path)
    if name is None or not hasattr(transformers, name):
        raise ImportError(f"{path}: no processor class is known for it; it requires the torchvision library")
    log.info("%s: torchvision is not installed; %s loaded for images and text only", path, name)
    cls = processor_class(name)
    if "video_processor" in inspect.signature(cls.__init__).parameters:
        cls = image_only(cls)
    processor = cls.from_pretrained(path, trust_remote_code=trust_remote_code, **overrides)
    # transformers passes processor_config.json's values by the constructor's own argument names,
    # which the image-only constructor does not spell out: set the family's plain ones here
    # (SmolVLM's image_seq_len)
    saved = Path(path) / "processor_config.json"
    own = set(inspect.signature(cls.__init__).parameters) - {"self", "image_processor", "tokenizer", "chat_template"}
    for key, value in (json.loads(saved.read_text()) if saved.is_file() else {}).items():
        if key in own and not isinstance(value, dict):
            setattr(processor, key, value)
    return processor


def missing_package(err: BaseException) -> str | None:
    """The package an ImportError-like message from transformers says is missing (torchvision ...)."""
    import re

    found = re.search(r"requires the (\w+) library", str(err))
    return found[1].lower() if found else None


__all__ = ["adapter_class", "family_adapter", "family_of", "load_adapter", "load_model", "load_processor", "pick_device",
           "pick_dtype"]
