"""Tiny random-init checkpoints of seven more MLLM families: independent references for tests.

They are held out from the project's own builders (fgvr.models.demo, fgvr.models.tokenizer):
written from the Hugging Face classes and the layout of the real hub checkpoints only, so a test
that loads them checks the project's generic code on folders it was not written alongside. Each
folder is what ``save_pretrained`` of the real release gives: config.json (with
``"fgvr_demo": true``), model.safetensors, the tokenizer files, preprocessor_config.json,
processor_config.json with the processor's own arguments and chat_template.jinja (none for
PaliGemma, whose pt/mix releases ship none).

Sizes are deliberately unlike the project's builders (text hidden 48, images 28-42 px with 7 px
patches), and every builder takes a fraction of a second on a CPU.

    from heldout import HELDOUT, build_heldout
    folder = build_heldout("gemma3", tmp_path / "gemma3", texts)
"""
from __future__ import annotations

import json
import string
from pathlib import Path

HELDOUT = ("llava_onevision", "internvl", "gemma3", "paligemma", "mistral3", "qwen3_vl", "pixtral")

LETTERS = "ABCD"
# Words of the evaluation's prompts, chat roles and super-categories, so that prompts tokenize
# without the unknown token (the class names come from `texts`).
COMMON = (
    "Which of these is shown in the image ? What is the name of the in the image ? Choices : "
    "Answer with the letter from the given choices directly . User : Assistant : user assistant "
    "model system a an and or this that it image picture photo bird birds car cars dog dogs "
    "flower flowers pet pets aircraft aircrafts butterfly butterflies species kind type class "
    "describe Describe answer question yes no"
)

# One small text model for every family: hidden 48, 2 layers, 4 heads over 2 KV heads.
TEXT = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 1024}
# One small vision tower: hidden 32, 2 layers, 4 heads.
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]


