"""Oxford-IIIT Pet: 37 cat and dog breeds, official split trainval 3,680 (here ``train``) / test 3,669.

Official files: images.tar.gz (images/Abyssinian_1.jpg ...) and annotations.tar.gz
(annotations/trainval.txt and test.txt: "Image CLASS-ID SPECIES BREED-ID" per line, '#' comments).
The raw class name is the image name without its number ("american_bulldog", cats capitalised
as "British_Shorthair"); the class name is "American Bulldog", "British Shorthair".
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

LISTS = {"train": "annotations/trainval.txt", "test": "annotations/test.txt"}  # the official trainval is `train`


def clean_name(raw: str) -> str:
    return official.words(raw)


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    official.need(root, "images", "image folder")
    raw_of: dict[int, str] = {}
    rows = []
    for split, relative in LISTS.items():
        path = official.need(root, relative)
        for number, fields in official.read_table(path, 2):
            name, class_id = fields[0], official.integer(path, f"line {number}", fields[1])
            raw = name.rsplit("_", 1)[0]
            if raw_of.setdefault(class_id, raw) != raw:
                raise FgvrError(f"{path} line {number}: class {class_id} is {raw!r} here but {raw_of[class_id]!r} "
                                "elsewhere")
            rows.append(Row(name, root / "images" / f"{name}.jpg", class_id - 1, split, f"{path} line {number}"))
    return rows, official.numbered_class_table(raw_of, clean_name, f"{root / LISTS['train']}, {root / LISTS['test']}")


SPEC = official.DatasetSpec(
    name="pets37",
    title="Oxford-IIIT Pet",
    # md5 as pinned by torchvision.datasets.OxfordIIITPet
    files={
        "images.tar.gz": "md5:5c4f3ee8e5d25df40f4fd59a7f44e54c",
        "annotations.tar.gz": "md5:95a8c909bbe2e81eed6a22bccdf3f68f",
    },
    url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/{file}",
    mirrors=("https://thor.robots.ox.ac.uk/pets/{file}",),
    root_layout="the folder holding images/ and annotations/ (trainval.txt, test.txt)",
    splits=("train", "test"),
    counts={"train": 3680, "test": 3669},
    metadata=tuple(LISTS.values()),
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
