"""Fine-tuning over several processes, on this CPU: torchrun starts N gloo processes through
fgvr.launch (what `finetune.gpus: N` starts on a machine without GPUs), each running the real
entry point (tests/dist_driver.py around fgvr.train.run.main).

The same global micro-batch split three ways (1 process at micro-batch 6, 2 at 3, 3 at 2) must
give the same step: per-step losses and the reduced gradients equal within float tolerance. The
data leave a short last batch (15 rows at a global batch of 12: a step of 12 rows in two
micro-batches, then one of 3 rows, split 3+0 and 2+1+0, so some processes hold none), and a
killed two-process run resumes to the weights of an uninterrupted one."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT
from loopback import ensure_loopback

from fgvr.datasets.manifest import read_manifest
from fgvr.launch import launch_command

DRIVER = ROOT / "tests" / "dist_driver.py"
ROWS, BATCH, MICRO = 15, 12, 6


@pytest.fixture(scope="module")
def files(small_dataset, tmp_path_factory):
    """15 training images of the small set with their descriptions, 2 hard negatives per class and
    4-way options: the files a stage reads."""
    root = tmp_path_factory.mktemp("data")
    manifest = read_manifest(small_dataset / "manifest.csv")
    train = manifest[manifest["split"] == "train"].iloc[:ROWS]
    train.to_csv(root / "manifest.csv", index=False)
    (root / "classes.csv").write_text((small_dataset / "classes.csv").read_text())
    (root / "descriptions.csv").write_text((small_dataset / "ground_truth.csv").read_text())
    n = 6
    pd.DataFrame([(c, r, (c + r) % n, 0.5) for c in range(n) for r in (1, 2)],
                 columns=["label", "rank", "negative_label", "similarity"]).to_csv(root / "negatives.csv", index=False)
    with open(root / "options.jsonl", "w") as f:
        for i, (image, y) in enumerate(zip(train["image_id"], train["label"])):
            options = [(y + j) % n for j in range(4)]
            answer = i % 4
            options[0], options[answer] = options[answer], options[0]
            f.write(json.dumps({"image_id": image, "label": int(y), "options": [int(o) for o in options],
                                "answer": answer}) + "\n")
    return {"name": "synthetic", "super": "bird", "question": "Which of these birds is shown in the image?",
            "splits": ["train"], "manifest": str(root / "manifest.csv"), "classes": str(root / "classes.csv"),
            "descriptions": str(root / "descriptions.csv"), "negatives": str(root / "negatives.csv"),
            "options": [str(root / "options.jsonl")]}


def train(tmp_path, checkpoint, files, stage, processes, name, dropout=0.0, stop_after=None, work=None):
    """One launch of stage ``stage`` over ``processes`` processes; returns (exit code, its folder)."""
    ensure_loopback()  # torchrun's rendezvous and gloo talk over 127.0.0.1
    run_dir = tmp_path / name
    # peft's LoRA init: the gaussian's larger A makes Adam's first update of near-zero gradients
    # (g / (sqrt(v) + eps)) turn float noise of other batch shapes into visible differences
    spec = {"stage": stage, "model": str(checkpoint), "out": str(run_dir / "model"),
            "work": str(work or run_dir / "work"), "datasets": [files], "entry": "test", "quantize": "none",
            "dtype": "float32", "device": "cpu", "lora": {"r": 4, "alpha": 8, "dropout": dropout, "init": "kaiming"},
            "settings": {"batch_size": BATCH, "micro_batch_size": MICRO // processes, "lr": 1e-3, "warmup_steps": 0,
                         "epochs": 1, "seed": 0, "gather": True, "checkpoint_every": 1, "collective_timeout_min": 1}}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec))
    args = [str(run_dir / "spec.json"), str(run_dir)] + ([str(stop_after)] if stop_after else [])
    cmd = launch_command(str(DRIVER), args, gpus=processes, env={})
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES=""))
    (run_dir / "output.txt").write_text(result.stdout + result.stderr)
    return result.returncode, run_dir


@pytest.mark.parametrize("stage, counts", [(1, (1, 2, 3)), (2, (1, 3))])
def test_processes_compute_the_single_process_step(stage, counts, demo_checkpoints, files, tmp_path):
    runs = {}
    for n in counts:
        code, folder = train(tmp_path, demo_checkpoints["mllm"], files, stage, n, f"p{n}")
        assert code == 0, (folder / "output.txt").read_text()[-3000:]
        runs[n] = (torch.load(folder / "grads.pt"), pd.read_csv(folder / "work" / "log.csv"))
    single_grads, single_log = runs[1]
    steps = 2 if stage == 1 else 3  # stage 1: 15 samples (12, then 3); stage 2: 30 questions (12, 12, 6)
    assert len(single_grads) == steps and single_log["step"].tolist() == list(range(1, steps + 1))
    for n in counts[1:]:
        grads, log = runs[n]
        for a, b in zip(single_grads, grads):
            assert a.abs().max() > 0
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)
        columns = [c for c in single_log.columns if c.startswith("loss")]
        np.testing.assert_allclose(log[columns].to_numpy(), single_log[columns].to_numpy(), rtol=1e-5)


def test_a_killed_run_over_two_processes_resumes_to_the_same_weights(demo_checkpoints, files, tmp_path):
    """With dropout (each process's RNG saved and restored as its own): stopped after step 1 and
    run again, it ends with the merged weights and the log of a run never stopped."""
    from safetensors.torch import load_file

    code, whole = train(tmp_path, demo_checkpoints["mllm"], files, 1, 2, "whole", dropout=0.2)
    assert code == 0, (whole / "output.txt").read_text()[-3000:]
    code, cut = train(tmp_path, demo_checkpoints["mllm"], files, 1, 2, "cut", dropout=0.2, stop_after=1)
    assert code != 0 and not (cut / "model").exists()
    assert torch.load(cut / "work" / "checkpoint.pt", weights_only=False)["step"] == 1
    code, cut = train(tmp_path, demo_checkpoints["mllm"], files, 1, 2, "cut", dropout=0.2)
    assert code == 0, (cut / "output.txt").read_text()[-3000:]
    assert "resuming at step 1 of 2" in (cut / "output.txt").read_text()
    a, b = load_file(whole / "model" / "model.safetensors"), load_file(cut / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0)
    pd.testing.assert_frame_equal(pd.read_csv(cut / "work/log.csv"), pd.read_csv(whole / "work/log.csv"))


def test_a_model_path_family_splits_over_processes_too(family_checkpoints, files, tmp_path):
    """Qwen2-VL (packed images, the model's own forward with M-RoPE positions) in stage 1 over 3
    processes, its last micro-batch split 2+1+0: the single-process step, as for Idefics2."""
    runs = {}
    for n in (1, 3):
        code, folder = train(tmp_path, family_checkpoints["qwen2_vl"], files, 1, n, f"qwen{n}")
        assert code == 0, (folder / "output.txt").read_text()[-3000:]
        runs[n] = (torch.load(folder / "grads.pt"), pd.read_csv(folder / "work" / "log.csv"))
    (single, single_log), (split, log) = runs[1], runs[3]
    assert len(single) == len(split) == 2
    for a, b in zip(single, split):
        assert a.abs().max() > 0  # other batch shapes through the vision tower: float noise only
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * float(a.abs().max()))
    columns = [c for c in single_log.columns if c.startswith("loss")]
    np.testing.assert_allclose(log[columns].to_numpy(), single_log[columns].to_numpy(), rtol=1e-5)
