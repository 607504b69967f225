import numpy as np
import pandas as pd
import pytest
from conftest import SMALL
from PIL import Image

from fgvr.datasets import synthetic
from fgvr.datasets.manifest import read_classes, read_descriptions, read_manifest
from fgvr.io import FgvrError


def test_attributes_are_rich_enough():
    assert len(synthetic.ATTRIBUTES) >= 4
    assert all(len(values) >= 3 for values in synthetic.ATTRIBUTES.values())


@pytest.mark.parametrize("n", [2, 12, 40])
def test_every_class_has_a_one_attribute_neighbour(n):
    combos = synthetic.choose_classes(n, np.random.default_rng(3))
    assert len({tuple(c.values()) for c in combos}) == n
    for a in combos:
        diffs = [sum(a[k] != b[k] for k in a) for b in combos if b is not a]
        assert min(diffs) == 1


def test_too_many_classes_is_a_clear_error():
    with pytest.raises(FgvrError, match="datasets.synthetic.classes"):
        synthetic.choose_classes(10_000, np.random.default_rng(0))


def test_manifest_contract(small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv")
    classes = read_classes(small_dataset / "classes.csv")
    per_class = SMALL["images_per_class"]
    n_test = round(per_class * SMALL["test_fraction"])
    assert list(manifest.columns) == ["image_id", "path", "label", "class_name", "split", "width", "height"]
    assert (manifest["width"] == SMALL["image_size"]).all() and (manifest["height"] == SMALL["image_size"]).all()
    assert (manifest["split"] == "test").sum() == SMALL["classes"] * n_test
    assert (manifest["split"] == "train").sum() == SMALL["classes"] * (per_class - n_test)
    assert sorted(classes["label"]) == list(range(SMALL["classes"]))
    # clean English names: no underscores or numbering; raw names keep the official-looking form
    assert not classes["class_name"].str.contains(r"[_\d]").any()
    assert classes["raw_name"].str.match(r"^\d{3}\.").all()
    merged = manifest.merge(classes, on="label", suffixes=("", "_c"))
    assert (merged["class_name"] == merged["class_name_c"]).all()
    with Image.open(manifest["path"].iloc[0]) as im:
        assert im.size == (SMALL["image_size"],) * 2 and im.mode == "RGB"


def test_descriptions_state_the_class_attributes(small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv")
    descriptions = read_descriptions(small_dataset / "ground_truth.csv")
    classes = read_classes(small_dataset / "classes.csv").set_index("label")
    assert set(descriptions) == set(manifest["image_id"])
    for _, row in manifest.head(20).iterrows():
        # the class description lists the same part phrases the image description must contain
        phrases = classes.loc[row["label"], "description"].removeprefix("It has ").rstrip(".")
        for phrase in phrases.replace(" and ", ", ").split(", "):
            assert phrase in descriptions[row["image_id"]]
        assert row["class_name"] not in descriptions[row["image_id"]]


def test_same_seed_same_data_other_seed_other_data(tmp_path, small_dataset):
    synthetic.prepare(dict(SMALL), tmp_path / "again", progress=False)
    a, b = (pd.read_csv(d / "manifest.csv") for d in (small_dataset, tmp_path / "again"))
    assert a.drop(columns="path").equals(b.drop(columns="path"))
    for pa, pb in zip(a["path"][:5], b["path"][:5]):
        assert np.array_equal(np.asarray(Image.open(pa)), np.asarray(Image.open(pb)))
    synthetic.prepare(dict(SMALL, seed=1), tmp_path / "other", progress=False)
    c = pd.read_csv(tmp_path / "other" / "classes.csv")
    assert not c["class_name"].equals(pd.read_csv(small_dataset / "classes.csv")["class_name"])


def test_images_vary_within_a_class(small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv")
    paths = manifest[manifest["label"] == 0]["path"].tolist()[:4]
    arrays = [np.asarray(Image.open(p), dtype=float) for p in paths]
    assert all(np.abs(arrays[0] - other).mean() > 5 for other in arrays[1:])


def test_no_training_image_left_is_an_error(tmp_path):
    with pytest.raises(FgvrError, match="test_fraction"):
        synthetic.prepare(dict(SMALL, images_per_class=2, test_fraction=0.9), tmp_path, progress=False)
    assert not (tmp_path / "manifest.csv").exists()
