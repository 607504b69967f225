import numpy as np
import pytest

from fgvr.io import FgvrError
from fgvr.probe import linear_probe


def blobs(n_per_class, classes, dim, spread, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    y = np.repeat(np.arange(classes), n_per_class)
    return centres[y] + rng.normal(scale=spread, size=(len(y), dim)), y


def test_separable_classes_are_found():
    x, y = blobs(30, 5, 16, 1.0, 0)
    tx, ty = blobs(10, 5, 16, 1.0, 0)  # same centres (same seed), fresh draws below
    tx = tx + np.random.default_rng(9).normal(scale=0.5, size=tx.shape)
    result = linear_probe(x, y, tx, ty)
    assert result["accuracy"] > 0.9 and result["chance"] == pytest.approx(0.2)
    assert set(result["per_class_accuracy"]) == set(range(5))


def test_noise_stays_near_chance():
    rng = np.random.default_rng(1)
    x, tx = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    y, ty = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    assert linear_probe(x, y, tx, ty)["accuracy"] < 0.35


def test_seeded_and_repeatable():
    x, y = blobs(20, 4, 8, 3.0, 2)
    tx, ty = blobs(10, 4, 8, 3.0, 3)
    assert linear_probe(x, y, tx, ty, seed=5) == linear_probe(x, y, tx, ty, seed=5)


def test_one_class_is_an_error():
    with pytest.raises(FgvrError, match="fewer than two classes"):
        linear_probe(np.ones((4, 2)), np.zeros(4), np.ones((2, 2)), np.zeros(2))
