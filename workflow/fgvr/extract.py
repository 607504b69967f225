"""Embedding extraction: images of one split, and category names / descriptions, into HDF5.

Images are decoded and preprocessed in DataLoader workers (the adapter's ``preprocess``),
overlapped with the model; batches are fixed slices of the manifest order, so a resumed run
computes exactly the batches an uninterrupted one would and gives the same numbers.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import __version__
from .io import FgvrError
from .models.base import Adapter
from .store import PartialStore, fingerprint

log = logging.getLogger("fgvr.extract")


def load_image(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as err:
        raise FgvrError(f"image {path}: cannot be read ({err})") from err


class _Batches(torch.utils.data.Dataset):
    """Item i is batch i, already preprocessed: runs in the worker processes."""

    def __init__(self, batches: list[np.ndarray], paths: list[str], preprocess):
        self.batches, self.paths, self.preprocess = batches, paths, preprocess

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        index = self.batches[i]
        return index, self.preprocess([load_image(self.paths[j]) for j in index])


def store_attrs(adapter: Adapter, model_name: str, revision: str | None) -> dict:
    import transformers
    from .models.fetch import recorded_commit

    return {"model": model_name, "model_path": str(adapter.path), "revision": revision or recorded_commit(adapter.path),
            "architecture": type(adapter.model).__name__, "dtype": str(adapter.dtype).removeprefix("torch."),
            "demo": adapter.is_demo, "fgvr_version": __version__, "transformers_version": transformers.__version__}


def checkpoint_identity(path: str | Path) -> dict:
    """What a checkpoint folder holds, cheaply: the content of its small files (configs,
    tokenizer, processor) and the size and modification time of its weight files. A partial
    file written with other weights (a rebuilt or re-fine-tuned checkpoint) is not resumed."""
    import hashlib

    path, out = Path(path), {}
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = f.stat()
            if stat.st_size < 2**22 and f.suffix in (".json", ".txt", ".model", ".jinja"):
                out[str(f.relative_to(path))] = hashlib.sha256(f.read_bytes()).hexdigest()
            else:
                out[str(f.relative_to(path))] = [stat.st_size, stat.st_mtime_ns]
    return out


def extract_split(adapter: Adapter, manifest: pd.DataFrame, out: str | Path, model_name: str,
                  descriptions: dict[str, str] | None = None, batch_size: int = 32, num_workers: int = 0,
                  group_by_shape: bool = True, revision: str | None = None, progress: bool = True) -> Path:
    """Object representations of the images in ``manifest`` (one split) into ``out``.

    When every image has a description in ``descriptions``, their text representations go
    into the ``descriptions/`` group too (the paper's Table 1 probes them). Rows are stored in
    manifest order whatever order the batches ran in.
    """
    ids = manifest["image_id"].tolist()
    texts = None
    if descriptions:
        texts = [descriptions.get(i, "") for i in ids]
        if not all(texts):
            log.warning("%s: some images have no description; skipping description features", out)
            texts = None
    attrs = store_attrs(adapter, model_name, revision)
    paths = manifest["path"].tolist()
    fp = fingerprint(ids=ids, paths=paths, labels=manifest["label"].tolist(), texts=texts, batch_size=batch_size,
                     group_by_shape=group_by_shape, checkpoint=checkpoint_identity(adapter.path), **attrs)
    with PartialStore(out, len(ids), fp, attrs, {"labels": manifest["label"].to_numpy(np.int64),
                                                 "image_ids": np.asarray(ids, dtype=object)}) as store:
        done = store.done
        batches = plan_batches(paths, batch_size, group_by_shape)
        pending = [b for b in batches if not done[b].all()]
        if store.resumed:
            log.info("%s: resuming, %d of %d batches already written", out, len(batches) - len(pending), len(batches))
        loader = torch.utils.data.DataLoader(
            _Batches(pending, paths, adapter.without_model().preprocess), batch_size=None, shuffle=False,
            num_workers=num_workers, pin_memory=adapter.device.type == "cuda",
            prefetch_factor=4 if num_workers else None, persistent_workers=False)
        with tqdm(total=sum(map(len, pending)), desc=f"{model_name} objects", unit="img", disable=not progress,
                  mininterval=2) as bar:
            for index, batch in loader:
                arrays = _prefixed("objects", adapter.encode_images(batch))
                if texts is not None:
                    arrays |= _prefixed("descriptions", adapter.encode_texts([texts[i] for i in index]))
                store.write(index, arrays, [ids[i] for i in index])
                bar.update(len(index))
        return store.finish()


def plan_batches(paths: list[str], batch_size: int, group_by_shape: bool) -> list[np.ndarray]:
    """Fixed batches of row indices. Grouped by image shape (read from file headers), images that
    share a batch need little or no padding; the order is stable, so a resumed run recomputes
    exactly the batches an uninterrupted one would."""
    order = np.arange(len(paths))
    if group_by_shape:
        shapes = np.array([image_size(p) for p in paths]).reshape(-1, 2)
        order = np.lexsort((order, shapes[:, 1], shapes[:, 0]))
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def image_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except (OSError, ValueError) as err:
        raise FgvrError(f"image {path}: cannot be read ({err})") from err


def extract_categories(adapter: Adapter, classes: pd.DataFrame, out: str | Path, model_name: str,
                       batch_size: int = 64, revision: str | None = None) -> Path:
    """Representations of every category name (and class description, where given) into ``out``."""
    names = classes["class_name"].tolist()
    groups = {"names": names}
    described = classes.get("description", pd.Series([""] * len(names))).fillna("").tolist()
    if all(described):
        groups["descriptions"] = described
    attrs = store_attrs(adapter, model_name, revision)
    fp = fingerprint(groups=groups, labels=classes["label"].tolist(), checkpoint=checkpoint_identity(adapter.path),
                     **attrs)
    with PartialStore(out, len(names), fp, attrs, {"labels": classes["label"].to_numpy(np.int64),
                                                   "class_names": np.asarray(names, dtype=object)}) as store:
        for start in range(0, len(names), batch_size):
            index = np.arange(start, min(start + batch_size, len(names)))
            arrays = {}
            for group, texts in groups.items():
                arrays |= _prefixed(group, adapter.encode_texts([texts[i] for i in index]))
            store.write(index, arrays, [names[i] for i in index])
        return store.finish()


def _prefixed(group: str, features: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {f"{group}/{k}": v.numpy() for k, v in features.items()}
