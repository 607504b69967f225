"""Oxford Flowers-102: 102 flower species, official split train 1,020 / val 1,020 / test 6,149.

Official files: 102flowers.tgz (jpg/image_00001.jpg ... image_08189.jpg), imagelabels.mat
(``labels``: class 1..102 of image i) and setid.mat (``trnid``, ``valid``, ``tstid``: image
numbers). The official files carry no class names: NAMES below is the label-ordered list (class
1 first) that torchvision and CLIP use, spelled as the FOCI evaluation spells it (93 "air plant",
CLIP's "ball moss"). The FOCI option file keys the same names in another order (fire lily 17th,
though it is class 21): never read the label order from it. ``raw_name`` keeps the name as
written (lower case), ``class_name`` capitalises it ("Pink Primrose", "Bird of Paradise").
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import FgvrError
from . import official
from .official import Row

METADATA = ("imagelabels.mat", "setid.mat")
SET_KEYS = {"train": "trnid", "val": "valid", "test": "tstid"}

NAMES = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
    "tiger lily", "moon orchid", "bird of paradise", "monkshood", "globe thistle", "snapdragon", "colt's foot",
    "king protea", "spear thistle", "yellow iris", "globe flower", "purple coneflower", "peruvian lily",
    "balloon flower", "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke", "sweet william",
    "carnation", "garden phlox", "love in the mist", "mexican aster", "alpine sea holly", "ruby-lipped cattleya",
    "cape flower", "great masterwort", "siam tulip", "lenten rose", "barbeton daisy", "daffodil", "sword lily",
    "poinsettia", "bolero deep blue", "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion",
    "petunia", "wild pansy", "primula", "sunflower", "pelargonium", "bishop of llandaff", "gaura", "geranium",
    "orange dahlia", "pink and yellow dahlia", "cautleya spicata", "japanese anemone", "black-eyed susan",
    "silverbush", "californian poppy", "osteospermum", "spring crocus", "bearded iris", "windflower",
    "tree poppy", "gazania", "azalea", "water lily", "rose", "thorn apple", "morning glory", "passion flower",
    "lotus", "toad lily", "anthurium", "frangipani", "clematis", "hibiscus", "columbine", "desert-rose",
    "tree mallow", "magnolia", "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "air plant",
    "foxglove", "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia", "blanket flower",
    "trumpet creeper", "blackberry lily",
]
SMALL_WORDS = {"of", "and", "in", "the"}
EXCEPTIONS = {"barbeton daisy": "Barberton Daisy", "cautleya spicata": "Cautleya spicata"}


def clean_name(raw: str) -> str:
    if raw in EXCEPTIONS:
        return EXCEPTIONS[raw]
    parts = raw.split()
    return " ".join(w if i and w in SMALL_WORDS else official.capitalise(w) for i, w in enumerate(parts))


def parse(root: Path) -> tuple[list[Row], pd.DataFrame]:
    official.need(root, "jpg", "image folder")
    labels_mat, setid_mat = (official.need(root, m) for m in METADATA)
    labels = official.load_mat(labels_mat, "labels")["labels"]
    sets = official.load_mat(setid_mat, *SET_KEYS.values())
    rows = []
    for split, key in SET_KEYS.items():
        for i, number in enumerate(sets[key], 1):
            number = official.integer(setid_mat, f"{key} entry {i}", number)
            if not 1 <= number <= len(labels):
                raise FgvrError(f"{setid_mat} {key} entry {i}: image {number} has no label in {labels_mat} "
                                f"({len(labels)} labels)")
            label = official.integer(labels_mat, f"labels entry {number}", labels[number - 1])
            if not 1 <= label <= len(NAMES):
                raise FgvrError(f"{labels_mat} labels entry {number}: class {label} outside 1..{len(NAMES)}")
            rows.append(Row(f"image_{number:05d}", root / "jpg" / f"image_{number:05d}.jpg", label - 1, split,
                            f"{setid_mat} {key} entry {i}"))
    return rows, official.class_table(NAMES, clean_name)


SPEC = official.DatasetSpec(
    name="flowers102",
    title="Oxford Flowers-102",
    # md5 as pinned by torchvision.datasets.Flowers102
    files={
        "102flowers.tgz": "md5:52808999861908f626f3c1f4e79d11fa",
        "imagelabels.mat": "md5:e0620be6f572b9609742df49c70aed4d",
        "setid.mat": "md5:a5357ecc9cb78c4bef273ce3793fc85c",
    },
    url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/{file}",
    mirrors=("https://thor.robots.ox.ac.uk/flowers/102/{file}",),
    root_layout="the folder holding jpg/, imagelabels.mat and setid.mat",
    splits=("train", "val", "test"),
    counts={"train": 1020, "val": 1020, "test": 6149},
    metadata=METADATA,
    parse=parse,
)


def splits(options: dict) -> list[str]:
    return list(SPEC.splits)


def prepare(options: dict, out_dir, **context):
    return official.prepare(SPEC, options, out_dir, **context)
