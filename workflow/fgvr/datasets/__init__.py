"""Data set registry: a config name (or its ``loader`` key) picks the module that prepares it.

Each loader module has ``splits(options) -> list[str]`` (known before anything is downloaded,
so the workflow can plan its jobs) and ``prepare(options, out_dir)``, which writes the
manifest contract of DESIGN.md into ``out_dir``.
"""
from __future__ import annotations

import importlib

LOADERS = {
    "synthetic": "fgvr.datasets.synthetic",
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


def splits(name: str, options: dict) -> list[str]:
    return get_loader(name, options).splits(options)


def prepare(name: str, options: dict, out_dir) -> None:
    get_loader(name, options).prepare(options, out_dir)
