"""Tiny random-init checkpoints of the real architectures, built offline for the demo and tests.

They are saved with save_pretrained (config, safetensors weights, tokenizer, image processor,
processor), so every later stage loads them through the same from_pretrained path as a real
checkpoint. Their numbers mean nothing about real models: config.json says so (``fgvr_demo``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .tokenizer import train_tokenizer

IDEFICS2_SPECIAL = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def build_idefics2(out: Path, texts: list[str], image_size: int, seed: int = 0, hidden: int = 64,
                   layers: int = 2, latents: int = 16) -> None:
    """A tiny Idefics2: SigLIP-style vision encoder, perceiver connector, Mistral LLM."""
    from transformers import (Idefics2Config, Idefics2ForConditionalGeneration, Idefics2ImageProcessorPil,
                              Idefics2Processor)

    tokenizer = train_tokenizer(texts, "<s> $A", extra_special=IDEFICS2_SPECIAL)
    tokenizer.image_token = "<image>"  # Idefics2Processor reads these when present
    tokenizer.image_boundary_token = "<fake_token_around_image>"
    tokenizer.image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    patch = max(4, image_size // 8)
    config = Idefics2Config(
        vision_config=dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                           num_attention_heads=2, image_size=image_size, patch_size=patch),
        perceiver_config=dict(hidden_size=hidden, resampler_n_latents=latents, resampler_depth=1,
                              resampler_n_heads=2, resampler_head_dim=16, num_key_value_heads=1),
        text_config=dict(model_type="mistral", vocab_size=len(tokenizer), hidden_size=hidden,
                         intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        image_token_id=tokenizer.image_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config.fgvr_demo = True
    _seed(seed)
    model = Idefics2ForConditionalGeneration(config).eval()
    image_processor = Idefics2ImageProcessorPil(size={"shortest_edge": image_size, "longest_edge": image_size},
                                                do_image_splitting=False)
    processor = Idefics2Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=latents)
    model.save_pretrained(out)
    processor.save_pretrained(out)


def build_siglip(out: Path, texts: list[str], image_size: int, seed: int = 0, hidden: int = 64,
                 layers: int = 2) -> None:
    """A tiny SigLIP dual encoder with its real image processor."""
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    tokenizer = train_tokenizer(texts, "$A </s>")
    patch = max(4, image_size // 8)
    common = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=2)
    config = SiglipConfig(
        text_config=dict(common, vocab_size=len(tokenizer), max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(common, image_size=image_size, patch_size=patch),
    )
    config.fgvr_demo = True
    _seed(seed)
    model = SiglipModel(config).eval()
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(out)
    processor.save_pretrained(out)


BUILDERS = {"mllm": build_idefics2, "vlm": build_siglip}


def build_demo(kind: str, out: str | Path, texts: list[str], image_size: int, seed: int = 0) -> Path:
    """Build the demo checkpoint of ``kind`` ('mllm' or 'vlm') into the folder ``out``."""
    out = Path(out)
    BUILDERS[kind](out, texts, image_size, seed=seed)
    return out
