"""What the loaders of the paper's six data sets share: their spec, where the official files
come from, reading their metadata with errors that name the file and line, and checking the images.

A loader module (cub200.py, ...) holds one ``SPEC`` (a DatasetSpec): its official files and
their checksums, where they are downloaded from (the only place the URLs are written), the
folder the archives extract to, its splits and official counts, the metadata files its
``parse(root)`` reads, and that parse. Three ways in, per config entry:

- ``root``: the official layout, already extracted; used in place. Its metadata files (not the
  images) are inputs of the prepare_dataset rule, so a changed label file reruns it.
- ``archive``: a folder holding the official files under their official names; extracted
  (safely) by the unpack_dataset rule into ``resources/datasets/{dataset}/``.
- neither: the files the download rule fetched into ``resources/downloads/{dataset}/``,
  then unpacked the same way.

Manifest paths point at the extracted files (or into ``root``): images are never copied.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class DatasetSpec:
    """One official data set: everything about it that is not parsing code."""
    name: str                                   # the registry name (cub200 ...)
    title: str                                  # for messages ("CUB-200-2011")
    files: Mapping[str, str | None]             # official file -> "md5:..."/"sha256:..." (None: recorded)
    url: str                                    # where they are: {file} stands for each name
    root_layout: str                            # what `root` must hold, for messages
    splits: tuple[str, ...]
    counts: Mapping[str, int]                   # the official images per split
    # metadata files parse reads, relative to the root; a tuple: alternatives, the first that exists
    metadata: tuple[str | tuple[str, ...], ...]
    parse: Callable[[Path], tuple[list[Row], pd.DataFrame]]
    mirrors: tuple[str, ...] = ()
    extracted: str = ""                         # the folder the archives extract to ("" : the top)
    sizes: Mapping[str, int] = field(default_factory=dict)  # bytes, where known (messages only)


# ---------------------------------------------------------------- where the files come from

def source(options: dict) -> str:
    """``root``, ``archive`` or ``download``: how a config entry gives its data set."""
    if "root" in options and "archive" in options:
        raise FgvrError("give `root` or `archive`, not both")
    return "root" if "root" in options else "archive" if "archive" in options else "download"


def remotes(spec: DatasetSpec, options: dict) -> list[Remote]:
    """The official files of ``spec`` with the locations to try, configured ones first."""
    templates = [options.get("url", spec.url), *options.get("mirrors", spec.mirrors)]
    return [Remote(file, tuple(location(t, file) for t in templates), checksum, spec.sizes.get(file))
            for file, checksum in spec.files.items()]


def downloads_dir(name: str, resources: str | Path = "resources") -> Path:
    return Path(resources) / "downloads" / name


def extracted_dir(name: str, resources: str | Path = "resources") -> Path:
    return Path(resources) / "datasets" / name


def record_path(spec: DatasetSpec, file: str, resources: str | Path = "resources") -> Path:
    """Where the sha256 of the first download of a file without a published checksum is kept."""
    return Path(resources) / "checksums" / spec.name / f"{file}.sha256"


def sources(spec: DatasetSpec, options: dict, name: str, resources: str | Path = "resources") -> list[Path]:
    """The official files to unpack for an ``archive`` or download entry; a missing one is named."""
    how = source(options)
    if how == "root":
        raise FgvrError(f"datasets.{name}: gives `root`, nothing to unpack")
    folder = Path(options["archive"]) if how == "archive" else downloads_dir(name, resources)
    files = [folder / f for f in spec.files]
    missing = [f for f in files if not f.is_file()]
    if missing and how == "archive":
        raise FgvrError(f"{missing[0]}: missing (datasets.{name}.archive must be a folder holding the official "
                        f"files {list(spec.files)})")
    return files


def root_folder(spec: DatasetSpec, options: dict, name: str) -> Path:
    """The ``root`` of a config entry, checked to be a folder."""
    root = Path(options["root"])
    if not root.is_dir():
        raise FgvrError(f"datasets.{name}.root: {root} is not a folder (expected {spec.root_layout})")
    return root


def metadata_files(spec: DatasetSpec, root: str | Path) -> list[Path]:
    """The metadata files of the official layout at ``root`` (labels, splits, class lists; not
    images); of alternatives, the first that exists (else the first, so a message names it)."""
    root, out = Path(root), []
    for entry in spec.metadata:
        options = (entry,) if isinstance(entry, str) else entry
        out.append(next((root / o for o in options if (root / o).exists()), root / options[0]))
    return out


def layout(spec: DatasetSpec, options: dict, folder: str | Path) -> Path:
    """The official layout inside ``folder``: the root itself, or where the archives extracted to."""
    folder = Path(folder)
    if source(options) == "root":
        return folder
    top = folder / spec.extracted if spec.extracted else folder
    if not top.is_dir():
        raise FgvrError(f"{folder}: the unpacked files hold no {spec.extracted}/ (expected {spec.root_layout})")
    return top


def resolve_root(spec: DatasetSpec, options: dict, name: str, resources: str | Path = "resources",
                 progress: bool = True) -> Path:
    """The folder holding the official layout, extracting archives first when needed (the
    library's own route; the workflow's unpack rule does the extraction instead)."""
    if source(options) == "root":
        return root_folder(spec, options, name)
    files = sources(spec, options, name, resources)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FgvrError(f"{missing[0]}: missing (the download rule should have fetched it; rerun snakemake)")
    return layout(spec, options, archives.materialize(files, extracted_dir(name, resources), progress=progress))


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


def finish(rows: list[Row], classes: pd.DataFrame, out_dir, title: str, splits, counts: Mapping[str, int],
           progress: bool = True) -> pd.DataFrame:
    """Check the rows (unique images, known labels, readable images, every split there; a count
    off the official ``counts`` is a warning) and write the tables."""
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
    have = manifest["split"].value_counts().to_dict()
    for split, official in counts.items():
        if have.get(split, 0) != official:
            log.warning("%s: split %s has %d images; the official split has %d (incomplete copy?)",
                        title, split, have.get(split, 0), official)
    missing_splits = [s for s in splits if s not in have]
    if missing_splits:
        raise FgvrError(f"{title}: the metadata lists no image for split(s) {missing_splits}")
    write_dataset(out_dir, manifest, classes)
    log.info("%s: %s images, %d classes", title, have, len(classes))
    return manifest


def prepare(spec: DatasetSpec, options: dict, out_dir, name: str | None = None, data: str | Path | None = None,
            resources: str | Path = "resources", progress: bool = True) -> pd.DataFrame:
    """The whole loader: find the official layout, parse it, check it, write it.

    ``data``: the folder the workflow declared (the unpacked files, or ``root``); without it the
    layout is found, and archives extracted, here.
    """
    name = name or spec.name
    if data is None:
        root = resolve_root(spec, options, name, resources, progress)
    else:
        root = layout(spec, options, data)
    rows, classes = spec.parse(root)
    return finish(rows, classes, out_dir, spec.title, spec.splits, spec.counts, progress)
