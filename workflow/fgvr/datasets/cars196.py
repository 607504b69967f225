"""Stanford Cars: 196 make/model/year classes, official split train 8,144 / test 8,041.

Official files: cars_train.tgz (cars_train/), cars_test.tgz (cars_test/), car_devkit.tgz
(devkit/cars_meta.mat with the class names, devkit/cars_train_annos.mat) and
cars_test_annos_withlabels.mat, released later with the test labels (the devkit's
cars_test_annos.mat has none and is not used). The original host is gone: set `mirrors`, or
give `archive`/`root`. Train and test images share file names (00001.jpg is in both folders),
so image ids carry the split: "train_00001", "test_00001". Class names are English already
("AM General Hummer SUV 2000") and kept as they are.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

TEST_ANNOTATIONS = "cars_test_annos_withlabels.mat"
# some copies keep the labelled test annotations in devkit/: accepted there too
METADATA = ("devkit/cars_meta.mat", "devkit/cars_train_annos.mat", (TEST_ANNOTATIONS, f"devkit/{TEST_ANNOTATIONS}"))


def clean_name(raw: str) -> str:
    return raw.strip()


def _annotations(path: Path, split: str, root: Path, n_classes: int) -> list[Row]:
    records = official.load_mat(path, "annotations")["annotations"]
    fnames = official.struct_field(path, records, "fname")
    if "class" not in (records.dtype.names or ()):
        raise FgvrError(f"{path}: annotations carry no class labels (the {split} labels are in "
                        f"{TEST_ANNOTATIONS if split == 'test' else 'devkit/cars_train_annos.mat'})")
    labels = official.struct_field(path, records, "class")
    rows = []
    for i, (fname, cls) in enumerate(zip(fnames, labels), 1):
        fname, cls = str(fname), official.integer(path, f"entry {i}", cls)
        if not 1 <= cls <= n_classes:
            raise FgvrError(f"{path} entry {i}: class {cls} outside 1..{n_classes}")
        rows.append(Row(f"{split}_{Path(fname).stem}", root / f"cars_{split}" / fname, cls - 1, split,
                        f"{path} entry {i}"))
    return rows


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    meta, train_annos, test_annos = official.metadata_files(SPEC, root)
    official.need(meta.parent, meta.name)
    names = [str(n) for n in official.load_mat(meta, "class_names")["class_names"]]
    official.need(test_annos.parent, TEST_ANNOTATIONS)
    for folder in ("cars_train", "cars_test"):
        official.need(root, folder, "image folder")
    rows = (_annotations(official.need(train_annos.parent, train_annos.name), "train", root, len(names))
            + _annotations(test_annos, "test", root, len(names)))
    return rows, official.class_table(names, clean_name)


SPEC = official.DatasetSpec(
    name="cars196",
    title="Stanford Cars",
    # md5 as pinned by torchvision.datasets.StanfordCars (before its download was withdrawn)
    files={
        "cars_train.tgz": "md5:065e5b463ae28d29e77c1b4b166cfe61",
        "cars_test.tgz": "md5:4ce7ebf6a94d07f1952d94dd34c4d501",
        "car_devkit.tgz": "md5:c3b158d763b6e2245038c8ad08e45376",
        TEST_ANNOTATIONS: "md5:b0a2b23655a3edd16d84508592a98d10",
    },
    url="https://ai.stanford.edu/~jkrause/car196/{file}",
    mirrors=("https://ai.stanford.edu/~jkrause/cars/{file}",),  # where the devkit lived
    root_layout=("the folder holding devkit/ (cars_meta.mat, cars_train_annos.mat), cars_train/, cars_test/ "
                 "and cars_test_annos_withlabels.mat"),
    splits=("train", "test"),
    counts={"train": 8144, "test": 8041},
    metadata=METADATA,
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
