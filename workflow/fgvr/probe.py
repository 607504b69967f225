"""Linear probes (paper Table 1): how much class information a representation holds.

The paper does not publish its probe settings; ours, documented and seeded: features are
L2-normalised, standardised on the training split, and fed to an L2-regularised multinomial
logistic regression (lbfgs, C=1.0 by default) fit on train and scored on test.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from .io import FgvrError
from .store import Store


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> dict:
    """Fit on train, score on test; returns accuracy, chance level and per-class accuracy."""
    if len(np.unique(train_y)) < 2:
        raise FgvrError("linear probe: the training split holds fewer than two classes")
    model = make_pipeline(Normalizer(), StandardScaler(),
                          LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    model.fit(train_x, train_y)
    pred = model.predict(test_x)
    classes = np.unique(test_y)
    per_class = {int(c): float((pred[test_y == c] == c).mean()) for c in classes}
    return {"accuracy": float((pred == test_y).mean()), "chance": 1.0 / len(np.unique(train_y)),
            "n_train": int(len(train_y)), "n_test": int(len(test_y)), "per_class_accuracy": per_class}


def probe_stores(train: Store, test: Store, C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> dict:
    """Probe every representation of every group (objects, descriptions) the two files share."""
    results = {}
    for group in ("objects", "descriptions"):
        keys = sorted(set(train.keys(group)) & set(test.keys(group)))
        if keys:
            results[group] = {k: linear_probe(train.groups[group][k], train.labels, test.groups[group][k],
                                              test.labels, C=C, max_iter=max_iter, seed=seed) for k in keys}
    if not results:
        raise FgvrError(f"{train.path} and {test.path} share no representation to probe")
    return {"model": test.attrs.get("model", ""), "demo": bool(test.attrs.get("demo", False)),
            "settings": {"C": C, "max_iter": max_iter, "seed": seed,
                         "features": "L2-normalised, standardised on train"},
            "results": results}
