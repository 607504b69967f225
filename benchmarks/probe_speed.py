"""Speed of the linear probe at CUB's size, and its agreement with scikit-learn at the same C.

Draws CUB-shaped features (200 classes, 4,096-d, 5,994 train and 5,794 test images, no
official val split, so C is chosen on a stratified 15% of train), times the whole probe of one
representation (`fgvr.probe.linear_probe`: the C grid on the held-out split, then the refit on
train + val), and fits scikit-learn's LogisticRegression at the chosen C on the same
standardised features to compare test accuracy. Prints one JSON line.

    python benchmarks/probe_speed.py                      # CUB size, default grid, CPU (all threads)
    python benchmarks/probe_speed.py --no-sklearn         # timing only
    python benchmarks/probe_speed.py --sklearn-grid       # also sklearn at every C (minutes)
    python benchmarks/probe_speed.py --device cuda        # the torch solver on the GPU
    python benchmarks/probe_speed.py --classes 20 --train-per-class 20 --dim 256   # a quick smoke run

The features are synthetic (no CUB embeddings are available offline): class means in a
low-dimensional latent space, mapped to the full width by a fixed random projection, plus
within-class and isotropic noise, with a non-zero offset, like pooled hidden states. The noise
is set so that the probe lands near 55% test accuracy, with the best C inside the grid.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from fgvr.probe import DEFAULT_CS, Standardiser, linear_probe, holdout, pick_device  # noqa: E402


def features(classes: int, per_class: int, dim: int, seed: int, latent: int = 256, spread: float = 4.2):
    """(x, y) of CUB-like features; the class geometry depends on ``seed // 1000`` only, so
    train and test drawn with seeds 1 and 2 share it."""
    geo = np.random.default_rng(1234)
    means = geo.normal(size=(classes, latent))
    proj = geo.normal(size=(latent, dim)) / np.sqrt(latent)
    offset = geo.normal(size=dim) * 2
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per_class)
    z = means[y] + spread * rng.normal(size=(len(y), latent))
    x = z @ proj + offset + 0.5 * rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--train-per-class", type=int, default=30, help="CUB: 5,994 train images / 200 classes")
    ap.add_argument("--test-per-class", type=int, default=29, help="CUB: 5,794 test images / 200 classes")
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--Cs", type=float, nargs="+", default=list(DEFAULT_CS))
    ap.add_argument("--max-iter", type=int, default=2000)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference fit")
    ap.add_argument("--sklearn-tol", type=float, default=0, help="sklearn's tol (0: the same as --tol)")
    ap.add_argument("--sklearn-grid", action="store_true",
                    help="also fit sklearn at every C of the grid on the same held-out split (slow: one fit per C)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x, y = features(args.classes, args.train_per_class, args.dim, seed=1)
    tx, ty = features(args.classes, args.test_per_class, args.dim, seed=2)
    device = pick_device(args.device)
    if device.startswith("cuda"):  # CUDA context and kernels outside the timing
        linear_probe(x[:400], y[:400], tx[:10], ty[:10], Cs=[1.0], device=device)
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    result = linear_probe(x, y, tx, ty, Cs=args.Cs, max_iter=args.max_iter, tol=args.tol, device=device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {"device": device if device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads",
           "cpu": platform.processor() or platform.machine(),
           "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
           "n_train": result["n_train"], "n_val": result["n_val"], "n_test": result["n_test"], "dim": args.dim,
           "classes": args.classes, "Cs": args.Cs, "tol": args.tol, "grid_seconds": round(seconds, 1),
           "grid_cpu_seconds": round(cpu, 1), "load_avg_1min": round(os.getloadavg()[0], 2),
           "chosen_C": result["C"], "grid": result["selection"]["grid"], "refit": result["solver"],
           "accuracy": round(result["accuracy"], 4)}

    if not args.no_sklearn:
        from sklearn.linear_model import LogisticRegression

        # the same rows and standardisation as the probe's final fit (train + val = all of train)
        kept, held = holdout(y, 0.15, 0)
        order = np.concatenate([kept, held])
        scale = Standardiser(x[order])
        start = time.perf_counter()
        # sklearn's lbfgs, float64
        sk = LogisticRegression(C=result["C"], max_iter=args.max_iter, tol=args.sklearn_tol or args.tol)
        sk.fit(scale(x[order]).astype(np.float64), y[order])
        out["sklearn_seconds"] = round(time.perf_counter() - start, 1)
        out["sklearn_n_iter"] = int(np.max(sk.n_iter_))
        out["sklearn_accuracy"] = round(float(sk.score(scale(tx).astype(np.float64), ty)), 4)
        out["accuracy_gap_points"] = round(100 * abs(out["accuracy"] - out["sklearn_accuracy"]), 2)
    if args.sklearn_grid:
        from sklearn.linear_model import LogisticRegression

        kept, held = holdout(y, 0.15, 0)
        scale = Standardiser(x[kept])
        zk, zh = scale(x[kept]).astype(np.float64), scale(x[held]).astype(np.float64)
        sk_val = []
        for C in sorted(args.Cs):
            sk = LogisticRegression(C=C, max_iter=args.max_iter, tol=args.sklearn_tol or args.tol).fit(zk, y[kept])
            sk_val.append(float(sk.score(zh, y[held])))
        out["sklearn_grid_val_accuracy"] = [round(v, 4) for v in sk_val]
        out["sklearn_chosen_C"] = sorted(args.Cs)[int(np.argmax(sk_val))]
        ours = [g["val_accuracy"] for g in result["selection"]["grid"]]
        out["grid_val_gap_points_max"] = round(100 * max(abs(a - b) for a, b in zip(ours, sk_val)), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
