"""Data set registry: a config name (or its ``loader`` key) picks the module that prepares it.

Each loader module has ``splits(options) -> list[str]`` (known before anything is downloaded,
so the workflow can plan its jobs) and ``prepare(options, out_dir, data=...)``, which writes
the manifest contract of DESIGN.md into ``out_dir``. The loaders of the paper's six data sets
also hold a ``SPEC`` (fgvr.datasets.official.DatasetSpec): their official files, checksums and
download locations, and the metadata files a ``root`` must hold. What the workflow declares
for a config entry (downloads, archives to unpack, metadata inputs) is decided here.
"""
from __future__ import annotations

import importlib
from pathlib import Path

LOADERS = {
    "synthetic": "fgvr.datasets.synthetic",
    "cub200": "fgvr.datasets.cub200",
    "cars196": "fgvr.datasets.cars196",
    "dogs120": "fgvr.datasets.dogs120",
    "flowers102": "fgvr.datasets.flowers102",
    "pets37": "fgvr.datasets.pets37",
    "aircraft100": "fgvr.datasets.aircraft100",
    "folder": "fgvr.datasets.folder",
}


def loader_name(name: str, options: dict) -> str:
    return options.get("loader", name)


def get_loader(name: str, options: dict):
    """The loader module for the data set called ``name`` in the config."""
    key = loader_name(name, options)
    if key not in LOADERS:
        from ..io import FgvrError
        raise FgvrError(f"datasets.{name}: no loader called {key!r}; known: {sorted(LOADERS)}")
    return importlib.import_module(LOADERS[key])


def spec(name: str, options: dict):
    """The official spec of the data set's loader, or None (synthetic, folder)."""
    return getattr(get_loader(name, options), "SPEC", None)


TRANSFER_KEYS = ("url", "mirrors", "retries", "timeout")


# Keys read by the describe, evaluate and fine-tuning rules (prompts), not by preparation.
DESCRIBE_KEYS = ("descriptions", "super", "kinds", "question")


def content_options(options: dict) -> dict:
    """The options that decide a prepared data set: where a download comes from, or how
    patiently, does not (the download rule checks the checksum), nor how it is described."""
    return {k: v for k, v in options.items() if k not in TRANSFER_KEYS + DESCRIBE_KEYS}


def splits(name: str, options: dict) -> list[str]:
    return get_loader(name, options).splits(options)


def source(name: str, options: dict) -> str | None:
    """``download``, ``archive`` or ``root`` for an official data set; None for the others."""
    from . import official

    return official.source(options) if spec(name, options) else None


def downloads(name: str, options: dict) -> list[str]:
    """The official files to download for this config entry: none if it gives ``archive`` or
    ``root`` (or its loader has no official files)."""
    return list(spec(name, options).files) if source(name, options) == "download" else []


def unpack_sources(name: str, options: dict, resources: str | Path = "resources") -> list[Path]:
    """The official files the unpack rule extracts (downloaded, or in ``archive``); none for a
    ``root`` entry or a loader without official files. A missing archive file is named."""
    from . import official

    if source(name, options) not in ("download", "archive"):
        return []
    return official.sources(spec(name, options), options, name, resources)


def metadata_inputs(name: str, options: dict) -> list[Path]:
    """For a ``root`` entry of an official data set: its metadata files (labels, splits, class
    lists; not the images), so that a changed one reruns the preparation. A missing one, or a
    root that is not a folder, is named here, before any job runs."""
    from ..io import FgvrError
    from . import official

    the_spec = spec(name, options)
    if "root" not in options or the_spec is None:  # the folder loader: its class folders are its metadata
        return []
    files = official.metadata_files(the_spec, official.root_folder(the_spec, options, name))
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FgvrError(f"{missing[0]}: missing metadata file (datasets.{name}.root must be {the_spec.root_layout})")
    return files


def remote(name: str, options: dict, file: str):
    """Where ``file`` of the data set ``name`` comes from and its checksum (a download.Remote)."""
    from ..io import FgvrError
    from . import official

    wanted = downloads(name, options)
    if file not in wanted:
        why = (f"its files are {wanted}" if wanted else
               "the config gives `archive` or `root`, or the loader has no official files: nothing to download")
        raise FgvrError(f"datasets.{name}: no download called {file!r} ({why})")
    return next(r for r in official.remotes(spec(name, options), options) if r.file == file)


def identity(name: str, options: dict, file: str) -> dict:
    """What a download is, independent of where it comes from: loader, file name, checksum
    (None: the sha256 of the first download, recorded). The between-workflow cache keys on this."""
    return {"loader": spec(name, options).name, "file": file, "checksum": remote(name, options, file).checksum}


def download(name: str, options: dict, file: str, dest: str | Path, resources: str | Path = "resources",
             progress: bool = True) -> Path:
    """Fetch one official file of ``name`` into ``dest`` (resumable, checksummed)."""
    from . import official
    from .download import fetch

    return fetch(remote(name, options, file), dest, record=official.record_path(spec(name, options), file, resources),
                 retries=options.get("retries", 3), timeout=options.get("timeout", 60), progress=progress)


def unpack(sources: list[str | Path], target: str | Path, progress: bool = True) -> Path:
    """Extract the official files ``sources`` into ``target`` (safely; atomic: a failed run
    leaves no ``target``)."""
    from . import archive

    return archive.materialize(sources, target, progress=progress)


def prepare(name: str, options: dict, out_dir, data: str | Path | None = None, resources: str | Path = "resources",
            progress: bool = True) -> None:
    """Write the data set's tables into ``out_dir``. ``data``: the folder the workflow declared
    (the unpacked official files, or ``root``); without it, found (and extracted) here."""
    get_loader(name, options).prepare(options, out_dir, name=name, data=data, resources=resources, progress=progress)
