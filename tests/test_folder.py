"""The `folder` loader: root/{train,test}/{class name}/*.jpg, your own images."""
from __future__ import annotations

import pytest
from official_fixtures import jpeg_bytes

from fgvr import datasets
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError


def build(root, layout):
    """layout: {split: {class folder: number of images}}"""
    for split, classes in layout.items():
        for name, n in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"img{i}.{'png' if i % 2 else 'JPG'}").write_bytes(jpeg_bytes(0, (8 + i, 6)))
            (folder / "notes.txt").write_text("not an image")
    return root


LAYOUT = {"train": {"Red_Bird": 3, "Blue Bird": 2}, "test": {"Red_Bird": 1, "Blue Bird": 2}}


def test_folder_layout_becomes_the_manifest(tmp_path):
    root = build(tmp_path / "mybirds", LAYOUT)
    options = {"loader": "folder", "root": str(root)}
    assert datasets.splits("mybirds", options) == ["train", "test"]
    assert datasets.downloads("mybirds", options) == []
    datasets.prepare("mybirds", options, tmp_path / "out", progress=False)
    manifest, classes = read_manifest(tmp_path / "out" / "manifest.csv"), read_classes(tmp_path / "out" / "classes.csv")
    assert classes[["class_name", "raw_name"]].values.tolist() == [["Blue Bird", "Blue Bird"], ["Red Bird", "Red_Bird"]]
    assert manifest["split"].value_counts().to_dict() == {"train": 5, "test": 3}
    assert manifest.groupby("class_name").size().to_dict() == {"Blue Bird": 4, "Red Bird": 4}
    assert not manifest["path"].str.endswith(".txt").any()
    assert manifest["path"].str.startswith(str(root)).all()  # used in place, not copied
    assert "test/Red_Bird/img0.JPG" in manifest["image_id"].tolist()
    sizes = manifest.set_index("image_id")[["width", "height"]]
    assert sizes.loc["train/Red_Bird/img2.JPG"].tolist() == [10, 6]
    assert sizes.loc["test/Blue Bird/img1.png"].tolist() == [9, 6]


def test_val_split_when_asked(tmp_path):
    root = build(tmp_path / "r", {**LAYOUT, "val": {"Red_Bird": 1, "Blue Bird": 1}})
    with pytest.raises(FgvrError, match=r"r/val: a val split is there but not asked for; set `val: true`"):
        datasets.prepare("r", {"loader": "folder", "root": str(root)}, tmp_path / "out", progress=False)
    options = {"loader": "folder", "root": str(root), "val": True}
    assert datasets.splits("r", options) == ["train", "val", "test"]
    datasets.prepare("r", options, tmp_path / "out", progress=False)
    assert read_manifest(tmp_path / "out" / "manifest.csv", "val").shape[0] == 2


@pytest.mark.parametrize("breakage, message", [
    (lambda root: (root / "train" / "Empty").mkdir(), r"train/Empty: empty class folder"),
    (lambda root: (root / "test" / "Red_Bird" / "img0.JPG").write_bytes(b"junk"),
     r"image .*test/Red_Bird/img0.JPG: cannot be read"),
    (lambda root: __import__("shutil").rmtree(root / "test"), r"/test: missing split folder"),
])
def test_bad_folders_are_named(tmp_path, breakage, message):
    root = build(tmp_path / "r", LAYOUT)
    breakage(root)
    with pytest.raises(FgvrError, match=message):
        datasets.prepare("r", {"loader": "folder", "root": str(root)}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "manifest.csv").exists()
