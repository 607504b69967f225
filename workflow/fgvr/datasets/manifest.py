"""The data contract every loader writes and every later stage reads (DESIGN.md).

manifest.csv      image_id,path,label,class_name,split,width,height
                  (width, height: the image's size in pixels, read once here so later
                  stages can plan batches without opening every image)
classes.csv       label,class_name,raw_name,description   (description may be empty)
ground_truth.csv image_id,description                   (annotated per-image descriptions; may hold no rows)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError, write_csv

MANIFEST_COLUMNS = ["image_id", "path", "label", "class_name", "split", "width", "height"]
SIZE_COLUMNS = ("width", "height")
CLASSES_COLUMNS = ["label", "class_name", "raw_name", "description"]
DESCRIPTION_COLUMNS = ["image_id", "description"]
SPLITS = ("train", "val", "test")


def write_dataset(out_dir: str | Path, manifest: pd.DataFrame, classes: pd.DataFrame,
                  descriptions: pd.DataFrame | None = None) -> None:
    """Check the three tables against the contract, then write them (manifest last)."""
    out_dir = Path(out_dir)
    if descriptions is None:
        descriptions = pd.DataFrame(columns=DESCRIPTION_COLUMNS)
    if "description" not in classes:
        classes = classes.assign(description="")
    check_tables(manifest, classes[CLASSES_COLUMNS], descriptions, source=out_dir)
    write_csv(out_dir / "classes.csv", classes[CLASSES_COLUMNS])
    write_csv(out_dir / "ground_truth.csv", descriptions[DESCRIPTION_COLUMNS])
    write_csv(out_dir / "manifest.csv", manifest[MANIFEST_COLUMNS])


def check_tables(manifest: pd.DataFrame, classes: pd.DataFrame, descriptions: pd.DataFrame, source) -> None:
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest]
    if missing:
        raise FgvrError(f"{source}: manifest lacks columns {missing}")
    if manifest.empty:
        raise FgvrError(f"{source}: the data set has no images")
    bad_split = sorted(set(manifest["split"]) - set(SPLITS))
    if bad_split:
        raise FgvrError(f"{source}: unknown split(s) {bad_split}; expected {list(SPLITS)}")
    _check_sizes(manifest, source)
    dup = manifest["image_id"][manifest["image_id"].duplicated()]
    if len(dup):
        raise FgvrError(f"{source}: image_id {dup.iloc[0]!r} appears twice")
    known = dict(zip(classes["label"], classes["class_name"]))
    wrong = manifest[[known.get(lab) != name for lab, name in zip(manifest["label"], manifest["class_name"])]]
    if len(wrong):
        row = wrong.iloc[0]
        raise FgvrError(f"{source}: image {row['image_id']!r} has label {row['label']} / class "
                        f"{row['class_name']!r}, which classes.csv does not pair")
    orphans = set(descriptions["image_id"]) - set(manifest["image_id"])
    if orphans:
        raise FgvrError(f"{source}: descriptions name unknown image(s), e.g. {sorted(orphans)[0]!r}")


def _check_sizes(manifest: pd.DataFrame, source) -> None:
    """width and height are whole, positive pixel counts on every row."""
    for col in SIZE_COLUMNS:
        values = pd.to_numeric(manifest[col], errors="coerce")
        bad = values.isna() | (values <= 0) | (values != values.round())
        if bad.any():
            row = manifest[bad].iloc[0]
            value = row[col].item() if hasattr(row[col], "item") else row[col]  # numpy scalar -> plain
            raise FgvrError(f"{source}: image {row['image_id']!r} has {col} {value!r}; expected a positive "
                            "whole number of pixels")


def read_manifest(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Read manifest.csv (optionally one split), checking its columns; width and height are ints."""
    path = Path(path)
    if not path.exists():
        raise FgvrError(f"{path}: manifest not found")
    frame = pd.read_csv(path, dtype={"image_id": str, "path": str, "class_name": str, "split": str})
    missing = [c for c in MANIFEST_COLUMNS if c not in frame]
    if missing:
        raise FgvrError(f"{path}: missing columns {missing}; expected {MANIFEST_COLUMNS} (a manifest from an "
                        "older version: rerun prepare_dataset)")
    _check_sizes(frame, path)
    frame = frame.astype({col: "int64" for col in SIZE_COLUMNS})
    if split is not None:
        frame = frame[frame["split"] == split].reset_index(drop=True)
        if frame.empty:
            raise FgvrError(f"{path}: no images in split {split!r}")
    return frame


def read_classes(path: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"class_name": str, "raw_name": str, "description": str}, keep_default_na=False)
    return frame.sort_values("label").reset_index(drop=True)


def read_descriptions(path: str | Path) -> dict[str, str]:
    """image_id -> description (empty when the data set has none)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(frame["image_id"], frame["description"]))
