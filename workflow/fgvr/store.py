"""HDF5 embedding stores (DESIGN.md data contracts), written resumably and read back whole.

{split}.h5       labels (N,), image_ids (N,), objects/{key} (N, D), descriptions/{key} (N, D)?
categories.h5    labels (C,), class_names (C,), names/{key} (C, D), descriptions/{key} (C, D)?

(DESIGN.md called the class-name list ``names``, but HDF5 cannot hold a dataset and a group of
one name, so the list is ``class_names``.)

Groups are named by representation (vision.mean, llm.last, ...). Files are built under
``<name>.partial`` with a ``done`` row mask, and renamed into place only when complete, so a
killed job leaves nothing that looks finished and a rerun continues where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .io import FgvrError

STR = h5py.string_dtype("utf-8")


def fingerprint(**parts) -> str:
    """A stable hash of what determines a file's content (for safe resumption)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class PartialStore:
    """A store under construction: rows are written in any order and marked done."""

    def __init__(self, path: str | Path, rows: int, fp: str, attrs: dict, columns: dict[str, object]):
        """``columns``: 1-D datasets written at once (labels, image_ids ...)."""
        self.final = Path(path)
        self.path = self.final.with_name(self.final.name + ".partial")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.resumed = False
        if self.path.exists():
            try:
                with h5py.File(self.path, "r") as f:
                    self.resumed = f.attrs.get("fingerprint") == fp and f["done"].shape == (rows,)
            except (OSError, KeyError):  # torn file from a hard kill: start over
                self.resumed = False
        if not self.resumed:
            self.path.unlink(missing_ok=True)
            with h5py.File(self.path, "w") as f:
                f.attrs.update(attrs)
                f.attrs["fingerprint"] = fp
                f.create_dataset("done", shape=(rows,), dtype=bool, fillvalue=False)
                for name, values in columns.items():
                    values = np.asarray(values)
                    f.create_dataset(name, data=values.astype(object) if values.dtype.kind in "UO" else values,
                                     dtype=STR if values.dtype.kind in "UO" else values.dtype)
        self.file = h5py.File(self.path, "a")
        self.rows = rows

    @property
    def done(self) -> np.ndarray:
        return self.file["done"][:]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, index: np.ndarray, arrays: dict[str, np.ndarray], row_names: list[str]) -> None:
        """Write ``arrays`` ({"objects/llm.last": (b, D), ...}) at rows ``index`` and mark them done.

        Non-finite values are refused, naming the row (image or class) they belong to."""
        for name, values in arrays.items():
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise FgvrError(f"{self.final}: {name} is not finite for {row_names[int(np.argmax(bad))]!r} "
                                "(try dtype: float32 for this model)")
        index = np.asarray(index)
        order = np.argsort(index)  # h5py fancy indexing wants increasing indices
        for name, values in arrays.items():
            values = np.asarray(values, dtype=np.float32)
            if name not in self.file:
                self.file.create_dataset(name, shape=(self.rows, values.shape[1]), dtype=np.float32,
                                         chunks=(min(self.rows, 64), values.shape[1]))  # small: batches land scattered
            self.file[name][index[order]] = values[order]
        self.file["done"][index[order]] = True
        self.file.flush()

    def finish(self) -> Path:
        """Check every row is written, drop the bookkeeping and move the file into place."""
        missing = int((~self.done).sum())
        if missing:
            self.file.close()
            raise FgvrError(f"{self.path}: {missing} rows were never written")
        del self.file["done"]
        del self.file.attrs["fingerprint"]
        self.file.close()
        os.replace(self.path, self.final)
        return self.final

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()


@dataclass
class Store:
    """An embedding file read into memory: ``groups[group][key]`` is an (N, D) float32 array."""

    path: Path
    labels: np.ndarray
    ids: np.ndarray  # image_ids for a split, class names for categories
    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def keys(self, group: str) -> list[str]:
        return sorted(self.groups.get(group, {}))


def read_store(path: str | Path) -> Store:
    path = Path(path)
    if not path.exists():
        raise FgvrError(f"{path}: embedding file not found")
    with h5py.File(path, "r") as f:
        ids = f["image_ids" if "image_ids" in f else "class_names"].asstr()[:]
        groups = {g: {k: f[g][k][:] for k in f[g]} for g in f if isinstance(f[g], h5py.Group)}
        return Store(path, f["labels"][:], np.asarray(ids), groups, dict(f.attrs))
