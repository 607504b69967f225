"""CUB-200-2011 (Caltech-UCSD Birds): 200 species, official split train 5,994 / test 5,794.

Official file: CUB_200_2011.tgz (CaltechDATA), extracting to CUB_200_2011/ with images/,
images.txt (id path), image_class_labels.txt (id class), train_test_split.txt (id 1=train/0=test)
and classes.txt (class "001.Black_footed_Albatross"). Class names are made English:
"Black_footed_Albatross" -> "Black-footed Albatross" (an underscore before a lower-case word
is a hyphen), with the possessives and spellings of the AOU names ("Brewer's Blackbird",
"Chuck-will's-widow", "Arctic Tern"); the raw name is kept.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

EXCEPTIONS = {
    "Chuck_will_Widow": "Chuck-will's-widow",
    "Whip_poor_Will": "Whip-poor-will",
    "Artic_Tern": "Arctic Tern",
    "Forsters_Tern": "Forster's Tern",
    "Brewer_Blackbird": "Brewer's Blackbird",
    "Brandt_Cormorant": "Brandt's Cormorant",
    "Heermann_Gull": "Heermann's Gull",
    "Anna_Hummingbird": "Anna's Hummingbird",
    "Clark_Nutcracker": "Clark's Nutcracker",
    "Scott_Oriole": "Scott's Oriole",
    "Baird_Sparrow": "Baird's Sparrow",
    "Brewer_Sparrow": "Brewer's Sparrow",
    "Harris_Sparrow": "Harris's Sparrow",
    "Henslow_Sparrow": "Henslow's Sparrow",
    "Le_Conte_Sparrow": "Le Conte's Sparrow",
    "Lincoln_Sparrow": "Lincoln's Sparrow",
    "Nelson_Sharp_tailed_Sparrow": "Nelson's Sharp-tailed Sparrow",
    "Swainson_Warbler": "Swainson's Warbler",
    "Wilson_Warbler": "Wilson's Warbler",
    "Bewick_Wren": "Bewick's Wren",
}


def species(raw: str) -> str:
    """"001.Black_footed_Albatross" -> "Black_footed_Albatross" (the name the FOCI files use)."""
    return raw.split(".", 1)[1] if raw[:3].isdigit() and "." in raw else raw


def clean_name(raw: str) -> str:
    name = species(raw)
    if name in EXCEPTIONS:
        return EXCEPTIONS[name]
    out = name[:1]
    for i in range(1, len(name)):
        ch = name[i]
        if ch == "_":
            out += "-" if name[i + 1:i + 2].islower() else " "
        else:
            out += ch
    return out


METADATA = ("classes.txt", "images.txt", "image_class_labels.txt", "train_test_split.txt")


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    classes_txt, images_txt, labels_txt, split_txt = (official.need(root, m) for m in METADATA)
    official.need(root, "images", "image folder")
    class_rows = official.read_table(classes_txt, 2, maxsplit=1)
    class_ids = [official.integer(classes_txt, f"line {n}", f[0]) for n, f in class_rows]
    label_of_class = {cid: i for i, cid in enumerate(class_ids)}
    classes = official.class_table([f[1] for _, f in class_rows], clean_name)

    def by_id(path: Path) -> dict[int, tuple[int, str]]:
        return {official.integer(path, f"line {n}", f[0]): (n, f[1]) for n, f in official.read_table(path, 2, 1)}

    labels, split_of = by_id(labels_txt), by_id(split_txt)
    rows = []
    for number, (image_id, relative) in official.read_table(images_txt, 2, maxsplit=1):
        iid = official.integer(images_txt, f"line {number}", image_id)
        for table, path in ((labels, labels_txt), (split_of, split_txt)):
            if iid not in table:
                raise FgvrError(f"{path}: no entry for image {iid} ({images_txt} line {number})")
        line, cid = labels[iid]
        cid = official.integer(labels_txt, f"line {line}", cid)
        if cid not in label_of_class:
            raise FgvrError(f"{labels_txt} line {line}: class {cid} is not in {classes_txt}")
        line, is_train = split_of[iid]
        if is_train not in ("0", "1"):
            raise FgvrError(f"{split_txt} line {line}: expected 1 (train) or 0 (test), got {is_train!r}")
        rows.append(Row(str(iid), root / "images" / relative, label_of_class[cid],
                        "train" if is_train == "1" else "test", f"{images_txt} line {number}"))
    return rows, classes


SPEC = official.DatasetSpec(
    name="cub200",
    title="CUB-200-2011",
    # md5 as pinned by the widely used PyTorch CUB loaders (e.g. TDeVries/cub2011_dataset)
    files={"CUB_200_2011.tgz": "md5:97eceeb196236b17998738112f37df78"},
    sizes={"CUB_200_2011.tgz": 1_150_585_339},
    url="https://data.caltech.edu/records/65de6-vp158/files/{file}?download=1",
    extracted="CUB_200_2011",
    root_layout=("the folder CUB_200_2011 holding images/, images.txt, image_class_labels.txt, "
                 "train_test_split.txt, classes.txt"),
    splits=("train", "test"),
    counts={"train": 5994, "test": 5794},
    metadata=METADATA,
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
