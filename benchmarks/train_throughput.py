"""Training throughput of the two fine-tuning stages (fgvr.train), samples per second.

Builds the architecture with random weights (no download), renders JPEGs of the synthetic data
set, and runs the real training loop (fgvr.train.loop.train_stage: peft LoRA on the LLM and
connector, AdamW, linear schedule, gradient accumulation to the global batch, clipping, images
prepared in DataLoader workers) with paper.yaml's recipe (the official defaults: pooled hard
negatives, two temperatures, LM loss over the whole sequence) for a fixed number of optimizer
steps per stage. Stage 1 computes the four losses of the paper (L_gen on the description, L_oa,
L_ac, L_cc with 3 hard negatives per sample); stage 2 the LM loss on open and 4-way
multiple-choice questions. Prints one JSON line: samples/s of each stage (after a warm-up
step), peak GPU memory, the device.

    python benchmarks/train_throughput.py --scale tiny                                  # CPU smoke run
    python benchmarks/train_throughput.py --scale full --steps 20 --micro-batch-size 8 \
        --num-workers 8 --gradient-checkpointing true                                   # one H100/H200

Targets (issue 9), Idefics2-8B scale, bf16 LoRA on one H100/H200: stage 1 at least 18
samples/s, stage 2 at least 43 samples/s, peak memory within 80 GiB (a plain peft LoRA loop
measured 12.8 and 30.4 samples/s).
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

from evaluate_throughput import NAMES, chat_mllm  # noqa: E402
from extract_throughput import scratch_images  # noqa: E402
from fgvr.prompts import LETTERS, mc_prompt, open_prompt, question  # noqa: E402
from fgvr.models.loading import pick_device  # noqa: E402
from fgvr.train.data import Stage1Sample, Stage2Sample  # noqa: E402
from fgvr.train.loop import Settings, train_stage  # noqa: E402

DESCRIPTION = "This bird has a {} body, plain wings, a rounded head and a forked tail."
COLOURS = ["red", "blue", "golden", "violet", "green", "brown", "black", "white"]


def samples(paths: list[str], labels: list[int], n: int):
    """n stage-1 and n stage-2 samples over the rendered images."""
    one, two = [], []
    for i in range(n):
        path, y = paths[i % len(paths)], labels[i % len(labels)]
        negatives = [(y + j) % len(NAMES) for j in (1, 3, 5)]
        one.append(Stage1Sample(path, y, DESCRIPTION.format(COLOURS[y]), NAMES[y], "bird",
                                [NAMES[k] for k in negatives], [DESCRIPTION.format(COLOURS[k]) for k in negatives],
                                negatives))
        options = [y, *negatives]
        two.append(Stage2Sample(path, open_prompt("bird"), NAMES[y]) if i % 2 else
                   Stage2Sample(path, mc_prompt([NAMES[k] for k in options], question("cub200", "bird")), LETTERS[0]))
    return one, two


def timed_stage(adapter, data, stage: int, settings: Settings, lora: dict, device) -> dict:
    """Samples/s over all steps but the first (warm-up: allocator, kernels), and peak memory."""
    marks = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):  # the clock reads at every optimizer step
        out = original(self, *args, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return out

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    torch.optim.AdamW.step = step
    try:
        with tempfile.TemporaryDirectory() as work:
            peft_model = train_stage(adapter, data, stage, settings, lora, work, progress=False)
    finally:
        torch.optim.AdamW.step = original
    adapter.model = peft_model.unload()  # the next stage starts from the plain model again
    seconds = marks[-1] - marks[0]
    return {f"stage{stage}_samples_s": round(settings.batch_size * (len(marks) - 1) / seconds, 2),
            f"stage{stage}_peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if device.type == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per stage (the first is warm-up)")
    parser.add_argument("--stage1-batch-size", type=int, default=64)
    parser.add_argument("--stage2-batch-size", type=int, default=128)
    parser.add_argument("--micro-batch-size", type=int, default=8, help="per process (paper.yaml: 8)")
    parser.add_argument("--gradient-checkpointing", choices=["auto", "true", "false"], default="auto",
                        help="auto: on from a billion parameters (the full scale)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader processes preparing the images")
    parser.add_argument("--autocast", choices=["none", "float16", "bfloat16"], default="none",
                        help="mixed precision (paper.yaml: float16, the official Trainer's fp16)")
    parser.add_argument("--contrastive-group", type=int, default=0,
                        help="stage 1's rows that see each other (paper.yaml: 2; 0: the micro-batch)")
    args = parser.parse_args()
    device = pick_device("auto")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = scratch_images(tmp, 64, args.scale)
        n = max(args.stage1_batch_size, args.stage2_batch_size) * args.steps
        one, two = samples(manifest["path"].tolist(), manifest["label"].tolist(), n)
        texts = [s.description for s in one[:8]] + NAMES + [two[0].prompt, two[1].prompt]
        adapter = chat_mllm(args.scale, device, texts, tmp / "model")
        lora = {"r": 8, "alpha": 8, "dropout": 0.2}
        checkpointing = {"auto": "auto", "true": True, "false": False}[args.gradient_checkpointing]
        common = dict(micro_batch_size=args.micro_batch_size, warmup_steps=1, epochs=1, checkpoint_every=10**9,
                      gradient_checkpointing=checkpointing, num_workers=args.num_workers, autocast=args.autocast)
        result = timed_stage(adapter, one[:args.stage1_batch_size * args.steps], 1,
                             Settings(batch_size=args.stage1_batch_size, contrastive_group=args.contrastive_group,
                                      **common), lora, device)
        result |= timed_stage(adapter, two[:args.stage2_batch_size * args.steps], 2,
                              Settings(batch_size=args.stage2_batch_size, **common), lora, device)
    print(json.dumps({
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
        "scale": args.scale, "steps": args.steps, "stage1_batch_size": args.stage1_batch_size,
        "stage2_batch_size": args.stage2_batch_size, "micro_batch_size": args.micro_batch_size,
        "gradient_checkpointing": args.gradient_checkpointing, "num_workers": args.num_workers,
        "autocast": args.autocast, "contrastive_group": args.contrastive_group, **result}))


if __name__ == "__main__":
    main()
