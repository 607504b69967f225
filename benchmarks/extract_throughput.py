"""Throughput of object extraction: end to end vs forward-only vs a plain sequential loop.

Builds the architecture with random weights (no download), renders JPEG images of the
synthetic data set, and runs the real code path (fgvr.extract.extract_split, the adapter of
the family). Prints one JSON line: images/s for each mode, the first-batch wait and the steady
rate after it (separately), peak GPU memory, the device.

End to end runs as the workflow does: the adapter comes without weights, extract_split starts
its preprocessing workers and then builds the model, and the clock starts once the model is
ready. ``late_start`` repeats it with the model built first (workers fork from the big
process, as before), to show what starting them early buys.

    python benchmarks/extract_throughput.py --family idefics2 --scale tiny            # CPU smoke run
    python benchmarks/extract_throughput.py --family idefics2 --scale full --images 2048 \\
        --batch-size 64 --num-workers 12                                              # one H100/H200

``--scale full`` is the Idefics2-8B architecture (SigLIP-so400m, 64-latent perceiver,
Mistral-7B) at its default processor settings, in bfloat16 on the GPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from fgvr.datasets.synthetic import ATTRIBUTES, draw_bird  # noqa: E402
from fgvr.extract import extract_split  # noqa: E402
from fgvr.models import load_adapter  # noqa: E402
from fgvr.models.loading import pick_device  # noqa: E402
from fgvr.models.demo import build_demo  # noqa: E402
from fgvr.models.families import BY_NAME  # noqa: E402
from fgvr.models.mllm import MLLMAdapter  # noqa: E402
from fgvr.models.tokenizer import train_tokenizer  # noqa: E402

IDEFICS2_8B = dict(
    vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                       patch_size=14, image_size=980),
    perceiver_config=dict(hidden_size=4096, resampler_n_latents=64, resampler_depth=3, resampler_n_heads=16,
                          resampler_head_dim=96, num_key_value_heads=4),
    text_config=dict(model_type="mistral", vocab_size=32003, hidden_size=4096, intermediate_size=14336,
                     num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                     max_position_embeddings=32768, sliding_window=4096),
)


def render_images(folder: Path, n: int, size: int) -> pd.DataFrame:
    """n JPEGs (a few distinct birds, repeated): realistic decode cost, cheap to make."""
    rng = np.random.default_rng(0)
    combos = [{a: list(v)[i % len(v)] for a, v in ATTRIBUTES.items()} for i in range(8)]
    paths = []
    for i in range(min(n, 32)):
        image, _ = draw_bird(combos[i % len(combos)], size, rng)
        paths.append(folder / f"{i:05d}.jpg")
        image.save(paths[-1], quality=90)
    rows = [{"image_id": f"{i:05d}", "path": str(paths[i % len(paths)]), "label": i % 8, "width": size,
             "height": size} for i in range(n)]
    return pd.DataFrame(rows)


def scratch_images(tmp: Path, n: int, scale: str) -> pd.DataFrame:
    """n rendered JPEGs in tmp/images, at the size a scale's model takes (378 px full, 64 px tiny)."""
    (tmp / "images").mkdir()
    return render_images(tmp / "images", n, 378 if scale == "full" else 64)


class RandomIdefics2(MLLMAdapter):
    """The Idefics2-8B architecture with random weights, built (not loaded) by load_weights."""

    def load_weights(self):
        from transformers import Idefics2Config, Idefics2ForConditionalGeneration

        if self.model is None:
            config = Idefics2Config(**IDEFICS2_8B, image_token_id=32001)
            config._attn_implementation = "sdpa"
            with self.device:
                self.model = Idefics2ForConditionalGeneration(config).to(torch.bfloat16).eval()
        return self


def full_idefics2(device: torch.device) -> RandomIdefics2:
    from transformers import Idefics2ImageProcessorPil

    tokenizer = train_tokenizer(["a photo of a bird"], "<s> $A")
    adapter = RandomIdefics2("idefics2-8b-random", None, Idefics2ImageProcessorPil(do_image_splitting=False),
                             tokenizer, device, torch.bfloat16)
    adapter.family, adapter.trust_remote_code = BY_NAME["idefics2"], False  # what load_adapter sets
    return adapter


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="idefics2")
    parser.add_argument("--kind", default="mllm")
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=None, help="rendered image side (default 64 tiny, 378 full)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--forward-repeats", type=int, default=5)
    args = parser.parse_args()
    device = pick_device("auto")
    size = args.image_size or (378 if args.scale == "full" else 64)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        manifest = render_images(tmp / "images", args.images, size)
        if args.scale == "full":
            if args.family != "idefics2":
                raise SystemExit("--scale full is defined for idefics2 (Idefics2-8B)")
            adapter = full_idefics2(device).load_weights()
        else:
            build_demo(args.kind, tmp / "model", ["a photo of a bird"], 64, family=args.family)
            adapter = load_adapter(tmp / "model", args.kind)
        from fgvr.extract import load_image
        batch = adapter.preprocess([load_image(p) for p in manifest["path"][:args.batch_size]])
        adapter.encode_images(batch)  # warm-up (kernels, allocator)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        forward = timed(lambda: [adapter.encode_images(batch) for _ in range(args.forward_repeats)], device)
        forward_ips = args.forward_repeats * args.batch_size / forward

        def run(model, workers, name):
            stats = {}
            extract_split(model, manifest, tmp / f"{name}.h5", "bench", batch_size=args.batch_size,
                          num_workers=workers, progress=False, stats=stats)
            return stats

        late = run(adapter, args.num_workers, "late")  # weights first, then the workers fork
        del adapter, batch  # one model in memory at a time
        if device.type == "cuda":
            torch.cuda.empty_cache()
        lazy = full_idefics2(device) if args.scale == "full" else load_adapter(tmp / "model", args.kind, weights=False)
        early = run(lazy, args.num_workers, "early")  # as the workflow runs: workers first, then the weights
        plain = run(lazy, 0, "plain")
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
        "family": args.family, "scale": args.scale, "dtype": str(lazy.dtype).removeprefix("torch."),
        "images": args.images, "image_size": size, "batch_size": args.batch_size, "num_workers": args.num_workers,
        "forward_only_img_s": round(forward_ips, 1), "end_to_end_img_s": round(early["end_to_end_img_s"], 1),
        "steady_img_s": round(early["steady_img_s"], 1), "first_batch_wait_s": round(early["first_batch_wait_s"], 2),
        "late_start_end_to_end_img_s": round(late["end_to_end_img_s"], 1),
        "late_start_first_batch_wait_s": round(late["first_batch_wait_s"], 2),
        "plain_loop_img_s": round(plain["end_to_end_img_s"], 1),
        "end_to_end_vs_forward": round(early["end_to_end_img_s"] / forward_ips, 3),
        "end_to_end_vs_plain": round(early["end_to_end_img_s"] / plain["end_to_end_img_s"], 2),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
