import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from fgvr import plan
from fgvr.io import FgvrError
from fgvr.probe import Standardiser, fit_logistic, holdout, linear_probe, probe_stores
from fgvr.store import Store


def blobs(n_per_class, classes, dim, spread, seed, centre_seed=None):
    """Gaussian classes; draws with the same ``centre_seed`` share their class centres."""
    centres = np.random.default_rng(seed if centre_seed is None else centre_seed).normal(size=(classes, dim)) * 3
    rng = np.random.default_rng(seed + 1000)
    y = np.repeat(np.arange(classes), n_per_class)
    return centres[y] + rng.normal(scale=spread, size=(len(y), dim)), y


def test_separable_classes_are_found():
    x, y = blobs(30, 5, 16, 1.0, 0)
    tx, ty = blobs(10, 5, 16, 1.0, 1, centre_seed=0)
    result = linear_probe(x, y, tx, ty)
    assert result["accuracy"] > 0.9 and result["chance"] == pytest.approx(0.2)
    assert set(result["per_class_accuracy"]) == set(range(5))


def test_noise_stays_near_chance():
    rng = np.random.default_rng(1)
    x, tx = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    y, ty = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    assert linear_probe(x, y, tx, ty)["accuracy"] < 0.35


@pytest.mark.parametrize("C", [0.01, 0.3, 10.0])
def test_agrees_with_sklearn_at_the_same_C(C):
    """scikit-learn is the independent reference: the same objective at the same C, on the same
    L2-normalised, standardised features, gives the same test accuracy (within 0.5 points)."""
    x, y = blobs(40, 8, 40, 6.0, 3)  # overlapping classes: the accuracy depends on C
    tx, ty = blobs(150, 8, 40, 6.0, 4, centre_seed=3)
    reference = make_pipeline(Normalizer(), StandardScaler(), LogisticRegression(C=C, tol=1e-8, max_iter=10000))
    expected = reference.fit(x, y).score(tx, ty)
    result = linear_probe(x, y, tx, ty, Cs=[C])
    assert abs(result["accuracy"] - expected) <= 0.005
    assert result["C"] == C and result["selection"]["val_source"] == "none (one C)" and result["n_train"] == len(y)
    # the solution itself, not only its accuracy: same weights at a tight tolerance
    scale = Standardiser(x)
    ours = fit_logistic(scale(x), y, C, tol=1e-6)
    sk = reference[-1]
    assert ours.converged
    assert np.abs(ours.coef - sk.coef_.T).max() <= 2e-3 * np.abs(sk.coef_).max()
    assert (ours.predict(scale(tx)) == sk.predict(reference[:-1].transform(tx))).mean() >= 0.99


def test_chosen_C_is_the_val_argmax():
    x, y = blobs(40, 6, 30, 5.0, 5)
    tx, ty = blobs(40, 6, 30, 5.0, 6, centre_seed=5)
    Cs = [10.0, 1e-4, 0.01, 1.0]
    result = linear_probe(x, y, tx, ty, Cs=Cs, val_fraction=0.2, seed=3)
    grid = result["selection"]["grid"]
    assert [g["C"] for g in grid] == sorted(Cs)
    scores = [g["val_accuracy"] for g in grid]
    assert len(set(scores)) > 1  # the choice matters here
    assert result["C"] == grid[int(np.argmax(scores))]["C"]  # first of the best: the smaller C on ties
    assert result["n_val"] == 6 * 8 and result["n_train"] == 6 * 32 and result["n_test"] == len(ty)
    assert result["selection"]["val_source"] == "stratified 0.2 of train, seed 3"


def test_chosen_C_matches_sklearn_selection():
    """Choosing C with sklearn on the same held-out split picks the same C."""
    x, y = blobs(40, 6, 30, 5.0, 5)
    tx, ty = blobs(40, 6, 30, 5.0, 6, centre_seed=5)
    Cs = [1e-4, 1e-3, 0.01, 0.1, 1.0]
    kept, held = holdout(y, 0.15, 0)
    sk_scores = [make_pipeline(Normalizer(), StandardScaler(), LogisticRegression(C=C, max_iter=5000))
                 .fit(x[kept], y[kept]).score(x[held], y[held]) for C in Cs]
    result = linear_probe(x, y, tx, ty, Cs=Cs)
    ours = [g["val_accuracy"] for g in result["selection"]["grid"]]
    assert np.allclose(ours, sk_scores, atol=1.5 / len(held))  # at most one val image apart
    assert result["C"] == Cs[int(np.argmax(sk_scores))]


def test_official_val_split_is_used():
    """With a val split, C is chosen on it (not on a share of train), and train is fit whole.
    Train is imbalanced and separable; the val images all belong to the majority class but lie
    at another class's centre: only the strongest regularisation (near the class prior) gets
    them right, while a held-out share of train prefers the weak regularisation."""
    x, y = blobs(20, 4, 10, 0.5, 7)
    x, y = np.concatenate([x, x[y == 0][:10] + 0.01]), np.concatenate([y, np.zeros(10, int)])
    tx, ty = blobs(10, 4, 10, 0.5, 8, centre_seed=7)
    vx = blobs(5, 4, 10, 0.5, 9, centre_seed=7)[0][15:]  # class 3's place ...
    vy = np.zeros(len(vx), int)  # ... labelled 0, the majority class
    Cs = [1e-6, 10.0]
    without = linear_probe(x, y, tx, ty, Cs=Cs)
    with_val = linear_probe(x, y, tx, ty, val_x=vx, val_y=vy, Cs=Cs)
    assert without["C"] == 10.0 and without["selection"]["val_source"].startswith("stratified")
    assert with_val["C"] == 1e-6 and with_val["selection"]["val_source"] == "official val split"
    assert [g["val_accuracy"] for g in with_val["selection"]["grid"]] == [1.0, 0.0]
    assert with_val["n_val"] == len(vy) and with_val["n_train"] == len(y)
    assert without["n_val"] + without["n_train"] == len(y)


