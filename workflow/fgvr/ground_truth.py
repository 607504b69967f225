"""Descriptions from annotations rather than a model (``descriptions: ground_truth``).

CUB-200-2011 annotates 312 binary attributes ("has_bill_shape::dagger") per image, each with a
certainty (1 not visible, 2 guessing, 3 probably, 4 definitely), and per class the percentage
of its images showing each. An image's description lists the attributes marked present with
certainty at least "probably"; a class's, those shown by at least half of its images, with
"It" for the class name. Files: attributes.txt (at the top of the archive, or in attributes/),
attributes/image_attribute_labels.txt, attributes/class_attribute_labels_continuous.txt.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from .io import FgvrError

PROBABLY = 3  # certainties.txt: 3 probably, 4 definitely
CLASS_SHARE = 50.0  # percent of a class's images


def attribute_names(root: Path) -> dict[int, tuple[str, str]]:
    """attribute id -> (part, value): "has_bill_shape::curved_(up_or_down)" -> ("bill shape", "curved (up or down)")."""
    for path in (root / "attributes" / "attributes.txt", root.parent / "attributes.txt", root / "attributes.txt"):
        if path.is_file():
            break
    else:
        raise FgvrError(f"{root}: CUB's attributes.txt is missing (looked in {root / 'attributes'} and {root.parent}); "
                        "ground-truth descriptions need the full CUB_200_2011.tgz")
    names = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        ident, _, raw = line.strip().partition(" ")
        if "::" not in raw:
            raise FgvrError(f"{path} line {number}: expected 'id has_part::value', got {line!r}")
        part, value = raw.split("::", 1)
        names[int(ident)] = (part.removeprefix("has_").replace("_", " "), value.replace("_", " "))
    return names


def _sentence(subject: str, present: list[tuple[str, str]]) -> str:
    by_part: dict[str, list[str]] = defaultdict(list)
    for part, value in present:
        by_part[part].append(value)
    if not by_part:
        return f"{subject} shows none of the annotated attributes clearly."
    phrases = [f"{' and '.join(values)} {part}" for part, values in by_part.items()]
    return f"{subject} has " + ", ".join(phrases) + "."


def cub200(root: str | Path, manifest: pd.DataFrame, classes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(descriptions, class descriptions) of CUB from its attribute annotations under ``root``
    (the CUB_200_2011 folder). Image ids are the manifest's (CUB's own image numbers)."""
    root = Path(root)
    names = attribute_names(root)
    labels_file = root / "attributes" / "image_attribute_labels.txt"
    if not labels_file.is_file():
        raise FgvrError(f"{labels_file}: missing (CUB's per-image attribute annotations)")
    present: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for number, line in enumerate(labels_file.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4:
            raise FgvrError(f"{labels_file} line {number}: expected 'image attribute present certainty ...'")
        image, attribute, is_present, certainty = fields[:4]  # a few official lines carry an extra field
        if is_present == "1" and int(certainty) >= PROBABLY:
            if int(attribute) not in names:
                raise FgvrError(f"{labels_file} line {number}: attribute {attribute} is not in attributes.txt")
            present[image].append(names[int(attribute)])
    images = pd.DataFrame({"image_id": manifest["image_id"],
                           "description": [_sentence("This bird", present.get(str(i), [])) for i in manifest["image_id"]]})
    shares_file = root / "attributes" / "class_attribute_labels_continuous.txt"
    if not shares_file.is_file():
        raise FgvrError(f"{shares_file}: missing (CUB's per-class attribute shares)")
    rows = [line.split() for line in shares_file.read_text().splitlines() if line.strip()]
    if len(rows) != len(classes):
        raise FgvrError(f"{shares_file}: {len(rows)} rows for {len(classes)} classes")
    texts = []
    for shares in rows:
        shown = [names[a] for a, share in enumerate(map(float, shares), 1) if share >= CLASS_SHARE and a in names]
        texts.append(_sentence("It", shown))
    per_class = pd.DataFrame({"label": classes["label"], "class_name": classes["class_name"], "description": texts})
    return images, per_class
