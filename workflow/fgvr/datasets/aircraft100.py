"""FGVC-Aircraft 2013b: 100 aircraft variants, official split train 3,334 / val 3,333 / test 3,333.

Official file: fgvc-aircraft-2013b.tar.gz, extracting to fgvc-aircraft-2013b/data/ with images/,
variants.txt (one variant per line, in label order) and images_variant_{train,val,test}.txt
("1025794 707-320"; names may hold spaces: "1514522 Cessna 172"). Variant names are the class
names ("707-320", "F-16A/B"). The images keep their 20-pixel copyright banner, as in
torchvision and the FOCI evaluation. No established loader publishes a checksum for the
archive: the sha256 of the first download is recorded and later downloads must match it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

SPLITS = ("train", "val", "test")


def clean_name(raw: str) -> str:
    return raw.strip()


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    data = official.need(root, "data", "data folder")
    official.need(data, "images", "image folder")
    variants_txt = official.need(data, "variants.txt")
    variants = [" ".join(fields) for _, fields in official.read_table(variants_txt, 1)]
    label_of = {v: i for i, v in enumerate(variants)}
    rows = []
    for split in SPLITS:
        path = official.need(data, f"images_variant_{split}.txt")
        for number, (image, variant) in official.read_table(path, 2, maxsplit=1):
            if variant not in label_of:
                raise FgvrError(f"{path} line {number}: variant {variant!r} is not in {variants_txt}")
            rows.append(Row(image, data / "images" / f"{image}.jpg", label_of[variant], split, f"{path} line {number}"))
    return rows, official.class_table(variants, clean_name)


SPEC = official.DatasetSpec(
    name="aircraft100",
    title="FGVC-Aircraft",
    files={"fgvc-aircraft-2013b.tar.gz": None},  # no published checksum: recorded at the first download
    url="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/{file}",
    extracted="fgvc-aircraft-2013b",
    root_layout="the folder fgvc-aircraft-2013b holding data/ (images/, variants.txt, images_variant_*.txt)",
    splits=SPLITS,
    counts={"train": 3334, "val": 3333, "test": 3333},
    metadata=("data/variants.txt", *(f"data/images_variant_{s}.txt" for s in SPLITS)),
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
