"""Fixtures in the official formats of the six data sets.

Two sizes. The small ones (``make(name, base)``) come from SAMPLES below: a few real classes
with image names in the official style, written into the official metadata files; they need
nothing outside the repository, so every loader is tested in a plain clone. The full ones
(``make(name, base, full=True)``) come from the FOCI option files (the official evaluation's
test lists with their ground truth): every test image and its class, plus train (and val)
images made up in the official naming style up to the official counts, hard-linked to one tiny
JPEG so 74k images cost little. ``pack(name, base, out)`` writes the official download files.

In both, an image's class is written the way the official format writes it (CUB's class folder
and classes.txt, Cars' cars_meta.mat, Dogs' folder names, Pets' file names, Aircraft's
variants.txt); only Flowers-102 has no names in its files, so its labels come from
FLOWERS_BY_LABEL, written here independently of the loader's list.

The FOCI files are read from ROOT.parent / "shared" / "data" / "foci-options" (CI keeps that
folder beside the clone; $FGVR_FOCI_DIR points elsewhere); they are never copied into the
repository. Only the tests that need them skip without them.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image
from scipy.io import savemat

FOCI_DIR = Path(os.environ.get("FGVR_FOCI_DIR", ROOT.parent / "shared" / "data" / "foci-options"))
FOCI_FILES = {
    "cub200": "bird-200-ViT-L-14-laion2b_s32b_b82k-4.json",
    "cars196": "car-196-ViT-L-14-laion2b_s32b_b82k-4.json",
    "dogs120": "dog-120-ViT-L-14-laion2b_s32b_b82k-4.json",
    "flowers102": "flower-102-ViT-L-14-laion2b_s32b_b82k-4.json",
    "pets37": "pet-37-ViT-L-14-laion2b_s32b_b82k-4.json",
    "aircraft100": "aircraft-102-ViT-L-14-laion2b_s32b_b82k-4.json",
}
NAMES = list(FOCI_FILES)
# the official counts (REFERENCE.md section 6)
OFFICIAL = {
    "cub200": {"train": 5994, "test": 5794},
    "cars196": {"train": 8144, "test": 8041},
    "dogs120": {"train": 12000, "test": 8580},
    "flowers102": {"train": 1020, "val": 1020, "test": 6149},
    "pets37": {"train": 3680, "test": 3669},
    "aircraft100": {"train": 3334, "val": 3333, "test": 3333},
}
# The Dog-120 FOCI file lists one image twice; the official test list has one more image, which
# FOCI never evaluates. Its name is unknown here, so the full fixture adds a made-up one.
DOG_EXTRA = "n02085620-Chihuahua/n02085620_999999.jpg"


def needs_foci(*names: str):
    """Skip unless the FOCI option files of ``names`` (default: all six) are there, naming them;
    under CI (CI=true, where shared/ lies beside the clone) a missing file fails the test instead
    (conftest's ``foci_missing`` hook), so the suite cannot go green by skipping them."""
    files = [FOCI_FILES[n] for n in (names or NAMES)]
    missing = [f for f in files if not (FOCI_DIR / f).is_file()]
    reason = f"needs the FOCI option file(s) {', '.join(missing)} in {FOCI_DIR} (not in a plain clone)"
    if missing and os.environ.get("CI") == "true":
        return pytest.mark.foci_missing(reason=reason)
    return pytest.mark.skipif(bool(missing), reason=reason)


# Flowers-102 in label order (label 1 first), as torchvision and CLIP list it; 93 is spelled
# "air plant" as in the FOCI files (CLIP: "ball moss"), 16 "globe flower" (torchvision: "globe-flower").
FLOWERS_BY_LABEL = [
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


def _sample(classes: dict[str, list[str]]) -> dict:
    """FOCI-format entries (class key -> [{image, groundtruth, options}]) from key -> image names."""
    return {k: [{"image": f"images/{i}", "groundtruth": k, "options": [k]} for i in images]
            for k, images in classes.items()}


# Real classes, spelled as the FOCI files key them, with test images named in the official style.
SAMPLES = {
    "cub200": _sample({
        "Black_footed_Albatross": ["001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
                                   "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg"],
        "Chuck_will_Widow": ["022.Chuck_will_Widow/Chuck_Will_Widow_0001_796864.jpg",
                             "022.Chuck_will_Widow/Chuck_Will_Widow_0004_796838.jpg"],
        "Artic_Tern": ["141.Artic_Tern/Artic_Tern_0002_141590.jpg", "141.Artic_Tern/Artic_Tern_0003_142132.jpg"],
    }),
    # test images 00001.jpg ... interleave the classes (cars_meta.mat holds them sorted)
    "cars196": _sample({
        "Suzuki Aerio Sedan 2007": ["00001.jpg", "00004.jpg"],
        "Ferrari 458 Italia Convertible 2012": ["00002.jpg", "00005.jpg"],
        "AM General Hummer SUV 2000": ["00003.jpg", "00006.jpg"],
    }),
    "dogs120": _sample({
        "Chihuahua": ["n02085620-Chihuahua/n02085620_1235.jpg", "n02085620-Chihuahua/n02085620_10074.jpg"],
        "black-and-tan_coonhound": ["n02089078-black-and-tan_coonhound/n02089078_100.jpg",
                                    "n02089078-black-and-tan_coonhound/n02089078_1021.jpg"],
        "Pembroke": ["n02113023-Pembroke/n02113023_1136.jpg", "n02113023-Pembroke/n02113023_219.jpg"],
    }),
    # labels 1, 17-21, 93, 102: the ones a key-ordered list gets wrong, and the ends
    "flowers102": _sample({FLOWERS_BY_LABEL[label - 1]: [f"image_{number:05d}.jpg"] for label, number in [
        (1, 6734), (17, 4121), (18, 4270), (19, 5063), (20, 5231), (21, 6317), (93, 7982), (102, 8101)]}),
    "pets37": _sample({
        "Abyssinian": ["Abyssinian_201.jpg", "Abyssinian_202.jpg"],
        "American Bulldog": ["american_bulldog_203.jpg", "american_bulldog_204.jpg"],
        "British Shorthair": ["British_Shorthair_201.jpg", "British_Shorthair_202.jpg"],
    }),
    "aircraft100": _sample({
        "707-320": ["1514522.jpg", "1514523.jpg"],
        "F-16A/B": ["0056978.jpg", "0056979.jpg"],
        "Cessna 172": ["1001234.jpg", "1001235.jpg"],  # a name with a space
    }),
}


@lru_cache(maxsize=None)
def foci(name: str) -> dict:
    return json.loads((FOCI_DIR / FOCI_FILES[name]).read_text())


def foci_images(data: dict) -> dict[str, str]:
    """Distinct image (without the images/ prefix) -> ground truth, in file order."""
    out: dict[str, str] = {}
    for entries in data.values():
        for e in entries:
            out.setdefault(e["image"].removeprefix("images/"), e["groundtruth"])
    return out


@lru_cache(maxsize=None)
def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (8, 8)) -> bytes:
    """A tiny JPEG of ``size`` (width, height)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()


# sizes (width, height) the copied images cycle through, so a manifest's width,height can be checked
SIZES = [(8, 8), (12, 8), (8, 10)]


class Images:
    """Writes tiny JPEGs: hard links of one 8x8 file when ``link`` (fast, no space), else copies
    whose size cycles through SIZES."""

    def __init__(self, base: Path, link: bool):
        self.link = link
        self.count = 0
        self.blob = base / ".blob.jpg"
        self.blob.parent.mkdir(parents=True, exist_ok=True)
        self.blob.write_bytes(jpeg_bytes())

    def put(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.link:
            try:
                os.link(self.blob, path)
                return
            except OSError:
                pass
        path.write_bytes(jpeg_bytes(0, SIZES[self.count % len(SIZES)]))
        self.count += 1


def spread(total: int, groups: int) -> list[int]:
    """``total`` split over ``groups`` as evenly as possible (first groups get the extra)."""
    return [total // groups + (i < total % groups) for i in range(groups)]


def cells(values) -> np.ndarray:
    return np.array(list(values), dtype=object).reshape(-1, 1)


# ------------------------------------------------------------------------------------ makers

def make_cub(base: Path, data: dict, n_train: int, images: Images) -> Path:
    root = base / "CUB_200_2011"
    test = foci_images(data)
    folder_of = {}
    for image, gt in test.items():
        folder_of.setdefault(gt, image.split("/")[0])
    entries = [(image, folder_of[gt], 0) for image, gt in test.items()]
    for (gt, folder), n in zip(folder_of.items(), spread(n_train, len(folder_of))):
        entries += [(f"{folder}/{gt}_train_{j:04d}.jpg", folder, 1) for j in range(n)]
    entries.sort()
    (root / "images").mkdir(parents=True)
    (root / "classes.txt").write_text("".join(f"{int(f[:3])} {f}\n" for f in folder_of.values()))
    (root / "images.txt").write_text("".join(f"{i} {p}\n" for i, (p, _, _) in enumerate(entries, 1)))
    (root / "image_class_labels.txt").write_text(
        "".join(f"{i} {int(f[:3])}\n" for i, (_, f, _) in enumerate(entries, 1)))
    (root / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, (_, _, t) in enumerate(entries, 1)))
    for path, _, _ in entries:
        images.put(root / "images" / path)
    return root


def _cars_annos(fnames, classes, with_class=True) -> dict:
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] + (["class"] if with_class else []) + ["fname"]
    records = np.zeros((1, len(fnames)), dtype=[(f, "O") for f in fields])
    for i, (fname, cls) in enumerate(zip(fnames, classes)):
        for f in fields[:4]:
            records[0, i][f] = np.array([[i % 7 + 1]], dtype=np.uint16)
        if with_class:
            records[0, i]["class"] = np.array([[cls]], dtype=np.uint8)
        records[0, i]["fname"] = fname
    return {"annotations": records}


def make_cars(base: Path, data: dict, n_train: int, images: Images) -> Path:
    root = base
    names = sorted(data)  # cars_meta.mat: class i is names[i - 1]
    test = foci_images(data)
    test_fnames = list(test)
    test_classes = [names.index(gt) + 1 for gt in test.values()]
    train_fnames = [f"{k:05d}.jpg" for k in range(1, n_train + 1)]  # the same names as test images
    train_classes = [k % len(names) + 1 for k in range(n_train)]
    (root / "devkit").mkdir(parents=True)
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": np.array(names, dtype=object)[None, :]})
    savemat(root / "devkit" / "cars_train_annos.mat", _cars_annos(train_fnames, train_classes))
    savemat(root / "devkit" / "cars_test_annos.mat", _cars_annos(test_fnames, test_classes, with_class=False))
    savemat(root / "cars_test_annos_withlabels.mat", _cars_annos(test_fnames, test_classes))
    for f in train_fnames:
        images.put(root / "cars_train" / f)
    for f in test_fnames:
        images.put(root / "cars_test" / f)
    return root


def make_dogs(base: Path, data: dict, n_train: int, images: Images, extra: tuple[str, ...] = ()) -> Path:
    root = base
    test = foci_images(data)
    folders = sorted({image.split("/")[0] for image in test})  # labels in synset order, as the official lists
    label = {f: i + 1 for i, f in enumerate(folders)}
    test_files = sorted([*test, *extra])
    train_files = []
    for folder, n in zip(folders, spread(n_train, len(folders))):
        synset = folder.split("-")[0]
        train_files += [f"{folder}/{synset}_{900000 + j}.jpg" for j in range(n)]

    def write(path, files):
        savemat(path, {"file_list": cells(files), "annotation_list": cells(f.removesuffix(".jpg") for f in files),
                       "labels": np.array([[label[f.split("/")[0]]] for f in files], dtype=np.float64)})

    root.mkdir(parents=True, exist_ok=True)
    write(root / "train_list.mat", train_files)
    write(root / "test_list.mat", test_files)
    write(root / "file_list.mat", sorted(train_files + test_files))
    for f in train_files + test_files:
        images.put(root / "Images" / f)
    return root


def make_flowers(base: Path, data: dict, n_train: int, n_val: int, images: Images) -> Path:
    root = base
    label = {name: i + 1 for i, name in enumerate(FLOWERS_BY_LABEL)}  # the official files hold no names
    test = {int(image[6:11]): label[gt] for image, gt in foci_images(data).items()}
    classes = [label[k] for k in data]
    others, k = [], 1
    while len(others) < n_train + n_val:
        if k not in test:
            others.append(k)
        k += 1
    n = max([*test, *others])
    labels = np.ones(n, dtype=np.uint8)
    for number, cls in test.items():
        labels[number - 1] = cls
    for i, number in enumerate(others):
        labels[number - 1] = classes[i % len(classes)]
    trnid, valid = others[:n_train], others[n_train:]
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "imagelabels.mat", {"labels": labels[None, :]})
    ids = {"trnid": trnid, "valid": valid, "tstid": sorted(test)}
    savemat(root / "setid.mat", {k: np.array([v], dtype=np.uint16) for k, v in ids.items()})
    for number in [*test, *others]:
        images.put(root / "jpg" / f"image_{number:05d}.jpg")
    return root


def make_pets(base: Path, data: dict, n_train: int, images: Images) -> Path:
    root = base
    test = foci_images(data)
    raw_of = {}
    for image, gt in test.items():
        raw_of.setdefault(gt, Path(image).stem.rsplit("_", 1)[0])
    class_id = {gt: i + 1 for i, gt in enumerate(raw_of)}
    cats = sorted(r for r in raw_of.values() if r[0].isupper())
    dogs = sorted(r for r in raw_of.values() if not r[0].isupper())

    def line(name, gt):
        raw = raw_of[gt]
        species, breed = (1, cats.index(raw) + 1) if raw in cats else (2, dogs.index(raw) + 1)
        return f"{name} {class_id[gt]} {species} {breed}\n"

    train = []
    for (gt, raw), n in zip(raw_of.items(), spread(n_train, len(raw_of))):
        train += [(f"{raw}_{1000 + j}", gt) for j in range(n)]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "trainval.txt").write_text("".join(line(n, gt) for n, gt in train))
    (root / "annotations" / "test.txt").write_text("".join(line(Path(i).stem, gt) for i, gt in test.items()))
    (root / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n")
    for name in [n for n, _ in train] + [Path(i).stem for i in test]:
        images.put(root / "images" / f"{name}.jpg")
    return root


def make_aircraft(base: Path, data: dict, n_train: int, n_val: int, images: Images) -> Path:
    root = base / "fgvc-aircraft-2013b"
    d = root / "data"
    test = {Path(i).stem: gt for i, gt in foci_images(data).items()}
    variants = list(data)
    d.mkdir(parents=True)
    (d / "variants.txt").write_text("".join(f"{v}\n" for v in variants))
    (d / "images_variant_test.txt").write_text("".join(f"{i} {v}\n" for i, v in test.items()))
    ids = (i for i in (f"{9000000 + k}" for k in range(10**6)) if i not in test)
    train = [(next(ids), variants[k % len(variants)]) for k in range(n_train)]
    val = [(next(ids), variants[k % len(variants)]) for k in range(n_val)]
    (d / "images_variant_train.txt").write_text("".join(f"{i} {v}\n" for i, v in train))
    (d / "images_variant_val.txt").write_text("".join(f"{i} {v}\n" for i, v in val))
    for i in [*test, *(i for i, _ in train), *(i for i, _ in val)]:
        images.put(d / "images" / f"{i}.jpg")
    return root


def make(name: str, base: Path, full: bool = False) -> Path:
    """The official extracted layout of ``name`` under ``base``; returns the loader's ``root``.

    ``full``: every FOCI test image and the official train/val counts (hard-linked images);
    else SAMPLES[name] as the test images and 2 train (and val) images per class.
    """
    data = foci(name) if full else SAMPLES[name]
    images = Images(base, link=full)
    counts = OFFICIAL[name] if full else {"train": 2 * len(data), "val": 2 * len(data)}
    if name == "cub200":
        return make_cub(base, data, counts["train"], images)
    if name == "cars196":
        return make_cars(base, data, counts["train"], images)
    if name == "dogs120":
        return make_dogs(base, data, counts["train"], images, extra=(DOG_EXTRA,) if full else ())
    if name == "flowers102":
        return make_flowers(base, data, counts["train"], counts["val"], images)
    if name == "pets37":
        return make_pets(base, data, counts["train"], images)
    return make_aircraft(base, data, counts["train"], counts["val"], images)


# ------------------------------------------------------------------------------------ packing

def _tar(out: Path, members: list[tuple[Path, str]]) -> None:
    mode = "w:gz" if out.name.endswith(("gz", ".tgz")) else "w"
    with tarfile.open(out, mode) as tar:
        for path, arcname in members:
            tar.add(path, arcname=arcname)


def pack(name: str, root: Path, out: Path) -> list[str]:
    """The official download files of ``name`` made from the layout at ``root`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if name == "cub200":
        _tar(out / "CUB_200_2011.tgz", [(root, "CUB_200_2011")])
    elif name == "cars196":
        _tar(out / "cars_train.tgz", [(root / "cars_train", "cars_train")])
        _tar(out / "cars_test.tgz", [(root / "cars_test", "cars_test")])
        _tar(out / "car_devkit.tgz", [(root / "devkit", "devkit")])
        shutil.copy(root / "cars_test_annos_withlabels.mat", out)
    elif name == "dogs120":
        _tar(out / "images.tar", [(root / "Images", "Images")])
        _tar(out / "lists.tar", [(root / f, f) for f in ("file_list.mat", "train_list.mat", "test_list.mat")])
    elif name == "flowers102":
        _tar(out / "102flowers.tgz", [(root / "jpg", "jpg")])
        for f in ("imagelabels.mat", "setid.mat"):
            shutil.copy(root / f, out)
    elif name == "pets37":
        _tar(out / "images.tar.gz", [(root / "images", "images")])
        _tar(out / "annotations.tar.gz", [(root / "annotations", "annotations")])
    else:
        _tar(out / "fgvc-aircraft-2013b.tar.gz", [(root, "fgvc-aircraft-2013b")])
    return sorted(p.name for p in out.iterdir())
