"""What the loaders of the paper's six data sets share: where the official files come from,
reading their metadata with errors that name the file and line, and checking the images.

A loader module (cub200.py, ...) declares its official files and their checksums (``FILES``),
where they are downloaded from (``URL``, ``MIRRORS``), the folder the archives extract to
(``EXTRACTED``), its splits and official counts, and a ``parse(root)`` that reads the
official layout into rows and classes. Three ways in, per config entry:

- ``root``: the official layout, already extracted; used in place.
- ``archive``: a folder holding the official files under their official names; extracted
  (safely, once) into ``resources/datasets/{dataset}/``.
- neither: the files the download rule fetched into ``resources/downloads/{dataset}/``,
  then extracted the same way.

Manifest paths point at the extracted files (or into ``root``): images are never copied.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import archive as archives
from .download import Remote, location
from .manifest import write_dataset

log = logging.getLogger("fgvr.datasets")


@dataclass
class Row:
    image_id: str
    path: Path
    label: int
    split: str
    source: str  # the metadata file (and line or entry) that lists the image, for messages


# ---------------------------------------------------------------- where the files come from

def source(options: dict) -> str:
    """``root``, ``archive`` or ``download``: how a config entry gives its data set."""
    if "root" in options and "archive" in options:
        raise FgvrError("give `root` or `archive`, not both")
    return "root" if "root" in options else "archive" if "archive" in options else "download"


def remotes(module, options: dict) -> list[Remote]:
    """The official files of ``module`` with the locations to try, configured ones first."""
    templates = [options.get("url", module.URL), *options.get("mirrors", getattr(module, "MIRRORS", []))]
    sizes = getattr(module, "SIZES", {})
    return [Remote(file, tuple(location(t, file) for t in templates), checksum, sizes.get(file))
            for file, checksum in module.FILES.items()]


def downloads_dir(name: str, resources: str | Path = "resources") -> Path:
    return Path(resources) / "downloads" / name


def extracted_dir(name: str, resources: str | Path = "resources") -> Path:
    return Path(resources) / "datasets" / name


def record_path(module, file: str, resources: str | Path = "resources") -> Path:
    """Where the sha256 of the first download of a file without a published checksum is kept."""
    return Path(resources) / "checksums" / module.NAME / f"{file}.sha256"


def resolve_root(module, options: dict, name: str, resources: str | Path = "resources",
                 progress: bool = True) -> Path:
    """The folder holding the official layout, extracting archives first when needed."""
    how = source(options)
    if how == "root":
        root = Path(options["root"])
        if not root.is_dir():
            raise FgvrError(f"datasets.{name}.root: {root} is not a folder (expected {module.ROOT_LAYOUT})")
        return root
    folder = Path(options["archive"]) if how == "archive" else downloads_dir(name, resources)
    files = [folder / f for f in module.FILES]
    missing = [f for f in files if not f.is_file()]
    if missing:
        why = (f"datasets.{name}.archive must be a folder holding the official files {list(module.FILES)}"
               if how == "archive" else "the download rule should have fetched it; rerun snakemake")
        raise FgvrError(f"{missing[0]}: missing ({why})")
    target = archives.materialize(files, extracted_dir(name, resources), progress=progress)
    return target / module.EXTRACTED if module.EXTRACTED else target


# ---------------------------------------------------------------- reading metadata

def need(root: Path, relative: str, what: str = "metadata file") -> Path:
    path = root / relative
    if not path.exists():
        raise FgvrError(f"{path}: missing {what}")
    return path


def read_table(path: Path, fields: int, maxsplit: int | None = None) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a whitespace-separated text file; blank and '#' lines skipped."""
    out = []
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise FgvrError(f"{path}: cannot be read ({err})") from err
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, maxsplit if maxsplit is not None else -1)
        if len(parts) < fields:
            raise FgvrError(f"{path} line {number}: expected {fields} fields, got {line!r}")
        out.append((number, parts))
    if not out:
        raise FgvrError(f"{path}: no entries")
    return out