def build_heldout(family: str, out: Path, texts: list[str], seed: int = 0) -> Path:
    """Write the tiny checkpoint of `family` (one of HELDOUT) into `out`; returns `out`."""
    if family not in HELDOUT:
        raise ValueError(f"unknown held-out family {family!r}; one of {HELDOUT}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _BUILDERS[family](out, list(texts), seed)
    return out


# --- shared helpers -------------------------------------------------------------------------

def _words(texts: list[str]) -> list[str]:
    """The word-level vocabulary: every piece of the texts, the prompts' words, A-D, digits and
    punctuation, as the whitespace pre-tokenizer splits them (sorted, so builds are stable)."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.Whitespace()
    pieces = [COMMON, " ".join(LETTERS), " ".join(string.digits), " ".join(string.punctuation), *texts]
    return sorted({w for text in pieces for w, _ in pre.pre_tokenize_str(text)})


def _tokenizer(texts, head, tail, *, unk, bos, eos, pad, add_bos, plain=(), template=None, **named):
    """A PreTrainedTokenizerFast over a word-level vocabulary: the special tokens `head` take the
    first ids and `tail` the last (as in the real vocabularies: Gemma and Mistral put their
    control tokens first, Qwen2 after the BPE merges); `plain` are whole, non-special tokens
    just before `tail` (PaliGemma's <locXXXX>). `named` are model-specific tokens the processors
    read (``boi_token``, ``context_image_token`` ...). With `add_bos` the post-processor
    prepends BOS, as the Gemma and Mistral (Llama-style) tokenizers do; Qwen2's add nothing."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [*head, *tail]
    words = [w for w in _words(texts) if w not in specials]
    vocab = {token: i for i, token in enumerate([*head, *words, *plain, *tail])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if template is not None:
        named["chat_template"] = template
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=unk, bos_token=bos,
                                   eos_token=eos, pad_token=pad, add_bos_token=add_bos,
                                   add_eos_token=False, **named)


def _ids(tokenizer, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _save_model(model_class, config, out: Path, seed: int) -> None:
    """Random init under `seed` without touching the global RNG, marked as a demo checkpoint."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
        # transformers starts some weights at zero (Gemma 3's projector matrix, InternViT's
        # position embeddings); a trained checkpoint never has them so, and a zero projector
        # would make every image's visual tokens equal
        for param in model.parameters():
            if param.dim() > 1 and torch.count_nonzero(param) == 0:
                param.data.normal_(0.0, 0.05)
    model.config.fgvr_demo = True
    model.save_pretrained(out)


def _update_json(path: Path, **values) -> None:
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _save_processor(out: Path, image_processor, tokenizer, processor_class: str, **arguments) -> None:
    """The processor files in the hub layout: preprocessor_config.json (image processor),
    tokenizer files with chat_template.jinja, and processor_config.json with the processor's own
    arguments. Written piece by piece because transformers 5 nests the image processor inside
    processor_config.json, and because most of these processors also want a video processor
    that cannot be built without torchvision. tokenizer_config.json gets add_bos_token back as
    the hub files have it (v5 drops it on save, and ignores it on load when tokenizer.json is
    there: BOS then comes from the saved post-processor alone)."""
    image_processor.save_pretrained(out)
    _update_json(out / "preprocessor_config.json", processor_class=processor_class)
    tokenizer.save_pretrained(out)
    _update_json(out / "tokenizer_config.json", processor_class=processor_class,
                 add_bos_token=tokenizer.add_bos_token, add_eos_token=False)
    arguments = dict(arguments, processor_class=processor_class)
    (out / "processor_config.json").write_text(json.dumps(arguments, indent=2, sort_keys=True) + "\n")


def _own_arguments(processor) -> dict:
    """A constructed processor's own serialized arguments, without its sub-processors."""
    return {k: v for k, v in processor.to_dict().items()
            if k not in ("image_processor", "tokenizer", "video_processor", "processor_class")}


# --- chat templates (condensed from the real releases') --------------------------------------

QWEN_TEMPLATE = (  # ChatML as Qwen2/Qwen3 write it; {image} and {video} become the family's placeholders
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '{image}' }}"
    "{% elif content['type'] == 'video' %}{{ '{video}' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAVA_ONEVISION_TEMPLATE = (  # images first, then videos, then the text of each turn
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

GEMMA3_TEMPLATE = (  # a system turn is folded into the first user turn; assistant -> model
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% if messages[0]['content'] is string %}{% set prefix = messages[0]['content'] + '\\n\\n' %}"
    "{% else %}{% set prefix = messages[0]['content'][0]['text'] + '\\n\\n' %}{% endif %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<start_of_image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

MISTRAL_TEMPLATE = (  # [INST] ... [/INST]; an image is one [IMG] the processor expands
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'][0]['text'] %}"
    "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST]' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for chunk in message['content'] %}"
    "{% if chunk['type'] == 'text' %}{{ chunk['text'] }}"
    "{% elif chunk['type'] == 'image' %}{{ '[IMG]' }}"
    "{% else %}{{ raise_exception('Unrecognized content type!') }}{% endif %}"
    "{% endfor %}{% endif %}{{ '[/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{{ message['content'][0]['text'] }}{% endif %}{{ eos_token }}"
    "{% else %}{{ raise_exception('Only user, assistant and system roles are supported!') }}"
    "{% endif %}{% endfor %}"
)


# --- the families ---------------------------------------------------------------------------

def _qwen2_tokenizer(texts, tail, template, **named):
    """Qwen2's tokenizer: no BOS, <|im_end|> ends a turn, <|endoftext|> pads; specials last."""
    return _tokenizer(texts, ["<unk>"], ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *tail],
                      unk="<unk>", bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False,
                      template=template, **named)


def _qwen2_text(tokenizer) -> dict:
    return dict(model_type="qwen2", **TEXT, vocab_size=len(tokenizer), rope_theta=1000000.0,
                tie_word_embeddings=True, bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def _build_llava_onevision(out: Path, texts: list[str], seed: int) -> None:
    """LLaVA-OneVision (qwen2 + SigLIP): 28 px tiles of 7 px patches (16 tokens a tile), anyres
    over 1x1, 1x2 and 2x1 tiles, every patch kept ("full", no CLS in SigLIP)."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
    )

    size, patch = 28, 7
    pinpoints = [[size, size], [size, 2 * size], [2 * size, size]]
    tok = _qwen2_tokenizer(texts, ["<image>", "<video>"], LLAVA_ONEVISION_TEMPLATE,
                           image_token="<image>", video_token="<video>")
    image_id, video_id = _ids(tok, "<image>", "<video>")
    config = LlavaOnevisionConfig(
        text_config=_qwen2_text(tok),
        vision_config=dict(model_type="siglip_vision_model", **VISION, image_size=size,
                           patch_size=patch, vision_use_head=False),
        image_token_index=image_id, video_token_index=video_id, image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9", tie_word_embeddings=True)
    _save_model(LlavaOnevisionForConditionalGeneration, config, out, seed)
    images = LlavaOnevisionImageProcessorPil(size={"height": size, "width": size},
                                             image_grid_pinpoints=pinpoints, image_mean=HALF,
                                             image_std=HALF, do_pad=True)
    _save_processor(out, images, tok, "LlavaOnevisionProcessor",
                    num_image_tokens=(size // patch) ** 2, vision_feature_select_strategy="full",
                    image_token="<image>", video_token="<video>", vision_aspect_ratio="anyres_max_9")


def _build_internvl(out: Path, texts: list[str], seed: int) -> None:
    """InternVL3-hf (qwen2 + InternViT): 42 px images of 7 px patches, a 6x6 grid the 0.5 pixel
    shuffle turns into 3x3 = 9 tokens (image_seq_length), wrapped in <img> ... </img>."""
    from transformers import GotOcr2ImageProcessorPil, InternVLConfig, InternVLForConditionalGeneration

    size, patch, ratio = 42, 7, 0.5
    seq = int((size // patch * ratio) ** 2)
    tok = _qwen2_tokenizer(texts, ["<img>", "</img>", "<IMG_CONTEXT>", "<video>"],
                           QWEN_TEMPLATE.replace("{image}", "<IMG_CONTEXT>\\n")
                           .replace("{video}", "<video>\\n"),
                           start_image_token="<img>", end_image_token="</img>",
                           context_image_token="<IMG_CONTEXT>", video_token="<video>")
    config = InternVLConfig(
        text_config=_qwen2_text(tok),
        vision_config=dict(model_type="internvl_vision", **VISION, image_size=size, patch_size=patch,
                           use_mean_pooling=True, norm_type="layer_norm"),
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=seq,
        downsample_ratio=ratio, vision_feature_layer=-1, vision_feature_select_strategy="default")
    _save_model(InternVLForConditionalGeneration, config, out, seed)
    # The image processor alone gives one 42 px tile an image; the InternVL processor's own default
    # (crop_to_patches=True) tiles up to max_patches plus a thumbnail, each tile 9 more tokens.
    images = GotOcr2ImageProcessorPil(size={"height": size, "width": size}, crop_to_patches=False,
                                      min_patches=1, max_patches=12, image_mean=IMAGENET_MEAN,
                                      image_std=IMAGENET_STD)
    _save_processor(out, images, tok, "InternVLProcessor", image_seq_length=seq)


def _build_qwen3_vl(out: Path, texts: list[str], seed: int) -> None:
    """Qwen3-VL: 7 px patches merged 2x2 (images resized to multiples of 14 px, between 28x28 and
    about 42x42 px), interleaved M-RoPE over head_dim 16 (sections 4+2+2 = 8 = head_dim / 2),
    deepstack from both vision layers into both text layers."""
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    patch, merge = 7, 2
    tok = _qwen2_tokenizer(texts, ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
                           QWEN_TEMPLATE.replace("{image}", "<|vision_start|><|image_pad|><|vision_end|>")
                           .replace("{video}", "<|vision_start|><|video_pad|><|vision_end|>"),
                           image_token="<|image_pad|>", video_token="<|video_pad|>",
                           vision_start_token="<|vision_start|>", vision_end_token="<|vision_end|>")
    start, end, image_id, video_id = _ids(tok, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                          "<|video_pad|>")
    config = Qwen3VLConfig(
        text_config=dict(model_type="qwen3_vl_text", **TEXT, head_dim=16, vocab_size=len(tok),
                         rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                          "mrope_section": [4, 2, 2], "mrope_interleaved": True},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config={"model_type": "qwen3_vl_vision", "depth": 2, "hidden_size": 32, "intermediate_size": 64,
                       "num_heads": 4, "patch_size": patch, "spatial_merge_size": merge, "temporal_patch_size": 2,
                       "out_hidden_size": TEXT["hidden_size"], "num_position_embeddings": 36,
                       "deepstack_visual_indexes": [0, 1]},
        image_token_id=image_id, video_token_id=video_id, vision_start_token_id=start,
        vision_end_token_id=end, tie_word_embeddings=True)
    _save_model(Qwen3VLForConditionalGeneration, config, out, seed)
    factor = patch * merge
    images = Qwen2VLImageProcessorPil(size={"shortest_edge": (2 * factor) ** 2, "longest_edge": (3 * factor) ** 2},
                                      patch_size=patch, temporal_patch_size=2, merge_size=merge,
                                      image_mean=HALF, image_std=HALF)
    _save_processor(out, images, tok, "Qwen3VLProcessor")


def _build_gemma3(out: Path, texts: list[str], seed: int) -> None:
    """Gemma 3: SigLIP over 42 px images of 7 px patches (6x6) pooled 2x2 into
    mm_tokens_per_image = 9 soft tokens between <start_of_image> and <end_of_image>; one
    sliding-window and one global text layer."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    size, patch, tokens = 42, 7, 9
    tok = _tokenizer(texts, ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"],
                     ["<start_of_image>", "<end_of_image>", "<image_soft_token>"],
                     unk="<unk>", bos="<bos>", eos="<eos>", pad="<pad>", add_bos=True,
                     template=GEMMA3_TEMPLATE, boi_token="<start_of_image>",
                     eoi_token="<end_of_image>", image_token="<image_soft_token>")
    boi, eoi, image_id, end_of_turn = _ids(tok, "<start_of_image>", "<end_of_image>",
                                           "<image_soft_token>", "<end_of_turn>")
    config = Gemma3Config(
        text_config=dict(model_type="gemma3_text", **TEXT, head_dim=16, query_pre_attn_scalar=16,
                         vocab_size=len(tok), sliding_window=32,
                         layer_types=["sliding_attention", "full_attention"],
                         bos_token_id=tok.bos_token_id, eos_token_id=[tok.eos_token_id, end_of_turn],
                         pad_token_id=tok.pad_token_id),
        vision_config=dict(model_type="siglip_vision_model", **VISION, image_size=size, patch_size=patch,
                           vision_use_head=False),
        mm_tokens_per_image=tokens, boi_token_index=boi, eoi_token_index=eoi, image_token_index=image_id)
    _save_model(Gemma3ForConditionalGeneration, config, out, seed)
    images = Gemma3ImageProcessorPil(size={"height": size, "width": size}, image_mean=HALF, image_std=HALF)
    # The processor checks the tokenizer's boi/eoi/image tokens; its own argument is image_seq_length.
    processor = Gemma3Processor(image_processor=images, tokenizer=tok, image_seq_length=tokens)
    _save_processor(out, images, tok, "Gemma3Processor", **_own_arguments(processor))


def _build_paligemma(out: Path, texts: list[str], seed: int) -> None:
    """PaliGemma 2 (gemma2 + SigLIP): 28 px images of 7 px patches, 16 image tokens before the
    prompt, projection_dim = text hidden size; the tokenizer holds the 1024 <locXXXX> and 128
    <segXXX> tokens and <image> after the words, as the release does. No chat template."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )
    from transformers.models.paligemma.processing_paligemma import EXTRA_TOKENS

    size, patch = 28, 7
    seq = (size // patch) ** 2
    tok = _tokenizer(texts, ["<pad>", "<eos>", "<bos>", "<unk>"], ["<image>"], plain=EXTRA_TOKENS,
                     unk="<unk>", bos="<bos>", eos="<eos>", pad="<pad>", add_bos=True,
                     extra_special_tokens=["<image>"])
    hidden = TEXT["hidden_size"]
    config = PaliGemmaConfig(
        text_config=dict(model_type="gemma2", **TEXT, head_dim=16, query_pre_attn_scalar=16,
                         vocab_size=len(tok), sliding_window=32, final_logit_softcapping=30.0,
                         attn_logit_softcapping=50.0, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(model_type="siglip_vision_model", **VISION, image_size=size, patch_size=patch,
                           vision_use_head=False),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vocab_size=len(tok),
        projection_dim=hidden, hidden_size=hidden)
    _save_model(PaliGemmaForConditionalGeneration, config, out, seed)
    images = SiglipImageProcessorPil(size={"height": size, "width": size}, image_mean=HALF, image_std=HALF,
                                     resample=3)
    images.image_seq_length = seq  # the PaliGemma processor reads it from the image processor
    # The processor switches BOS off on the tokenizer it holds (it writes "<image>...<bos>prompt\n"
    # itself); the saved tokenizer keeps the release's add_bos_token = true.
    processor = PaliGemmaProcessor(image_processor=images, tokenizer=tok)
    tok.add_bos_token = True
    _save_processor(out, images, tok, "PaliGemmaProcessor", **_own_arguments(processor))


def _mistral_tokenizer(texts, template):
    """The Llama-style Mistral tokenizer: <unk>, <s>, </s> first, then the control tokens; BOS
    prepended."""
    return _tokenizer(texts, ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[IMG]", "<pad>",
                              "[IMG_BREAK]", "[IMG_END]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"], [],
                      unk="<unk>", bos="<s>", eos="</s>", pad="<pad>", add_bos=True, template=template)


def _mistral_text(tokenizer) -> dict:
    return dict(model_type="mistral", **TEXT, head_dim=12, vocab_size=len(tokenizer), rope_theta=1000000000.0,
                sliding_window=None, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)


def _pixtral_images(longest_edge: int, patch: int):
    from transformers import PixtralImageProcessorPil

    return PixtralImageProcessorPil(size={"longest_edge": longest_edge},
                                    patch_size={"height": patch, "width": patch},
                                    image_mean=CLIP_MEAN, image_std=CLIP_STD)


def _pixtral_arguments(patch: int, merge: int) -> dict:
    return {"patch_size": patch, "spatial_merge_size": merge, "image_token": "[IMG]",
            "image_break_token": "[IMG_BREAK]", "image_end_token": "[IMG_END]"}


def _build_mistral3(out: Path, texts: list[str], seed: int) -> None:
    """Mistral Small 3.1: Pixtral tower with 7 px patches up to 42 px, 2x2 patch merger, so an
    image is (h / 14) x (w / 14) [IMG] tokens, each row closed by [IMG_BREAK], the last by [IMG_END]."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    size, patch, merge = 42, 7, 2
    tok = _mistral_tokenizer(texts, MISTRAL_TEMPLATE)
    config = Mistral3Config(
        text_config=_mistral_text(tok),
        vision_config=dict(model_type="pixtral", **VISION, image_size=size, patch_size=patch),
        image_token_index=tok.convert_tokens_to_ids("[IMG]"), spatial_merge_size=merge,
        vision_feature_layer=-1, multimodal_projector_bias=False, tie_word_embeddings=False)
    _save_model(Mistral3ForConditionalGeneration, config, out, seed)
    # Resized to multiples of patch * merge even without the processor (which passes that itself),
    # so the merger's 2x2 grid always fits.
    _save_processor(out, _pixtral_images(size, patch * merge), tok, "PixtralProcessor",
                    **_pixtral_arguments(patch, merge))


def _build_pixtral(out: Path, texts: list[str], seed: int) -> None:
    """Pixtral-12B: model_type llava over a Pixtral tower (7 px patches up to 35 px) and a mistral
    text model; no patch merger (spatial_merge_size 1), every patch one [IMG] token."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    size, patch = 35, 7
    tok = _mistral_tokenizer(texts, MISTRAL_TEMPLATE)
    config = LlavaConfig(
        text_config=_mistral_text(tok),
        vision_config=dict(model_type="pixtral", **VISION, image_size=size, patch_size=patch),
        image_token_index=tok.convert_tokens_to_ids("[IMG]"), image_seq_length=1,
        projector_hidden_act="gelu", vision_feature_layer=-1, vision_feature_select_strategy="full",
        multimodal_projector_bias=True, tie_word_embeddings=False)
    _save_model(LlavaForConditionalGeneration, config, out, seed)
    _save_processor(out, _pixtral_images(size, patch), tok, "PixtralProcessor", **_pixtral_arguments(patch, 1))


_BUILDERS = {"llava_onevision": _build_llava_onevision, "internvl": _build_internvl, "gemma3": _build_gemma3,
             "paligemma": _build_paligemma, "mistral3": _build_mistral3, "qwen3_vl": _build_qwen3_vl,
             "pixtral": _build_pixtral}
