"""Object-category alignment (paper section 3.3): do objects land next to their category names?

For each representation that the object file and the category file share (an MLLM's llm.last /
llm.mean, a VLM's embed), with every vector L2-normalised:
- accuracy: how often an object's nearest category name (cosine) is its own class;
- cos_matched / cos_unmatched: mean cosine to the own class vs to the other classes, and
  their difference, the gap (near 0 means names carry no signal about the object);
- centroid_distance: distance between the mean object and the mean name vector (the
  modality gap: objects and names living in separate regions of the space).
"""
from __future__ import annotations

import numpy as np

from .io import FgvrError
from .store import Store


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def align(objects: np.ndarray, labels: np.ndarray, texts: np.ndarray, text_labels: np.ndarray) -> dict:
    columns = {int(l): i for i, l in enumerate(text_labels)}
    missing = sorted(set(int(l) for l in labels) - set(columns))
    if missing:
        raise FgvrError(f"alignment: labels {missing[:5]} have no category text")
    x, t = normalise(objects), normalise(texts)
    sims = x @ t.T
    own = np.array([columns[int(l)] for l in labels])
    matched = sims[np.arange(len(x)), own]
    unmatched = (sims.sum(1) - matched) / max(1, sims.shape[1] - 1)
    return {"accuracy": float((sims.argmax(1) == own).mean()), "chance": 1.0 / len(t),
            "cos_matched": float(matched.mean()), "cos_unmatched": float(unmatched.mean()),
            "gap": float((matched - unmatched).mean()),
            "centroid_distance": float(np.linalg.norm(x.mean(0) - t.mean(0)))}


def alignment_stores(objects: Store, categories: Store) -> dict:
    results = {}
    for group in ("names", "descriptions"):
        keys = sorted(set(objects.keys("objects")) & set(categories.keys(group)))
        if keys:
            results[group] = {k: align(objects.groups["objects"][k], objects.labels,
                                       categories.groups[group][k], categories.labels) for k in keys}
    if not results:
        raise FgvrError(f"{objects.path} and {categories.path} share no representation")
    return {"model": objects.attrs.get("model", ""), "demo": bool(objects.attrs.get("demo", False)),
            "n_objects": int(len(objects.labels)), "n_categories": int(len(categories.labels)), "results": results}