def integer(path: Path, where: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FgvrError(f"{path} {where}: {value!r} is not an integer") from None


def load_mat(path: Path, *keys: str) -> dict:
    """The variables ``keys`` of a MATLAB file (scipy.io.loadmat, squeezed)."""
    import numpy as np
    from scipy.io import loadmat

    if not path.exists():
        raise FgvrError(f"{path}: missing metadata file")
    try:
        data = loadmat(path, squeeze_me=True)
    except Exception as err:  # scipy raises ValueError, TypeError, MatReadError ... on a bad file
        raise FgvrError(f"{path}: not a readable .mat file ({type(err).__name__}: {err})") from err
    lacking = [k for k in keys if k not in data]
    if lacking:
        found = sorted(k for k in data if not k.startswith("__"))
        raise FgvrError(f"{path}: lacks {lacking[0]!r} (it holds {found})")
    return {k: np.atleast_1d(data[k]) for k in keys}


def struct_field(path: Path, records, field: str):
    names = records.dtype.names or ()
    if field not in names:
        raise FgvrError(f"{path}: annotations lack the field {field!r} (they have {list(names)})")
    return records[field]


# ---------------------------------------------------------------- class names

def capitalise(word: str) -> str:
    """First letter upper case, the rest untouched ("black-and-tan" -> "Black-and-tan", "EntleBucher" kept)."""
    return word[:1].upper() + word[1:]


def words(raw: str, sep: str = "_") -> str:
    return " ".join(capitalise(w) for w in raw.split(sep) if w)


def class_table(raw_names: list[str], clean) -> pd.DataFrame:
    return pd.DataFrame({"label": range(len(raw_names)), "class_name": [clean(r) for r in raw_names],
                         "raw_name": raw_names})


def numbered_class_table(raw_of: dict[int, str], clean, where: str) -> pd.DataFrame:
    """The class table of classes numbered 1..n in the metadata ``where`` (a gap is an error)."""
    n = max(raw_of)
    if set(raw_of) != set(range(1, n + 1)):
        odd = sorted(set(range(1, n + 1)) ^ set(raw_of))
        raise FgvrError(f"{where}: class numbers must run 1..{n}; {odd[:3]} break that")
    return class_table([raw_of[i] for i in range(1, n + 1)], clean)


# ---------------------------------------------------------------- images, counts, writing

def check_images(rows: list[Row], progress: bool = True) -> list[tuple[int, int]]:
    """Every listed image exists and opens as an image (its header is read, not decoded);
    returns each one's (width, height), in the order of ``rows``."""
    from PIL import Image, UnidentifiedImageError
    from tqdm.auto import tqdm

    for row in rows:
        if not os.path.isfile(row.path):
            raise FgvrError(f"{row.source} names the image {row.path}, which does not exist")
    sizes = []
    for row in tqdm(rows, desc="check images", unit=" images", disable=not progress, mininterval=1):
        try:
            with Image.open(row.path) as im:
                sizes.append(im.size)  # the header is parsed on open; no decoding
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise FgvrError(f"image {row.path}: cannot be read ({err}); listed in {row.source}") from err
    return sizes


def finish(module, rows: list[Row], classes: pd.DataFrame, out_dir, progress: bool = True) -> pd.DataFrame:
    """Check the rows (unique images, known labels, readable images) and write the tables."""
    seen: dict[str, str] = {}
    for row in rows:
        if row.image_id in seen:
            raise FgvrError(f"image {row.image_id!r} is listed twice: in {seen[row.image_id]} and in {row.source}")
        seen[row.image_id] = row.source
    labels = set(classes["label"])
    for row in rows:
        if row.label not in labels:
            raise FgvrError(f"{row.source}: class {row.label + 1} is not one of the {len(labels)} classes")
    sizes = check_images(rows, progress)
    names = dict(zip(classes["label"], classes["class_name"]))
    manifest = pd.DataFrame({"image_id": [r.image_id for r in rows], "path": [str(r.path) for r in rows],
                             "label": [r.label for r in rows], "class_name": [names[r.label] for r in rows],
                             "split": [r.split for r in rows], "width": [w for w, _ in sizes],
                             "height": [h for _, h in sizes]})
    counts = manifest["split"].value_counts().to_dict()
    for split, official in module.COUNTS.items():
        if counts.get(split, 0) != official:
            log.warning("%s: split %s has %d images; the official split has %d (incomplete copy?)",
                        module.TITLE, split, counts.get(split, 0), official)
    missing_splits = [s for s in module.SPLITS if s not in counts]
    if missing_splits:
        raise FgvrError(f"{module.TITLE}: the metadata lists no image for split(s) {missing_splits}")
    write_dataset(out_dir, manifest, classes)
    log.info("%s: %s images, %d classes", module.TITLE, counts, len(classes))
    return manifest


def prepare(module, options: dict, out_dir, name: str | None = None, resources: str | Path = "resources",
            progress: bool = True) -> pd.DataFrame:
    """The whole loader: find or extract the official layout, parse it, check it, write it."""
    name = name or module.NAME
    root = resolve_root(module, options, name, resources, progress)
    rows, classes = module.parse(root)
    return finish(module, rows, classes, out_dir, progress)