def test_probe_stores_reads_the_val_store(tmp_path):
    x, y = blobs(20, 3, 8, 1.0, 10)
    vx, vy = blobs(4, 3, 8, 1.0, 11, centre_seed=10)
    tx, ty = blobs(6, 3, 8, 1.0, 12, centre_seed=10)

    def store(name, features, labels):
        return Store(tmp_path / name, labels, np.arange(len(labels)).astype(str), {"objects": {"k": features}})

    out = probe_stores(store("train.h5", x, y), store("test.h5", tx, ty), store("val.h5", vx, vy), Cs=[0.01, 1.0])
    r = out["results"]["objects"]["k"]
    assert (r["n_train"], r["n_val"], r["n_test"]) == (60, 12, 18)
    assert r["selection"]["val_source"] == "official val split"
    assert out["settings"]["Cs"] == [0.01, 1.0] and out["settings"]["val_fraction"] == 0.15
    alone = probe_stores(store("train.h5", x, y), store("test.h5", tx, ty), Cs=[0.01, 1.0])["results"]["objects"]["k"]
    assert (alone["n_train"], alone["n_val"]) == (51, 9)


def test_holdout_is_stratified_seeded_and_deterministic():
    y = np.repeat(np.arange(5), [30, 20, 10, 3, 1])
    kept, held = holdout(y, 0.15, seed=0)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(y)))
    assert [int((y[held] == c).sum()) for c in range(5)] == [5, 3, 2, 1, 0]  # round(0.15 n), >= 1, never the last
    assert all((y[kept] == c).any() for c in range(5))
    again = holdout(y, 0.15, seed=0)
    assert np.array_equal(held, again[1]) and np.array_equal(kept, again[0])
    assert not np.array_equal(held, holdout(y, 0.15, seed=1)[1])
    with pytest.raises(FgvrError, match="val_fraction"):
        holdout(y, 1.5, seed=0)


def test_seeded_and_repeatable():
    x, y = blobs(20, 4, 8, 3.0, 2)
    tx, ty = blobs(10, 4, 8, 3.0, 3, centre_seed=2)
    assert linear_probe(x, y, tx, ty, seed=5) == linear_probe(x, y, tx, ty, seed=5)


def test_convergence_is_recorded():
    x, y = blobs(40, 6, 30, 4.0, 13)
    scale = Standardiser(x)
    short = fit_logistic(scale(x), y, C=10.0, max_iter=3, tol=1e-8)
    assert short.converged is False and short.n_iter == 3 and short.grad_max > 1e-8
    full = fit_logistic(scale(x), y, C=10.0, tol=1e-4)
    assert full.converged is True and full.grad_max <= 1e-4
    result = linear_probe(x, y, x, y, Cs=[0.01, 10.0], max_iter=3, tol=1e-8)
    assert result["solver"]["converged"] is False and result["solver"]["n_iter"] == 3
    assert [g["converged"] for g in result["selection"]["grid"]] == [False, False]
    assert linear_probe(x, y, x, y, Cs=[0.01, 10.0])["solver"]["converged"] is True


def test_one_class_is_an_error():
    with pytest.raises(FgvrError, match="fewer than two classes"):
        linear_probe(np.ones((4, 2)), np.zeros(4), np.ones((2, 2)), np.zeros(2))


def test_val_split_is_analysed_where_the_data_set_has_one():
    config = {"datasets": {"flowers102": {}, "synthetic": {}}, "analysis": {"tsne": {"split": "test"}},
              "models": {}}
    assert plan.analysed_splits(config, "flowers102") == ["train", "val", "test"]
    assert plan.analysed_splits(config, "synthetic") == ["train", "test"]


def test_a_twin_trained_on_val_and_its_base_choose_c_on_train():
    """Where a fine-tuned twin trained on a data set's val split (the official train + val), the
    probes of the twin and of its base hold out part of train for C instead of that split (the
    twin has seen it), and their val embeddings are not extracted; every other model, every
    other data set, and a base whose twin is not analysed keep the official val split."""
    tune = {"from": "base", "datasets": ["flowers102"], "splits": ["train", "val"]}
    config = {"datasets": {"flowers102": {}, "aircraft100": {}, "synthetic": {}},
              "analysis": {"tsne": {"split": "test"}, "mllm": ["base", "twin", "other"]},
              "models": {"base": {"kind": "mllm"}, "twin": {"kind": "mllm", "finetune": tune},
                         "other": {"kind": "mllm"}, "vlm": {"kind": "vlm"}}}
    for model in ("base", "twin"):
        assert not plan.probe_val(config, "flowers102", model)
        assert plan.analysed_splits(config, "flowers102", model) == ["train", "test"]
        assert plan.probe_val(config, "aircraft100", model)  # not trained on: its val split stays
    for model in ("other", "vlm"):
        assert plan.probe_val(config, "flowers102", model)
        assert plan.analysed_splits(config, "flowers102", model) == ["train", "val", "test"]
    assert not plan.probe_val(config, "synthetic", "other")  # no val split at all
    config["analysis"]["mllm"] = ["base", "other"]  # the twin only evaluated: no probe pair to compare
    assert plan.probe_val(config, "flowers102", "base")
    config["analysis"]["mllm"] = ["base", "twin", "other"]
    tune["splits"] = ["train"]
    assert plan.probe_val(config, "flowers102", "twin") and plan.probe_val(config, "flowers102", "base")
