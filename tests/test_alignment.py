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


def test_exact_values_on_an_orthonormal_construction():
    """Names e_0 .. e_3 (orthonormal); object i of class c is cos(a) e_c + sin(a) e_4 (a direction
    no name has), object j of class c is e_c + e_{c+1 mod 4} normalised. Worked out by hand:
    class-c objects of the first kind have cosine cos(a) with their own name and 0 with the other
    three; the second kind 1/sqrt(2) with their own and with the next name, 0 with the other two."""
    a = 0.3
    e = np.eye(5)
    names, labels_t = e[:4], np.arange(4)
    first = np.array([np.cos(a) * e[c] + np.sin(a) * e[4] for c in range(4)])
    second = np.array([(e[c] + e[(c + 1) % 4]) / np.sqrt(2) for c in range(4)])
    objects, labels = np.vstack([first, second]), np.concatenate([labels_t, labels_t])
    result = align(objects * 3.0, labels, names * 2.0, labels_t)  # scale does not matter: vectors are normalised
    h = 1 / np.sqrt(2)
    assert result["cos_matched"] == pytest.approx((4 * np.cos(a) + 4 * h) / 8, abs=1e-12)
    # unmatched: the mean over the three other names, then over objects (first kind 0, second h / 3)
    assert result["cos_unmatched"] == pytest.approx((4 * 0 + 4 * h / 3) / 8, abs=1e-12)
    assert result["gap"] == pytest.approx(result["cos_matched"] - result["cos_unmatched"], abs=1e-12)
    assert result["gap"] == pytest.approx((np.cos(a) + h - h / 3) / 2, abs=1e-12)
    # nearest name: first kind its own; second kind a tie (own and next) broken to the lower index
    own_wins = 4 + sum(c < (c + 1) % 4 for c in range(4))  # class 3's tie goes to name 0
    assert result["accuracy"] == pytest.approx(own_wins / 8, abs=1e-12)
    mean_object = np.vstack([first, second]).mean(0)
    assert result["centroid_distance"] == pytest.approx(np.linalg.norm(mean_object - e[:4].mean(0)), abs=1e-12)
    assert result["chance"] == 0.25
