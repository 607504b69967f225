"""Stanford Dogs: 120 breeds (ImageNet synsets), official split train 12,000 / test 8,580.

Official files: images.tar (Images/n02085620-Chihuahua/n02085620_10074.jpg ...) and lists.tar
(file_list.mat, train_list.mat, test_list.mat: cell arrays ``file_list`` of paths relative to
Images/ and ``labels`` 1..120). Class names come from the folder names: "n02085782-Japanese_spaniel"
-> "Japanese Spaniel"; a few bare ImageNet names get their breed's full name ("Pembroke" ->
"Pembroke Welsh Corgi"); the raw folder name is kept.

The official evaluation's option file (FOCI) lists images/n02085620-Chihuahua/n02085620_1235.jpg
twice (8,580 entries, 8,579 distinct images), so one official test image is never evaluated
there; this loader keeps the official 8,580 (see fgvr.datasets.foci for reading that file).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

METADATA = ("train_list.mat", "test_list.mat")  # file_list.mat (both together) is not read
FULL_NAMES = {
    "Pembroke": "Pembroke Welsh Corgi", "Cardigan": "Cardigan Welsh Corgi", "Lhasa": "Lhasa Apso",
    "chow": "Chow Chow", "basset": "Basset Hound", "cairn": "Cairn Terrier", "Airedale": "Airedale Terrier",
    "clumber": "Clumber Spaniel", "malamute": "Alaskan Malamute", "Doberman": "Doberman Pinscher",
    "English_springer": "English Springer Spaniel", "Boston_bull": "Boston Terrier", "Leonberg": "Leonberger",
}


def breed(raw: str) -> str:
    """"n02085782-Japanese_spaniel" -> "Japanese_spaniel" (the name the FOCI files use)."""
    return raw.split("-", 1)[1] if raw[:1] == "n" and raw[1:9].isdigit() and "-" in raw else raw


def clean_name(raw: str) -> str:
    name = breed(raw)
    return FULL_NAMES.get(name) or official.words(name)


def _list(path: Path, split: str, root: Path, folder_of: dict[int, str]) -> list[Row]:
    data = official.load_mat(path, "file_list", "labels")
    files, labels = data["file_list"], data["labels"]
    if len(files) != len(labels):
        raise FgvrError(f"{path}: {len(files)} files but {len(labels)} labels")
    rows = []
    for i, (relative, label) in enumerate(zip(files, labels), 1):
        relative = str(relative.item() if hasattr(relative, "item") and relative.size == 1 else relative)
        label = official.integer(path, f"entry {i}", label)
        folder = relative.split("/")[0]
        if "/" not in relative:
            raise FgvrError(f"{path} entry {i}: {relative!r} is not 'synset-breed/file.jpg'")
        if folder_of.setdefault(label, folder) != folder:
            raise FgvrError(f"{path} entry {i}: label {label} is {folder!r} here but {folder_of[label]!r} elsewhere")
        rows.append(Row(Path(relative).stem, root / "Images" / relative, label - 1, split, f"{path} entry {i}"))
    return rows


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    official.need(root, "Images", "image folder")
    folder_of: dict[int, str] = {}
    train_list, test_list = (official.need(root, m) for m in METADATA)
    rows = _list(train_list, "train", root, folder_of) + _list(test_list, "test", root, folder_of)
    return rows, official.numbered_class_table(folder_of, clean_name, f"{train_list}, {test_list}")


SPEC = official.DatasetSpec(
    name="dogs120",
    title="Stanford Dogs",
    # sha256 as pinned by TensorFlow Datasets (url_checksums/stanford_dogs.txt)
    files={
        "images.tar": "sha256:a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58",
        "lists.tar": "sha256:34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c",
    },
    sizes={"images.tar": 793_579_520, "lists.tar": 481_280},
    url="http://vision.stanford.edu/aditya86/ImageNetDogs/{file}",
    root_layout="the folder holding Images/ and file_list.mat, train_list.mat, test_list.mat",
    splits=("train", "test"),
    counts={"train": 12000, "test": 8580},
    metadata=METADATA,
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
