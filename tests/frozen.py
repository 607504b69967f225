"""Outputs of every family's tiny checkpoint frozen in tests/data/frozen_families.npz: a guard
for refactors of fgvr.models (issue 18's generic adapter must give today's numbers).

Per family, on the small synthetic set's first two test images: the image-side representations;
for two texts the text-side ones; for an MLLM also the letter scores of one 4-way prompt and the
names scores of its open question. ``FGVR_FREEZE=1 pytest tests/test_families.py -k frozen``
rewrites the file (from a clean tree only: the numbers must come from the code before a change,
never after it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FROZEN = Path(__file__).parent / "data" / "frozen_families.npz"


def outputs(checkpoints: dict, small_dataset: Path) -> dict[str, np.ndarray]:
    """``family/what/key`` -> array, computed with the current code."""
    import torch

    from fgvr.datasets.manifest import read_classes, read_manifest
    from fgvr.extract import load_image
    from fgvr.models import load_adapter
    from fgvr.prompts import mc_prompt, open_prompt, question

    manifest = read_manifest(small_dataset / "manifest.csv", "test")
    names = read_classes(small_dataset / "classes.csv")["class_name"].tolist()
    images = [load_image(p) for p in manifest["path"][:2]]
    texts = names[:2]
    out = {}
    for family, path in sorted(checkpoints.items()):
        adapter = load_adapter(path)
        torch.manual_seed(0)
        for key, value in adapter.encode_images(adapter.preprocess(images)).items():
            out[f"{family}/images/{key}"] = value.numpy()
        for key, value in adapter.encode_texts(texts).items():
            out[f"{family}/texts/{key}"] = value.numpy()
        if adapter.kind == "mllm":
            prompt = mc_prompt(names[:4], question("synthetic", "bird"))
            out[f"{family}/letters"] = adapter.choice_scores([prompt], images[:1], list("ABCD")).numpy()
            batch = adapter.answer_encode([open_prompt("bird")] * 4, images[:1] * 4, names[:4])
            out[f"{family}/names"] = adapter.answer_scores(batch).numpy()
    return out
