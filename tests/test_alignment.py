import numpy as np
import pytest

from fgvr.alignment import align
from fgvr.io import FgvrError


def test_aligned_objects_find_their_names():
    rng = np.random.default_rng(0)
    names = rng.normal(size=(6, 32))
    labels = np.repeat(np.arange(6), 10)
    objects = names[labels] + rng.normal(scale=0.3, size=(60, 32))
    result = align(objects, labels, names, np.arange(6))
    assert result["accuracy"] == 1.0 and result["chance"] == pytest.approx(1 / 6)
    assert result["gap"] > 0.5 and result["cos_matched"] > result["cos_unmatched"]


def test_misaligned_space_has_no_gap_and_a_distant_centroid():
    """Objects in a region of their own, unrelated to the names: the paper's finding."""
    rng = np.random.default_rng(1)
    names = rng.normal(size=(6, 32)) + 5 * np.eye(32)[0]
    labels = np.repeat(np.arange(6), 20)
    objects = rng.normal(size=(120, 32)) - 5 * np.eye(32)[0]
    result = align(objects, labels, names, np.arange(6))
    assert abs(result["gap"]) < 0.1 and result["accuracy"] < 0.4
    assert result["centroid_distance"] > 1.0


def test_label_without_text_is_an_error():
    with pytest.raises(FgvrError, match=r"labels \[2\] have no category text"):
        align(np.ones((3, 4)), np.array([0, 1, 2]), np.ones((2, 4)), np.array([0, 1]))
