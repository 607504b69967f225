"""Tiny random-init checkpoints of the real architectures, built offline for the demo and tests.

Each is saved like a hub checkpoint (config.json, safetensors weights, tokenizer files,
preprocessor_config.json), so every later stage loads it through the same from_pretrained
path as a real model. config.json carries ``fgvr_demo: true``: numbers from these models mean
nothing about real ones. One builder per family; ``build_demo`` picks it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .loading import image_only, processor_class
from .families import BY_NAME, KINDS
from .tokenizer import train_tokenizer

LLM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, max_position_embeddings=1024)
VIT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)


# The chat templates the real checkpoints ship (Idefics2-8B's processor_config.json; Idefics3
# writes its tokenizer's BOS <|begin_of_text|> itself, here the demo tokenizer's <s>; LLaVA-1.5's
# "USER: <image>\n... ASSISTANT:"), so demo models are prompted exactly as real ones are.
IDEFICS2_CHAT = ("{% for message in messages %}{{message['role'].capitalize()}}{% if message['content'][0]['type'] == "
                 "'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] =="
                 " 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
                 "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
# Qwen2-VL's template (a default system turn, then <|im_start|>role ... <|im_end|>), images as
# <|vision_start|><|image_pad|><|vision_end|>
QWEN_CHAT = ("{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
             "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
             "{% for c in message['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
             "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def im_chat(image: str) -> str:
    """The <|im_start|> role ... <|im_end|> template of Qwen2-based models (LLaVA-OneVision,
    InternVL3: image first as ``image``, no default system turn)."""
    return ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for c in message['content'] %}"
            "{% if c['type'] == 'image' %}" + image + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
            "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# Gemma 3's turns (its template writes BOS; assistant turns are "model")
GEMMA_CHAT = ("{{ bos_token }}{% for message in messages %}<start_of_turn>"
              "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n{% for c in message['content'] %}"
              "{% if c['type'] == 'image' %}<start_of_image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
              "{% endfor %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
# Mistral's [INST] ... [/INST] answer</s>, images as [IMG] (Pixtral, Mistral-Small-3.1)
MISTRAL_CHAT = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST]"
                "{% for c in message['content'] %}{% if c['type'] == 'image' %}[IMG]{% elif c['type'] == 'text' %}"
                "{{ c['text'] }}{% endif %}{% endfor %}[/INST]{% else %}{% for c in message['content'] %}{{ c['text'] }}"
                "{% endfor %}{{ eos_token }}{% endif %}{% endfor %}")
LLAVA_CHAT = ("{% for message in messages %}{{ message['role'].upper() + ': ' }}{% for c in message['content'] %}"
              "{% if c['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}{% for c in message['content'] %}"
              "{% if c['type'] == 'text' %}{{ c['text'] + ' ' }}{% endif %}{% endfor %}{% endfor %}"
              "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def _ids(tok) -> dict:
    return dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id)


def _save(out: Path, model_class, config, image_processor, tokenizer, seed: int) -> None:
    """Initialise ``model_class(config)`` from ``seed`` and save it with its processors.
    The same seed gives byte-identical weight files; the caller's RNG state is left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
        _scale_head(model)
        _draw_zero_matrices(model)
    model.config.fgvr_demo = True
    model.save_pretrained(out)
    image_processor.save_pretrained(out)  # a processor (MLLMs) saves its image processor and tokenizer too
    tokenizer.save_pretrained(out)


