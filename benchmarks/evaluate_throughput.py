"""Throughput of the 4-way multiple-choice evaluation (fgvr.evaluate), end to end from JPEG files.

Builds the architecture with random weights (no download), renders N JPEGs, writes a 4-way
options row per image, and runs the real evaluation loop (``fgvr.evaluate.evaluate_mllm``: JPEG
decoding and the processor in DataLoader workers, the family's chat template, left padding,
rows appended to the partial JSONL) three times: ``scoring: letters`` (one forward pass per
batch), ``scoring: generate`` (greedy, ``--max-new-tokens``) and ``scoring: names`` (four
teacher-forced answers per image, its visual tokens shared). Also times the forward pass alone on
one prepared batch (the ceiling of letters). Prints one JSON line.

    python benchmarks/evaluate_throughput.py --scale tiny                                   # CPU smoke run
    python benchmarks/evaluate_throughput.py --scale full --images 1024 --batch-size 32 --num-workers 12   # one H100/H200

Targets (issue 10) at Idefics2-8B scale (``--scale full``: random weights, bf16, no image
splitting, 64 visual tokens): letters at least 150 images/s, generate with 8 new tokens at least
40 images/s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_throughput import IDEFICS2_8B, scratch_images, timed  # noqa: E402
from fgvr import evaluate  # noqa: E402
from fgvr.prompts import question  # noqa: E402
from fgvr.extract import load_image  # noqa: E402
from fgvr.models import load_adapter  # noqa: E402
from fgvr.models.loading import pick_device  # noqa: E402
from fgvr.models.demo import IDEFICS2_CHAT, build_demo  # noqa: E402
from fgvr.models.families import BY_NAME  # noqa: E402
from fgvr.models.mllm import MLLMAdapter  # noqa: E402
from fgvr.models.tokenizer import train_tokenizer  # noqa: E402

NAMES = ["Black-footed Albatross", "Laysan Albatross", "Sooty Albatross", "Groove-billed Ani", "Crested Auklet",
         "Least Auklet", "Parakeet Auklet", "Rhinoceros Auklet"]


def full_idefics2(device: torch.device, texts: list[str]) -> MLLMAdapter:
    """The Idefics2-8B architecture, random weights, bf16, its processor without image splitting."""
    from transformers import (Idefics2Config, Idefics2ForConditionalGeneration, Idefics2ImageProcessorPil,
                              Idefics2Processor)

    tok = train_tokenizer(texts, "<s> $A", extra_special=["<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    config = Idefics2Config(**IDEFICS2_8B, image_token_id=tok.convert_tokens_to_ids("<image>"))
    config.text_config.vocab_size = max(config.text_config.vocab_size, len(tok))
    config._attn_implementation = "sdpa"
    with device:
        model = Idefics2ForConditionalGeneration(config).to(torch.bfloat16).eval()
    images = Idefics2ImageProcessorPil(do_image_splitting=False)
    adapter = MLLMAdapter("idefics2-8b-random", model, images, tok, device, torch.bfloat16)
    adapter.family, adapter.trust_remote_code = BY_NAME["idefics2"], False  # what load_adapter sets
    adapter._processor = Idefics2Processor(images, tok, image_seq_len=64, chat_template=IDEFICS2_CHAT)
    adapter._processor.tokenizer.padding_side = "left"
    return adapter


def chat_mllm(scale: str, device: torch.device, texts: list[str], folder: Path) -> MLLMAdapter:
    """The benchmarks' Idefics2: the 8B architecture (``full``), or the tiny demo checkpoint built in
    ``folder`` and loaded like any model (``tiny``); tokenizers learn ``texts``."""
    if scale == "full":
        return full_idefics2(device, texts)
    build_demo("mllm", folder, texts, 64)
    return load_adapter(folder, "mllm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--forward-repeats", type=int, default=5)
    args = parser.parse_args()
    device = pick_device("auto")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = scratch_images(tmp, args.images, args.scale)
        manifest = manifest.assign(split="test", class_name=[NAMES[y] for y in manifest["label"]])
        classes = pd.DataFrame({"label": range(len(NAMES)), "class_name": NAMES, "raw_name": NAMES})
        rows = [{"image_id": i, "label": int(y), "options": [int(y), (y + 1) % 8, (y + 3) % 8, (y + 5) % 8], "answer": 0}
                for i, y in zip(manifest["image_id"], manifest["label"])]
        jobs = evaluate.jobs_for("mc4-bench", manifest, classes, rows, "bird", question=question("cub200", "bird"))
        cloze = evaluate.jobs_for("mc4-bench", manifest, classes, rows, "bird", "names")
        texts = [jobs[0].prompt, cloze[0].prompt] + NAMES
        adapter = chat_mllm(args.scale, device, texts, tmp / "model")
        first = adapter.chat_batch([j.prompt for j in jobs[:args.batch_size]],
                                   [load_image(j.path) for j in jobs[:args.batch_size]])
        letters = list(evaluate.LETTERS)
        adapter.choice_scores(None, None, letters, inputs=first)  # warm-up
        adapter.generate_batch(first, args.max_new_tokens)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        forward = timed(lambda: [adapter.choice_scores(None, None, letters, inputs=first)
                                 for _ in range(args.forward_repeats)], device)
        settings = {"scoring": "letters", "max_new_tokens": args.max_new_tokens, "open_max_new_tokens": 24, "seed": 0,
                    "parser": "foci"}
        rates = {}
        for scoring in ("letters", "generate", "names"):
            s = dict(settings, scoring=scoring)
            out = tmp / f"{scoring}.jsonl"
            asked = cloze if scoring == "names" else jobs
            seconds = timed(lambda: evaluate.evaluate_mllm(adapter, "mc4-bench", asked, classes, out, s, f"bench-{scoring}",
                                                           args.batch_size, args.num_workers, progress=False), device)
            rates[scoring] = args.images / seconds
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
        "scale": args.scale, "dtype": str(adapter.dtype).removeprefix("torch."), "images": args.images,
        "batch_size": args.batch_size, "num_workers": args.num_workers, "max_new_tokens": args.max_new_tokens,
        "prompt_tokens": int(first["attention_mask"].sum(1).max()),
        "forward_only_img_s": round(args.forward_repeats * len(first["input_ids"]) / forward, 1),
        "letters_img_s": round(rates["letters"], 1), "generate_img_s": round(rates["generate"], 1),
        "names_img_s": round(rates["names"], 1),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
        "load_1min": round(os.getloadavg()[0], 1), "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
