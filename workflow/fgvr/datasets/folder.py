"""Your own images: ``root/{train,test}/{class name}/*.jpg`` (``root/val/`` too with ``val: true``).

Every folder under a split is a class; its name is the class name (underscores read as spaces;
the folder name is kept as raw_name). Labels follow the sorted class names of all splits.
Images are the files with an image extension anywhere under a class folder; paths point into
``root`` (nothing is copied). An empty class folder, a missing split folder, or a file that does
not open as an image stops the preparation with an error naming it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

TITLE = "image folder"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def splits(options: dict) -> list[str]:
    return ["train", "val", "test"] if options.get("val", False) else ["train", "test"]


def clean_name(raw: str) -> str:
    return " ".join(raw.replace("_", " ").split())


def parse(root: Path, split_names: list[str], extensions=EXTENSIONS) -> tuple[list[Row], pd.DataFrame]:
    if not root.is_dir():
        raise FgvrError(f"{root}: not a folder (expected {root}/train/<class>/*.jpg and {root}/test/<class>/*.jpg)")
    if "val" not in split_names and (root / "val").is_dir():
        raise FgvrError(f"{root / 'val'}: a val split is there but not asked for; set `val: true` to use it")
    suffixes = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    found: dict[str, list[tuple[str, Path]]] = {}
    for split in split_names:
        folder = root / split
        if not folder.is_dir():
            raise FgvrError(f"{folder}: missing split folder (expected {folder}/<class name>/*.jpg)")
        class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not class_dirs:
            raise FgvrError(f"{folder}: no class folders")
        for class_dir in class_dirs:
            images = sorted(p for p in class_dir.rglob("*")
                            if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith("."))
            if not images:
                raise FgvrError(f"{class_dir}: empty class folder (no {'/'.join(suffixes)} files)")
            found.setdefault(split, []).extend((class_dir.name, p) for p in images)
    raw_names = sorted({name for pairs in found.values() for name, _ in pairs})
    label_of = {name: i for i, name in enumerate(raw_names)}
    rows = [Row(f"{split}/{p.relative_to(root / split).as_posix()}", p, label_of[name], split, f"{root / split}")
            for split in split_names for name, p in found[split]]
    classes = official.class_table(raw_names, clean_name)
    clash = classes["class_name"][classes["class_name"].duplicated()]
    if len(clash):
        raise FgvrError(f"{root}: two class folders both read as {clash.iloc[0]!r}; rename one")
    return rows, classes


def prepare(options: dict, out_dir, data: str | Path | None = None, progress: bool = True,
            **_context) -> pd.DataFrame:
    """``data``: the root folder as the workflow declared it (default: ``options["root"]``)."""
    split_names = splits(options)
    if "root" not in options:
        raise FgvrError("the folder loader needs `root`: a folder holding train/<class>/*.jpg and test/<class>/*.jpg")
    rows, classes = parse(Path(data or options["root"]), split_names, options.get("extensions", EXTENSIONS))
    return official.finish(rows, classes, out_dir, TITLE, split_names, {}, progress)