def _scale_head(model) -> None:
    """An untied LM head drawn at std 1/sqrt(d), so logits have unit scale as a trained head's do.
    The usual 0.02 init caps every logit near 1 behind the final norm (d = 64): with the head
    frozen, as LoRA leaves it, no fine-tuning could then make any answer likely. Hidden states,
    which the analysis reads, do not depend on the head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    embeddings = model.get_input_embeddings() if head is not None else None
    if head is None or head.weight is embeddings.weight:
        return
    torch.nn.init.normal_(head.weight, std=head.weight.shape[1] ** -0.5)


def _draw_zero_matrices(model) -> None:
    """Weights transformers initialises to zero, which no trained checkpoint has (Gemma 3's
    projector matrix, InternViT's position embeddings), drawn at std 1/sqrt(fan-in): a zero
    projector would give every image the same visual tokens and hide a wrong object path."""
    for param in model.parameters():
        if param.ndim >= 2 and not param.any():
            torch.nn.init.normal_(param.data, std=param.shape[-2] ** -0.5)


def _patch(size: int) -> int:
    return max(2, size // 8)


def idefics2(out, texts, size, seed):
    from transformers import (Idefics2Config, Idefics2ForConditionalGeneration, Idefics2ImageProcessorPil,
                              Idefics2Processor)

    tok = train_tokenizer(texts, "<s> $A", extra_special=["<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    config = Idefics2Config(
        vision_config=dict(VIT, image_size=size, patch_size=_patch(size)),
        perceiver_config=dict(hidden_size=LLM["hidden_size"], resampler_n_latents=16, resampler_depth=1,
                              resampler_n_heads=2, resampler_head_dim=16, num_key_value_heads=1),
        text_config=dict(LLM, model_type="mistral", **_ids(tok)),
        image_token_id=tok.convert_tokens_to_ids("<image>"), pad_token_id=tok.pad_token_id)
    # longest edge 2x: non-square images keep their shape and get padded, as with the real processor
    images = Idefics2ImageProcessorPil(size={"shortest_edge": size, "longest_edge": 2 * size}, do_image_splitting=False)
    processor = Idefics2Processor(images, tok, image_seq_len=config.perceiver_config.resampler_n_latents,
                                  chat_template=IDEFICS2_CHAT)
    _save(out, Idefics2ForConditionalGeneration, config, processor, tok, seed)


def _idefics3_like(out, texts, size, seed, smol: bool):
    import transformers as tf

    tok = train_tokenizer(texts, "<s> $A", extra_special=["<fake_token_around_image>", "<image>", "<global-img>",
                                                          "<end_of_utterance>"])
    prefix = "SmolVLM" if smol else "Idefics3"
    config = getattr(tf, f"{prefix}Config")(
        vision_config=dict(VIT, image_size=size, patch_size=_patch(size)),
        text_config=dict(LLM, model_type="llama", **_ids(tok)), scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"))
    processor = getattr(tf, f"{prefix}ImageProcessorPil")(size={"longest_edge": size},
                                                          max_image_size={"longest_edge": size}, do_image_splitting=False)
    seq = (size // _patch(size)) ** 2 // config.scale_factor ** 2
    # SmolVLM's processor also wants a video processor (torchvision): saved without it
    processor_class = image_only(tf.SmolVLMProcessor) if smol else tf.Idefics3Processor
    processor = processor_class(processor, tok, image_seq_len=seq, chat_template="{{ bos_token }}" + IDEFICS2_CHAT)
    _save(out, getattr(tf, f"{prefix}ForConditionalGeneration"), config, processor, tok, seed)


def idefics3(out, texts, size, seed):
    _idefics3_like(out, texts, size, seed, smol=False)


def smolvlm(out, texts, size, seed):
    _idefics3_like(out, texts, size, seed, smol=True)


def _llava_like(out, texts, size, seed, next_: bool):
    import transformers as tf

    tok = train_tokenizer(texts, "<s> $A", extra_special=["<image>"])
    prefix = "LlavaNext" if next_ else "Llava"
    extra = dict(image_grid_pinpoints=[[size, size]]) if next_ else {}
    config = getattr(tf, f"{prefix}Config")(
        vision_config=dict(VIT, model_type="clip_vision_model", image_size=size, patch_size=_patch(size)),
        text_config=dict(LLM, model_type="llama", **_ids(tok)), image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(size // _patch(size)) ** 2, vision_feature_layer=-2, **extra)
    images = getattr(tf, f"{prefix}ImageProcessorPil")(size={"shortest_edge": size},
                                                       crop_size={"height": size, "width": size}, **extra)
    processor = getattr(tf, f"{prefix}Processor")(images, tok, patch_size=_patch(size), chat_template=LLAVA_CHAT,
                                                  vision_feature_select_strategy=config.vision_feature_select_strategy,
                                                  num_additional_image_tokens=1)
    _save(out, getattr(tf, f"{prefix}ForConditionalGeneration"), config, processor, tok, seed)


def llava(out, texts, size, seed):
    _llava_like(out, texts, size, seed, next_=False)


def llava_next(out, texts, size, seed):
    _llava_like(out, texts, size, seed, next_=True)


QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                "<|video_pad|>"]


def _qwen_like(out, texts, size, seed, v25: bool):
    import transformers as tf

    tok = train_tokenizer(texts, "$A", extra_special=QWEN_SPECIAL)
    tok.eos_token = "<|im_end|>"
    tid = tok.convert_tokens_to_ids
    patch = _patch(size) // 2 * 2 or 2
    head_dim = LLM["hidden_size"] // LLM["num_attention_heads"]
    text = dict(LLM, **_ids(tok), rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                   "mrope_section": [2, 3, 3] if head_dim == 16 else None})
    if v25:
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=LLM["hidden_size"],
                      patch_size=patch, spatial_merge_size=2, temporal_patch_size=2, window_size=4 * patch,
                      fullatt_block_indexes=[1])
    else:
        vision = dict(depth=2, embed_dim=32, hidden_size=LLM["hidden_size"], num_heads=2, mlp_ratio=2,
                      patch_size=patch, spatial_merge_size=2, temporal_patch_size=2)
    prefix = "Qwen2_5_VL" if v25 else "Qwen2VL"
    config = getattr(tf, f"{prefix}Config")(
        text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"),
        video_token_id=tid("<|video_pad|>"), vision_start_token_id=tid("<|vision_start|>"),
        vision_end_token_id=tid("<|vision_end|>"))
    factor = patch * 2
    images = tf.Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                         size={"shortest_edge": factor * factor, "longest_edge": size * size})
    # the processor without its video processor (torchvision), with the real template
    processor = image_only(getattr(tf, f"{prefix}Processor"))(images, tok, chat_template=QWEN_CHAT)
    _save(out, getattr(tf, f"{prefix}ForConditionalGeneration"), config, processor, tok, seed)


def qwen2_vl(out, texts, size, seed):
    _qwen_like(out, texts, size, seed, v25=False)


def qwen2_5_vl(out, texts, size, seed):
    _qwen_like(out, texts, size, seed, v25=True)


def qwen3_vl(out, texts, size, seed):
    import transformers as tf

    tok = train_tokenizer(texts, "$A", extra_special=QWEN_SPECIAL)
    tok.eos_token = "<|im_end|>"
    tid = tok.convert_tokens_to_ids
    patch = _patch(size) // 2 * 2 or 2
    text = dict(LLM, **_ids(tok), head_dim=16,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                 "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=LLM["hidden_size"],
                  patch_size=patch, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[0])
    config = tf.Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"),
                              video_token_id=tid("<|video_pad|>"), vision_start_token_id=tid("<|vision_start|>"),
                              vision_end_token_id=tid("<|vision_end|>"))
    images = tf.Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                         size={"shortest_edge": 4 * patch * patch, "longest_edge": size * size})
    processor = image_only(tf.Qwen3VLProcessor)(images, tok, chat_template=QWEN_CHAT)
    _save(out, tf.Qwen3VLForConditionalGeneration, config, processor, tok, seed)


def llava_onevision(out, texts, size, seed):
    import transformers as tf

    tok = train_tokenizer(texts, "$A", extra_special=["<|im_start|>", "<|im_end|>", "<image>", "<video>"])
    tok.eos_token = "<|im_end|>"
    patch = _patch(size)
    config = tf.LlavaOnevisionConfig(
        vision_config=dict(VIT, model_type="siglip_vision_model", image_size=size, patch_size=patch),
        text_config=dict(LLM, model_type="qwen2", **_ids(tok)), image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"), image_grid_pinpoints=[[size, size]],
        vision_feature_select_strategy="full", vision_feature_layer=-1)
    images = tf.LlavaOnevisionImageProcessorPil(size={"height": size, "width": size}, image_grid_pinpoints=[[size, size]])
    processor = image_only(tf.LlavaOnevisionProcessor)(images, tok, num_image_tokens=(size // patch) ** 2,
                                                       vision_feature_select_strategy="full",
                                                       chat_template=im_chat("<image>\n"))
    _save(out, tf.LlavaOnevisionForConditionalGeneration, config, processor, tok, seed)


def internvl(out, texts, size, seed):
    import transformers as tf

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}
    tok = train_tokenizer(texts, "$A", extra_special=["<|im_start|>", "<|im_end|>"], named=named)
    tok.eos_token = "<|im_end|>"
    patch = _patch(size)
    config = tf.InternVLConfig(
        vision_config=dict(VIT, image_size=[size, size], patch_size=[patch, patch]),
        text_config=dict(LLM, model_type="qwen2", **_ids(tok)), image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=(size // patch) ** 2 // 4, downsample_ratio=0.5)
    images = tf.GotOcr2ImageProcessorPil(size={"height": size, "width": size}, crop_to_patches=False)
    processor = image_only(tf.InternVLProcessor)(images, tok, image_seq_length=config.image_seq_length,
                                                 chat_template=im_chat("<IMG_CONTEXT>\n"))
    _save(out, tf.InternVLForConditionalGeneration, config, processor, tok, seed)


def gemma3(out, texts, size, seed):
    import transformers as tf

    named = {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>", "eoi_token": "<end_of_image>"}
    tok = train_tokenizer(texts, "<bos> $A", extra_special=["<start_of_turn>", "<end_of_turn>"], named=named,
                          bos="<bos>")
    tok.eos_token = "<end_of_turn>"  # what an instruction-tuned Gemma 3 ends its turn with
    tid = tok.convert_tokens_to_ids
    patch, tokens = _patch(size), 4
    config = tf.Gemma3Config(
        vision_config=dict(VIT, model_type="siglip_vision_model", image_size=size, patch_size=patch),
        text_config=dict(LLM, **_ids(tok), head_dim=16, sliding_window=64), mm_tokens_per_image=tokens,
        boi_token_index=tid("<start_of_image>"), eoi_token_index=tid("<end_of_image>"),
        image_token_index=tid("<image_soft_token>"))
    images = tf.Gemma3ImageProcessorPil(size={"height": size, "width": size})
    processor = tf.Gemma3Processor(images, tok, image_seq_length=tokens, chat_template=GEMMA_CHAT)
    _save(out, tf.Gemma3ForConditionalGeneration, config, processor, tok, seed)


def paligemma(out, texts, size, seed):
    import transformers as tf

    tok = train_tokenizer(texts, "<bos> $A", extra_special=["<image>"], bos="<bos>")
    patch = _patch(size)
    config = tf.PaliGemmaConfig(
        vision_config=dict(VIT, model_type="siglip_vision_model", image_size=size, patch_size=patch,
                           projection_dim=LLM["hidden_size"]),
        text_config=dict(LLM, model_type="gemma2", **_ids(tok), head_dim=16), projection_dim=LLM["hidden_size"],
        image_token_index=tok.convert_tokens_to_ids("<image>"))
    images = tf.SiglipImageProcessorPil(size={"height": size, "width": size})
    images.image_seq_length = (size // patch) ** 2
    processor = tf.PaliGemmaProcessor(images, tok)  # pt / mix releases ship no chat template
    _save(out, tf.PaliGemmaForConditionalGeneration, config, processor, tok, seed)


def _pixtral_like(out, texts, size, seed, mistral3: bool):
    import transformers as tf

    tok = train_tokenizer(texts, "<s> $A", extra_special=["[IMG]", "[IMG_BREAK]", "[IMG_END]", "[INST]", "[/INST]"])
    patch, merge = _patch(size), 2 if mistral3 else 1
    vision = dict(VIT, model_type="pixtral", image_size=size, patch_size=patch, head_dim=32)
    text = dict(LLM, model_type="mistral", **_ids(tok))
    if mistral3:
        config = tf.Mistral3Config(vision_config=vision, text_config=text, spatial_merge_size=merge,
                                   image_token_index=tok.convert_tokens_to_ids("[IMG]"))
    else:
        config = tf.LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                                vision_feature_select_strategy="full",
                                image_token_index=tok.convert_tokens_to_ids("[IMG]"))
    images = tf.PixtralImageProcessorPil(size={"longest_edge": size}, patch_size=patch * merge)
    processor = processor_class("PixtralProcessor")(images, tok, patch_size=patch, spatial_merge_size=merge,
                                                    chat_template=MISTRAL_CHAT)
    _save(out, tf.Mistral3ForConditionalGeneration if mistral3 else tf.LlavaForConditionalGeneration, config,
          processor, tok, seed)


def mistral3(out, texts, size, seed):
    _pixtral_like(out, texts, size, seed, mistral3=True)


def pixtral(out, texts, size, seed):
    _pixtral_like(out, texts, size, seed, mistral3=False)


def siglip(out, texts, size, seed):
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    tok = train_tokenizer(texts, "$A </s>")
    config = SiglipConfig(text_config=dict(VIT, max_position_embeddings=64, **_ids(tok)),
                          vision_config=dict(VIT, image_size=size, patch_size=_patch(size)))
    _save(out, SiglipModel, config, SiglipImageProcessorPil(size={"height": size, "width": size}), tok, seed)


def siglip2(out, texts, size, seed):
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    tok = train_tokenizer(texts, "$A </s>")
    patches = 64
    config = Siglip2Config(text_config=dict(VIT, max_position_embeddings=64, **_ids(tok)),
                           vision_config=dict(VIT, num_patches=patches, patch_size=_patch(size)))
    processor = Siglip2ImageProcessorPil(patch_size=_patch(size), max_num_patches=patches)
    _save(out, Siglip2Model, config, processor, tok, seed)


def clip(out, texts, size, seed):
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    tok = train_tokenizer(texts, "<s> $A </s>")
    config = CLIPConfig(text_config=dict(VIT, max_position_embeddings=77, **_ids(tok)),
                        vision_config=dict(VIT, image_size=size, patch_size=_patch(size)), projection_dim=32)
    processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    _save(out, CLIPModel, config, processor, tok, seed)


def build_demo(kind: str, out: str | Path, texts: list[str], image_size: int, seed: int = 0,
               family: str | None = None) -> Path:
    """Build a tiny checkpoint of ``family`` (default: the paper's pair, Idefics2 / SigLIP) into ``out``."""
    family = family or KINDS[kind][0]
    if family not in KINDS[kind]:
        from ..io import FgvrError
        raise FgvrError(f"family {family!r} is not a {kind}; {kind} families: {list(KINDS[kind])}")
    out = Path(out)
    globals()[BY_NAME[family].builder](out, texts, image_size, seed)
    return out
