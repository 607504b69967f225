"""Data set registry: a config name (or its ``loader`` key) picks the module that prepares it.

Each loader module has ``splits(options) -> list[str]`` (known before anything is downloaded,
so the workflow can plan its jobs) and ``prepare(options, out_dir)``, which writes the
manifest contract of DESIGN.md into ``out_dir``. The loaders of the paper's six data sets
(fgvr.datasets.official) also declare their official files: ``downloads`` says which ones a
config entry needs downloaded (none when it gives ``archive`` or ``root``), ``remote`` where
each comes from and the checksum it must have.
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


TRANSFER_KEYS = ("url", "mirrors", "retries", "timeout")


def content_options(options: dict) -> dict:
    """The options that decide a prepared data set: where a download comes from, or how
    patiently, does not (the download rule checks the checksum)."""
    return {k: v for k, v in options.items() if k not in TRANSFER_KEYS}


def splits(name: str, options: dict) -> list[str]:
    return get_loader(name, options).splits(options)


def downloads(name: str, options: dict) -> list[str]:
    """The official files to download for this config entry: none if it gives ``archive`` or
    ``root`` (or its loader has no official files)."""
    from . import official

    module = get_loader(name, options)
    if not hasattr(module, "FILES") or official.source(options) != "download":
        return []
    return list(module.FILES)


def remote(name: str, options: dict, file: str):
    """Where ``file`` of the data set ``name`` comes from and its checksum (a download.Remote)."""
    from ..io import FgvrError
    from . import official

    wanted = downloads(name, options)
    if file not in wanted:
        why = (f"its files are {wanted}" if wanted else
               "the config gives `archive` or `root`, or the loader has no official files: nothing to download")
        raise FgvrError(f"datasets.{name}: no download called {file!r} ({why})")
    return next(r for r in official.remotes(get_loader(name, options), options) if r.file == file)


def identity(name: str, options: dict, file: str) -> dict:
    """What a download is, independent of where it comes from: loader, file name, checksum
    (None: the sha256 of the first download, recorded). The between-workflow cache keys on this."""
    module = get_loader(name, options)
    return {"loader": module.NAME, "file": file, "checksum": remote(name, options, file).checksum}


def download(name: str, options: dict, file: str, dest: str | Path, resources: str | Path = "resources",
             progress: bool = True) -> Path:
    """Fetch one official file of ``name`` into ``dest`` (resumable, checksummed)."""
    from . import official
    from .download import fetch

    module = get_loader(name, options)
    return fetch(remote(name, options, file), dest, record=official.record_path(module, file, resources),
                 retries=options.get("retries", 3), timeout=options.get("timeout", 60), progress=progress)


def prepare(name: str, options: dict, out_dir, resources: str | Path = "resources", progress: bool = True) -> None:
    get_loader(name, options).prepare(options, out_dir, name=name, resources=resources, progress=progress)
