"""Embedding extraction: images of one split, and category names / descriptions, into HDF5.

Images are decoded and preprocessed in DataLoader workers (the adapter's ``preprocess``),
overlapped with the model; batches are fixed slices of the manifest order, so a resumed run
computes exactly the batches an uninterrupted one would and gives the same numbers.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import __version__
from .io import FgvrError
from .models.adapter import Adapter
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
    """What every HDF5 file records of its model (read from the checkpoint: no weights needed)."""
    import transformers
    from .models.fetch import recorded_commit

    return {"model": model_name, "model_path": str(adapter.path), "revision": revision or recorded_commit(adapter.path),
            "architecture": adapter.architecture, "dtype": str(adapter.dtype).removeprefix("torch."),
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
                  group_by_shape: bool = True, revision: str | None = None, progress: bool = True,
                  stats: dict | None = None) -> Path:
    """Object representations of the images in ``manifest`` (one split) into ``out``.

    When every image has a description in ``descriptions``, their text representations go
    into the ``descriptions/`` group too (the paper's Table 1 probes them). Rows are stored in
    manifest order whatever order the batches ran in. An adapter loaded without weights
    (``load_adapter(..., weights=False)``) gets them after the workers have started. ``stats``,
    if given, receives the timings: the wait for the first batch once the model is ready, and
    the steady rate after it.
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
        batches = plan_batches(manifest_sizes(manifest, out), batch_size, group_by_shape)
        pending = [b for b in batches if not done[b].all()]
        if store.resumed:
            log.info("%s: resuming, %d of %d batches already written", out, len(batches) - len(pending), len(batches))
        loader = torch.utils.data.DataLoader(
            _Batches(pending, paths, adapter.without_model().preprocess), batch_size=None, shuffle=False,
            num_workers=num_workers, pin_memory=adapter.device.type == "cuda",
            prefetch_factor=4 if num_workers else None, persistent_workers=False)
        stream = iter(loader)  # the workers fork and start preprocessing now ...
        adapter.load_weights()  # ... while the weights load (a no-op if they are loaded)
        clock = _Clock(stats)
        with tqdm(total=sum(map(len, pending)), desc=f"{model_name} objects", unit="img", disable=not progress,
                  mininterval=2) as bar:
            for index, arrays in _encoded(adapter, clock.watch(stream), texts):
                store.write(index, arrays, [ids[i] for i in index])
                bar.update(len(index))
        clock.stop()
        return store.finish()


class _Clock:
    """Timings of one extraction: first-batch wait (model ready -> first batch in hand) and the
    steady rate after that batch; logged, and copied into ``stats`` when one is given."""

    def __init__(self, stats: dict | None):
        self.stats = stats if stats is not None else {}
        self.start, self.first, self.images, self.first_images = time.perf_counter(), None, 0, 0

    def watch(self, stream):
        for index, batch in stream:
            if self.first is None:
                self.first, self.first_images = time.perf_counter(), len(index)
            self.images += len(index)
            yield index, batch

    def stop(self):
        end = time.perf_counter()
        if self.first is None:
            return
        steady = (self.images - self.first_images) / (end - self.first) if end > self.first else float("nan")
        self.stats.update(images=self.images, seconds=end - self.start, first_batch_wait_s=self.first - self.start,
                          steady_img_s=steady, end_to_end_img_s=self.images / (end - self.start))
        log.info("extraction: %d images in %.1f s; first batch after %.2f s; steady %.1f images/s",
                 self.images, end - self.start, self.first - self.start, steady)


def _encoded(adapter: Adapter, stream, texts: list[str] | None):
    """(row index, arrays) per batch. On a GPU they are read back one batch late: batch i+1 is
    queued before batch i's features are waited for, so the GPU works while batch i is written
    (a kill then loses one more batch to recompute). On the CPU there is nothing to overlap."""
    previous = None
    adapter.deferred_readback = True
    try:
        for index, batch in stream:
            arrays = _prefixed("objects", adapter.encode_images(batch))
            if texts is not None:
                arrays |= _prefixed("descriptions", adapter.encode_texts([texts[i] for i in index]))
            current = (index, arrays, adapter.readback_event())
            if previous is not None:
                yield _ready(previous)
            previous = current
            if current[2] is None:  # computed synchronously: hand it on now
                yield _ready(previous)
                previous = None
        if previous is not None:
            yield _ready(previous)
    finally:
        adapter.deferred_readback = False


def _ready(item):
    index, arrays, event = item
    if event is not None:
        event.synchronize()
    return index, arrays


def manifest_sizes(manifest: pd.DataFrame, source) -> np.ndarray:
    """(N, 2) image width and height, from the manifest's width/height columns (read once, when
    the data set was prepared: no image header is opened again for every model)."""
    lacking = [c for c in ("width", "height") if c not in manifest]
    if lacking:
        raise FgvrError(f"{source}: the manifest lacks {lacking}; rerun prepare_dataset (manifests gained "
                        "width,height columns)")
    return manifest[["width", "height"]].to_numpy(np.int64)


def plan_batches(sizes: np.ndarray, batch_size: int, group_by_shape: bool) -> list[np.ndarray]:
    """Fixed batches of row indices. Grouped by image shape (``sizes``: (N, 2) width, height),
    images that share a batch need little or no padding; the order is stable, so a resumed run
    recomputes exactly the batches an uninterrupted one would."""
    order = np.arange(len(sizes))
    if group_by_shape:
        sizes = np.asarray(sizes).reshape(-1, 2)
        order = np.lexsort((order, sizes[:, 1], sizes[:, 0]))
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def extract_categories(adapter: Adapter, classes: pd.DataFrame, out: str | Path, model_name: str,
                       batch_size: int = 64, revision: str | None = None) -> Path:
    """Representations of every category name (and class description, where given) into ``out``.

    For a VLM also ``prompts/``: the text embedding of FOCI's zero-shot prompt
    ``fgvr.options.PROMPT`` ("an image of a {class name}"), from which fgvr.options mines the
    4-way options (the group is part of the fingerprint, like the others)."""
    from .options import PROMPT

    names = classes["class_name"].tolist()
    groups = {"names": names}
    described = classes.get("description", pd.Series([""] * len(names))).fillna("").tolist()
    if all(described):
        groups["descriptions"] = described
    if adapter.kind == "vlm":
        groups["prompts"] = [PROMPT.format(name) for name in names]
    adapter.load_weights()
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
