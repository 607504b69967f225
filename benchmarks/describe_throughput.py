"""Throughput of the VQA step of ``descriptions: generate`` (the paper's step 2): every image
asked about every attribute, greedy, through the model's chat template.

Builds the architecture with random weights (no download), renders JPEGs of the synthetic data
set and runs the real code path (fgvr.describe's batching: all attributes of an image in one
generate call, through the adapter's ``generate``, sharing each image's visual tokens across its
questions; ``--no-share`` for the plain path). Prints one JSON line.

    python benchmarks/describe_throughput.py --scale tiny                            # CPU smoke run
    python benchmarks/describe_throughput.py --scale full --images 256 --batch-size 256   # one H100/H200

Target (issue 8): 6,000 images x 8 attributes within 20 minutes of one GPU at Idefics2-8B
scale, i.e. at least 5 images/s (40 questions/s) with 16-24 new tokens.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate_throughput import chat_mllm  # noqa: E402  (Idefics2-8B with random weights, or the tiny demo)
from extract_throughput import scratch_images  # noqa: E402
from fgvr.describe import PROMPTS  # noqa: E402
from fgvr.extract import load_image  # noqa: E402
from fgvr.models.loading import pick_device  # noqa: E402

ATTRIBUTES = ["bill shape", "wing color", "upperparts color", "breast pattern", "back color", "tail shape",
              "head pattern", "size"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--attributes", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--no-share", action="store_true",
                        help="every question carries its own copy of the image (the vision side runs per question)")
    args = parser.parse_args()
    device = pick_device("auto")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = scratch_images(tmp, args.images, args.scale)
        adapter = chat_mllm(args.scale, device, [PROMPTS["vqa"].format(attribute=a, super="bird") for a in ATTRIBUTES],
                            tmp / "model")
        attributes = ATTRIBUTES[:args.attributes]
        jobs = [(p, a) for p in manifest["path"] for a in attributes]
        prompts = [PROMPTS["vqa"].format(attribute=a, super="bird") for _, a in jobs]

        def pictures(chunk):  # as fgvr.describe passes them: one object per distinct image, unless --no-share
            loaded = {p: load_image(p) for p in dict.fromkeys(p for p, _ in chunk)}
            return [loaded[p].copy() if args.no_share else loaded[p] for p, _ in chunk]

        adapter.generate(prompts[:args.batch_size], pictures(jobs[:args.batch_size]), args.max_new_tokens)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for s in range(0, len(jobs), args.batch_size):
            chunk = jobs[s:s + args.batch_size]
            adapter.generate(prompts[s:s + args.batch_size], pictures(chunk), args.max_new_tokens)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    print(json.dumps({
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
        "scale": args.scale, "images": args.images, "attributes": len(attributes), "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "shared_visual_tokens": not args.no_share, "questions_s": round(len(jobs) / seconds, 1),
        "images_s": round(args.images / seconds, 2),
        "minutes_for_6000_images": round(6000 / (args.images / seconds) / 60, 1),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
    }))


if __name__ == "__main__":
    main()
