"""The option files of the official FOCI evaluation, matched to a prepared data set.

Format: ``{class name: [{"image": "images/<path>", "options": [4 names], "groundtruth": name}]}``
with raw class names and image paths relative to the data set's image folder behind an
``images/`` prefix (CUB: images/001.Black_footed_Albatross/x.jpg; Cars: images/00001.jpg, a
*test* image; Flowers: images/image_06734.jpg; Aircraft: images/1514522.jpg).

Quirk handled here: the Dog-120 file lists images/n02085620-Chihuahua/n02085620_1235.jpg twice
(8,580 entries, 8,579 distinct images); a repeated image is kept once, with a warning, so one
official test image has no options there.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath

import pandas as pd

from ..io import FgvrError

log = logging.getLogger("fgvr.foci")


def read_options(path: str | Path) -> pd.DataFrame:
    """One row per distinct image: ``image`` (path without the images/ prefix), ``groundtruth``, ``options``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FgvrError(f"{path}: not a readable FOCI option file ({err})") from err
    rows, seen = [], {}
    for key, entries in data.items():
        for entry in entries:
            image = entry["image"].removeprefix("images/")
            if image in seen:
                if seen[image] != entry["groundtruth"]:
                    raise FgvrError(f"{path}: {entry['image']} is listed as {seen[image]!r} "
                                    f"and as {entry['groundtruth']!r}")
                log.warning("%s: %s is listed twice; keeping the first entry", path, entry["image"])
                continue
            seen[image] = entry["groundtruth"]
            rows.append({"image": image, "groundtruth": entry["groundtruth"], "options": list(entry["options"]),
                         "key": key})
    return pd.DataFrame(rows)


def attach(manifest: pd.DataFrame, options: pd.DataFrame) -> pd.DataFrame:
    """The FOCI rows with the ``image_id`` (and label, class) of their image in the manifest's
    test split, matched on the trailing path components. Raises if a FOCI image is not there."""
    test = manifest[manifest["split"] == "test"]
    depth = {len(PurePosixPath(i).parts) for i in options["image"]}
    index: dict[str, int] = {}
    for d in depth:
        for row, path in zip(test.index, test["path"]):
            index["/".join(Path(path).parts[-d:])] = row
    where = [index.get(i) for i in options["image"]]
    missing = [i for i, w in zip(options["image"], where) if w is None]
    if missing:
        raise FgvrError(f"{len(missing)} FOCI image(s) are not in the test split, e.g. {missing[0]}")
    matched = test.loc[where, ["image_id", "label", "class_name"]].reset_index(drop=True)
    return pd.concat([options.reset_index(drop=True), matched], axis=1)
