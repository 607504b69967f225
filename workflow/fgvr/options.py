"""Hard negatives and 4-way multiple-choice options (DESIGN.md data contracts).

``negatives/{vlm}.csv``  ``label,rank,negative_label,similarity``: for every class the ``k``
    classes a VLM finds most similar (rank 1 = most similar, never the class itself), by the
    cosine of the class-name text embeddings (``by="names"``: categories.h5 ``names/embed``) or
    of the class-mean image embeddings (``by="images"``: the train split's ``objects/embed``,
    L2-normalised per image, averaged per class, re-normalised). Ties go to the lower label.

``options/{source}/{split}.jsonl``  one line per image of the split, in manifest order:
    ``{"image_id", "label", "options": [4 labels], "answer": index}``, ``options[answer] == label``;
    rows imported from FOCI also keep ``"names"``: the four options as the official file spells
    them ("Black_footed_Albatross"), in the same order (evaluation shows them: option_names).
    A VLM source follows FOCI's rule (REFERENCE.md section 4): the image embedding against the
    text embedding of ``PROMPT`` ("an image of a {class name}", categories.h5 ``prompts/embed``)
    for every class; the options are the true class and the 3 wrong classes ranked highest for
    that image. Source ``foci`` imports the official option files (``import_foci``): images
    matched by path to the manifest, every name mapped to a label.

Option order: the true class first, then the distractors (by rank; for FOCI in file order),
permuted by ``arrangement``: one numpy Generator seeded with ``[seed, stable hash of
"{dataset}/{split}"]`` draws one permutation of 4 per image of the split, in manifest order.
The answer positions are balanced (each letter the answer of a quarter of the images, shuffled),
so a model that always says one letter scores chance exactly, whichever letter it prefers.
The i-th image of a split gets the i-th permutation whatever the source, so a mined and an
imported option file put the answer at the same position for the same image, and two runs with
the same seed give identical bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .io import FgvrError, atomic_path, write_csv

log = logging.getLogger("fgvr.options")

PROMPT = "an image of a {}"  # FOCI's zero-shot prompt (OpenCLIP ViT-L-14 there)
N_OPTIONS = 4
KEY = "embed"  # a VLM's own embedding (DESIGN.md representations)
NEGATIVE_COLUMNS = ["label", "rank", "negative_label", "similarity"]
ROW_KEYS = ("image_id", "label", "options", "answer")  # an options row's keys, in the file's order

# registry name -> the official FOCI option file (under options.foci_dir)
FOCI_FILES = {
    "cub200": "bird-200-ViT-L-14-laion2b_s32b_b82k-4.json",
    "cars196": "car-196-ViT-L-14-laion2b_s32b_b82k-4.json",
    "dogs120": "dog-120-ViT-L-14-laion2b_s32b_b82k-4.json",
    "flowers102": "flower-102-ViT-L-14-laion2b_s32b_b82k-4.json",
    "pets37": "pet-37-ViT-L-14-laion2b_s32b_b82k-4.json",
    "aircraft100": "aircraft-102-ViT-L-14-laion2b_s32b_b82k-4.json",
}

# Where rule download_foci gets them: the official repository at the commit the paper's
# evaluation data were read from (REFERENCE.md section 4), each file checked against its sha256.
FOCI_COMMIT = "12bdc5c99b170b46edbd384f5e8e4bb5cc24a4be"
FOCI_URL = f"https://raw.githubusercontent.com/PKU-ICST-MIPL/Finedefics_ICLR2025/{FOCI_COMMIT}/FOCI-Benchmark/data/{{file}}"
FOCI_SHA256 = {
    "aircraft-102-ViT-L-14-laion2b_s32b_b82k-4.json": "872a31687310b08150fbbac2ea96f5e788bb20af81e460e28957ecca5ad72907",
    "bird-200-ViT-L-14-laion2b_s32b_b82k-4.json": "56219514808d0f3e91d876072c00c5b046b053ba566ad3abad7e9381211c4f01",
    "car-196-ViT-L-14-laion2b_s32b_b82k-4.json": "28e23c05cb277c044343c5aeb3bd92881d334f327f1f146a4926359ac971cd6c",
    "dog-120-ViT-L-14-laion2b_s32b_b82k-4.json": "00c69027ea2fc06e653552d29af10ea1780619a246cb58661e3cd586e4752ae8",
    "flower-102-ViT-L-14-laion2b_s32b_b82k-4.json": "94da4227f4ada72c03c920478d87278cab0e18a49ba0cf06ebcf9c2063e1abbb",
    "pet-37-ViT-L-14-laion2b_s32b_b82k-4.json": "74d57ceb84b734bee7312b762ab0edebbd4d3d041b45345e10fa27309a00f62f",
}
FOCI_DOWNLOADS = "resources/foci"  # where download_foci puts them when options.foci_dir is not set

# FOCI spellings (normalised) that ``normalise`` does not bring to a class_name or raw_name of
# ours, per data set: spelling -> our class_name or raw_name. CLIP's and torchvision's Flowers
# list calls label 93 "ball moss"; our loader and FOCI call it "air plant".
ALIASES: dict[str, dict[str, str]] = {
    "flowers102": {"ball moss": "air plant"},
}


# ------------------------------------------------------------------------------ shared helpers

def _unit(x: np.ndarray, what: str, names) -> np.ndarray:
    """Rows scaled to unit length (float64); a zero or non-finite row is an error naming it."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    bad = ~(np.isfinite(norms[:, 0]) & (norms[:, 0] > 0))
    if bad.any():
        raise FgvrError(f"{what}: the embedding of {names[int(np.argmax(bad))]!r} is zero or not finite")
    return x / norms


def _ranked(sims: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For every row of ``sims`` (columns = ``labels``), the labels from most to least similar;
    equal similarities are ordered by label."""
    by_label = np.argsort(labels, kind="stable")
    order = np.argsort(-sims[:, by_label], axis=1, kind="stable")
    return np.asarray(labels)[by_label][order]


def _vectors(store, group: str, key: str, dataset: str) -> np.ndarray:
    """``store.groups[group][key]``, or an error saying what the file holds instead."""
    if key not in store.groups.get(group, {}):
        model = store.attrs.get("model", "the model")
        raise FgvrError(f"{dataset}: {store.path} has no {group}/{key} (it holds {sorted(store.groups)} with "
                        f"{ {g: sorted(v) for g, v in store.groups.items()} }): is {model} a VLM, and was "
                        "categories.h5 extracted with this version (VLMs get a prompts/ group)?")
    return store.groups[group][key]


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def arrangement(n: int, seed: int, dataset: str, split: str) -> np.ndarray:
    """(n, 4): row i is the permutation of image i of the split (in manifest order): the option
    at position j is the i-th image's base option ``perm[i, j]`` (base 0 = the true class)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FgvrError(f"{dataset}: options seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng([int(seed), _stable_hash(f"{dataset}/{split}")])
    answers = rng.permutation(np.arange(n) % N_OPTIONS)  # balanced: each position a quarter of the time
    distractors = rng.permuted(np.tile(np.arange(1, N_OPTIONS), (n, 1)), axis=1)
    return np.array([np.insert(row, at, 0) for row, at in zip(distractors, answers)]).reshape(n, N_OPTIONS)


def _arranged(image_ids, labels, base: np.ndarray, seed: int, dataset: str, split: str,
              names: list[list[str] | None] | None = None) -> list[dict]:
    """Rows for the images whose ``base`` (n, 4; true class first) is set (>= 0), in the given
    order, the options permuted by ``arrangement``; ``names`` (per image, in base order, or
    None), permuted the same way, become each row's ``names``."""
    perm = arrangement(len(base), seed, dataset, split)
    options = np.take_along_axis(base, perm, axis=1)
    answers = np.argmax(perm == 0, axis=1)
    rows = []
    for n, (i, y, opts, a, b) in enumerate(zip(image_ids, labels, options, answers, base)):
        if b[0] < 0:
            continue
        row = {"image_id": str(i), "label": int(y), "options": [int(o) for o in opts], "answer": int(a)}
        if names is not None and names[n] is not None:
            row["names"] = [names[n][j] for j in perm[n]]
        rows.append(row)
    return rows


def rearrange(rows: list[dict], seed: int, dataset: str, split: str) -> list[dict]:
    """The same options in option seed ``seed``'s order (``evaluation.option_seeds``): each row's
    true class and its three distractors (in the row's order) permuted by ``arrangement(len(rows),
    seed, dataset, split)``, row i by the i-th permutation, ``names`` alongside. Letter-balanced
    like every arrangement, and the answer lands where ``options.seed: seed`` would have put it
    for a file that covers the whole split."""
    perm = arrangement(len(rows), seed, dataset, split)
    out = []
    for row, p in zip(rows, perm):
        base = [row["answer"]] + [j for j in range(N_OPTIONS) if j != row["answer"]]  # file positions
        order = [base[b] for b in p]
        new = {"image_id": row["image_id"], "label": row["label"], "options": [row["options"][j] for j in order],
               "answer": int(np.argmax(p == 0))}
        if "names" in row:
            new["names"] = [row["names"][j] for j in order]
        out.append(new)
    return out


# ------------------------------------------------------------------------------ hard negatives

def negatives(store, by: str, k: int, dataset: str = "", labels=None, key: str = KEY) -> pd.DataFrame:
    """The ``k`` most similar classes of every class (columns ``NEGATIVE_COLUMNS``, sorted by
    label and rank). ``store``: a VLM's categories store (``by="names"``) or its train split
    store (``by="images"``). ``labels``, if given, are the data set's classes: each must have
    a vector (a class with no train image is an error)."""
    if by == "names":
        vectors = _unit(_vectors(store, "names", key, dataset), f"{dataset}: {store.path}", store.ids)
        classes = np.asarray(store.labels)
        if len(np.unique(classes)) != len(classes):
            raise FgvrError(f"{dataset}: {store.path}: class labels are repeated")
    elif by == "images":
        images = _unit(_vectors(store, "objects", key, dataset), f"{dataset}: {store.path}", store.ids)
        classes, index = np.unique(store.labels, return_inverse=True)
        sums = np.zeros((len(classes), images.shape[1]))
        np.add.at(sums, index, images)
        vectors = _unit(sums, f"{dataset}: {store.path} (class means)", [f"class {c}" for c in classes])
    else:
        raise FgvrError(f"{dataset}: negatives.by must be 'names' or 'images', got {by!r}")
    if labels is not None:
        lacking = sorted(set(int(x) for x in labels) - set(int(c) for c in classes))
        if lacking:
            raise FgvrError(f"{dataset}: {store.path} has no {by} embedding of class(es) {lacking[:5]}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(classes):
        raise FgvrError(f"{dataset}: negatives.k must be an integer from 1 to {len(classes) - 1} "
                        f"(the data set has {len(classes)} classes), got {k!r} ({store.path})")
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    ranked = _ranked(sims, classes)[:, :k]
    col = {int(c): j for j, c in enumerate(classes)}
    rows = [(int(c), r + 1, int(n), float(sims[i, col[int(n)]]))
            for i, c in enumerate(classes) for r, n in enumerate(ranked[i])]
    return pd.DataFrame(rows, columns=NEGATIVE_COLUMNS).sort_values(["label", "rank"], ignore_index=True)


def write_negatives(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a ``negatives`` frame atomically."""
    write_csv(path, frame[NEGATIVE_COLUMNS])


def read_negatives(path: str | Path) -> pd.DataFrame:
    """Read ``negatives/{vlm}.csv``, checking its columns and that no class is its own negative."""
    path = Path(path)
    if not path.is_file():
        raise FgvrError(f"{path}: negatives file not found")
    frame = pd.read_csv(path)
    if list(frame.columns) != NEGATIVE_COLUMNS:
        raise FgvrError(f"{path}: columns {list(frame.columns)}, expected {NEGATIVE_COLUMNS}")
    own = frame[frame["label"] == frame["negative_label"]]
    if len(own):
        raise FgvrError(f"{path}: class {own['label'].iloc[0]} is listed as its own negative")
    return frame


# ------------------------------------------------------------------------------ options mined by a VLM

def mine_options(objects, categories, manifest: pd.DataFrame, seed: int, dataset: str, split: str,
                 key: str = KEY) -> list[dict]:
    """4-way options for every image of ``split`` in ``manifest`` (manifest order), by FOCI's
    rule: the image's ``objects/{key}`` against every class's ``prompts/{key}``; the true class
    and the 3 wrong classes with the highest cosine, arranged by ``arrangement``.
    ``objects``: the VLM's {split}.h5 store; ``categories``: its categories.h5 store."""
    frame = manifest[manifest["split"] == split] if "split" in manifest else manifest
    if frame.empty:
        raise FgvrError(f"{dataset}: the manifest has no images in split {split!r}")
    x = _vectors(objects, "objects", key, dataset)
    t = _vectors(categories, "prompts", key, dataset)
    models = {objects.attrs.get("model"), categories.attrs.get("model")}
    if len(models) > 1:
        raise FgvrError(f"{dataset}: {objects.path} and {categories.path} come from different models "
                        f"{sorted(map(str, models))}")
    if x.shape[1] != t.shape[1]:
        raise FgvrError(f"{dataset}: {objects.path} ({x.shape[1]}) and {categories.path} ({t.shape[1]}): "
                        f"{key} sizes differ")
    position = {str(i): j for j, i in enumerate(objects.ids)}
    ids, labels = frame["image_id"].astype(str).tolist(), frame["label"].to_numpy(np.int64)
    missing = [i for i in ids if i not in position]
    if missing:
        raise FgvrError(f"{dataset}: {objects.path} lacks {len(missing)} image(s) of split {split!r}, e.g. "
                        f"{missing[:3]} (extract that split, or is it another split's file?)")
    rows = np.array([position[i] for i in ids])
    stored = np.asarray(objects.labels)[rows]
    if (stored != labels).any():
        bad = int(np.argmax(stored != labels))
        raise FgvrError(f"{dataset}: {objects.path}: image {ids[bad]!r} has label {stored[bad]}, "
                        f"the manifest says {labels[bad]}")
    classes = np.asarray(categories.labels)
    column = {int(c): j for j, c in enumerate(classes)}
    unknown = sorted(set(labels.tolist()) - set(column))
    if unknown:
        raise FgvrError(f"{dataset}: {categories.path} has no class {unknown[:5]} (split {split!r})")
    if len(classes) < N_OPTIONS:
        raise FgvrError(f"{dataset}: {N_OPTIONS}-way options need {N_OPTIONS} classes, {categories.path} has "
                        f"{len(classes)}")
    sims = _unit(x[rows], f"{dataset}: {objects.path}", ids) @ _unit(t, f"{dataset}: {categories.path}",
                                                                      categories.ids).T
    sims[np.arange(len(ids)), [column[int(y)] for y in labels]] = -np.inf  # the true class is not a distractor
    base = np.column_stack([labels, _ranked(sims, classes)[:, :N_OPTIONS - 1]])
    return _arranged(ids, labels, base, seed, dataset, split)


# ------------------------------------------------------------------------------ FOCI's option files

def foci_file(dataset: str, foci_dir: str | Path | None = None) -> Path:
    """The official FOCI option file of registry name ``dataset``: in ``foci_dir`` (a local copy),
    else where download_foci puts it."""
    if dataset not in FOCI_FILES:
        raise FgvrError(f"{dataset}: FOCI has option files only for {sorted(FOCI_FILES)}")
    return Path(foci_dir or FOCI_DOWNLOADS) / FOCI_FILES[dataset]


def foci_remote(file: str, url: str | None = None):
    """The download of one official option file (``fgvr.datasets.download.Remote``): from the
    pinned commit, or from ``url`` (options.foci_url), with the pinned checksum either way."""
    from .datasets.download import Remote, location

    if file not in FOCI_SHA256:
        raise FgvrError(f"{file}: not an official FOCI option file (those are {sorted(FOCI_SHA256)})")
    return Remote(file, (location(url or FOCI_URL, file),), f"sha256:{FOCI_SHA256[file]}")


def read_foci(path: str | Path) -> pd.DataFrame:
    """One row per distinct image of a FOCI option file ``{class: [{"image": "images/<path>",
    "options": [4 names], "groundtruth": name}]}``: ``image`` (path without the images/
    prefix), ``groundtruth``, ``options``, ``key``. The Dog-120 file lists
    images/n02085620-Chihuahua/n02085620_1235.jpg twice: a repeated image is kept once, with a
    warning (so one official test image has no options there)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        entries = [(key, e["image"], e["groundtruth"], e["options"]) for key, es in data.items() for e in es]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise FgvrError(f"{path}: not a readable FOCI option file ({type(err).__name__}: {err})") from err
    rows, seen = [], {}
    for key, image, truth, options in entries:
        short = image.removeprefix("images/")
        if short in seen:
            if seen[short] != truth:
                raise FgvrError(f"{path}: {image} is listed as {seen[short]!r} and as {truth!r}")
            log.warning("%s: %s is listed twice; keeping the first entry", path, image)
            continue
        seen[short] = truth
        rows.append({"image": short, "groundtruth": truth, "options": list(options), "key": key})
    return pd.DataFrame(rows, columns=["image", "groundtruth", "options", "key"])


def attach_foci(manifest: pd.DataFrame, options: pd.DataFrame, split: str = "test",
                source: str = "FOCI") -> pd.DataFrame:
    """The FOCI rows with the ``image_id``, ``label`` and ``class_name`` of their image in the
    manifest's ``split``, matched on the trailing path components (as many as the FOCI path
    has). Raises, naming ``source`` and the first few, if a FOCI image is not there or matches
    two images."""
    frame = manifest[manifest["split"] == split]
    index: dict[str, int] = {}
    twice: set[str] = set()
    for d in {len(PurePosixPath(i).parts) for i in options["image"]}:
        for row, path in zip(frame.index, frame["path"]):
            tail = "/".join(Path(path).parts[-d:])
            if tail in index:
                twice.add(tail)
            index[tail] = row
    ambiguous = [i for i in options["image"] if i in twice]
    if ambiguous:
        raise FgvrError(f"{source}: {len(ambiguous)} image(s) match two images of the {split} split, e.g. "
                        f"{ambiguous[:3]}")
    where = [index.get(i) for i in options["image"]]
    missing = [i for i, w in zip(options["image"], where) if w is None]
    if missing:
        raise FgvrError(f"{source}: {len(missing)} FOCI image(s) are not in the {split} split, e.g. {missing[:3]}")
    matched = frame.loc[where, ["image_id", "label", "class_name"]].reset_index(drop=True)
    return pd.concat([options.reset_index(drop=True), matched], axis=1)


def normalise(name: str) -> str:
    """A class name reduced for matching: lower case; a leading index ("001.") or WordNet id
    ("n02085620-") dropped; underscores, hyphens and slashes made spaces; other punctuation
    dropped; spaces collapsed. "n02096585-Boston_bull" and "boston bull" agree."""
    name = re.sub(r"^(\d+\.|n\d{8}[-_])", "", str(name).strip().lower())
    name = re.sub(r"[^\w\s]", "", re.sub(r"[_\-/]", " ", name))
    return " ".join(name.split())


def name_labels(names, classes: pd.DataFrame, dataset: str, source: str = "",
                aliases: dict[str, str] | None = None) -> dict[str, int]:
    """Each of ``names`` -> the label of the class it names: the exact class_name or raw_name,
    else the one class whose normalised class_name or raw_name it equals, else its alias
    (``aliases``, default ``ALIASES[dataset]``: normalised spelling -> one of our names). Every
    name that matches no class, or two, is reported at once."""
    aliases = ALIASES.get(dataset, {}) if aliases is None else aliases
    exact, loose = {}, {}
    raw_names = classes["raw_name"] if "raw_name" in classes else classes["class_name"]
    for label, clean, raw in zip(classes["label"], classes["class_name"], raw_names):
        for text in {str(clean), str(raw)}:
            exact.setdefault(text, set()).add(int(label))
            loose.setdefault(normalise(text), set()).add(int(label))

    def lookup(name: str) -> set[int]:
        if name in exact:
            return exact[name]
        key = normalise(name)
        if key in loose:
            return loose[key]
        target = aliases.get(key)
        return lookup(target) if target is not None and target != name else set()

    out, unknown, ambiguous = {}, [], []
    for name in dict.fromkeys(names):
        found = lookup(name)
        if len(found) == 1:
            out[name] = next(iter(found))
        elif found:
            ambiguous.append(f"{name!r} (labels {sorted(found)})")
        else:
            unknown.append(repr(name))
    if unknown or ambiguous:
        parts = []
        if unknown:
            parts.append(f"{len(unknown)} name(s) match no class of classes.csv: {', '.join(unknown[:5])}")
        if ambiguous:
            parts.append(f"{len(ambiguous)} name(s) match several: {', '.join(ambiguous[:5])}")
        raise FgvrError(f"{dataset}: {source}: {'; '.join(parts)} (add an alias to fgvr.options.ALIASES)")
    return out


def import_foci(path: str | Path, manifest: pd.DataFrame, classes: pd.DataFrame, seed: int, dataset: str,
                split: str = "test", aliases: dict[str, str] | None = None) -> list[dict]:
    """The official options of ``path`` as option rows for the images of ``split`` (manifest
    order): images matched by path, names mapped to labels (``name_labels``), the ground truth
    checked against the manifest's label, arranged like mined options (the true class first,
    then FOCI's distractors in file order), each row keeping the four names as the file spells
    them (``names``). Images of the split that the file does not cover (Dog-120: one) get no
    row, with a warning."""
    source = f"{dataset}: {path}"
    foci = read_foci(path)
    if foci.empty:
        raise FgvrError(f"{source}: no entries")
    matched = attach_foci(manifest, foci, split, source)
    mapping = name_labels(pd.concat([matched["groundtruth"], matched["options"].explode()]), classes, dataset,
                          str(path), aliases)
    problems, base, spelt = [], {}, {}
    for image, image_id, label, truth, options in zip(matched["image"], matched["image_id"], matched["label"],
                                                      matched["groundtruth"], matched["options"]):
        labels = [mapping[o] for o in options]
        if mapping[truth] != label:
            problems.append(f"{image} is {truth!r} there, label {label} in the manifest")
        elif len(set(labels)) != N_OPTIONS or label not in labels:
            problems.append(f"{image} has options {options} (want {N_OPTIONS} distinct names, the true one among them)")
        else:
            order = [labels.index(label)] + [j for j, x in enumerate(labels) if x != label]
            base[image_id] = [labels[j] for j in order]
            spelt[image_id] = [options[j] for j in order]
    if problems:
        raise FgvrError(f"{source}: {len(problems)} entr(ies) disagree with the data set, e.g. "
                        f"{'; '.join(problems[:3])}")
    frame = manifest[manifest["split"] == split]
    ids = frame["image_id"].astype(str).tolist()
    uncovered = [i for i in ids if i not in base]
    if uncovered:
        log.warning("%s: %d image(s) of the %s split have no official options (not evaluated by FOCI), e.g. %s",
                    source, len(uncovered), split, uncovered[:3])
    rows = np.array([base.get(i, [-1] * N_OPTIONS) for i in ids], dtype=np.int64).reshape(-1, N_OPTIONS)
    return _arranged(ids, frame["label"].to_numpy(np.int64), rows, seed, dataset, split, [spelt.get(i) for i in ids])


# ------------------------------------------------------------------------------ the JSONL files

def check_options(rows: list[dict], source: str, manifest: pd.DataFrame | None = None,
                  classes: pd.DataFrame | None = None) -> None:
    """Each row: the four keys (and optionally ``names``: 4 strings), 4 distinct integer labels,
    ``answer`` in 0..3 pointing at ``label``, image ids unique; with ``manifest``, ids known and labels as there; with
    ``classes``, every option a known label. The first bad row is named."""
    known = dict(zip(manifest["image_id"].astype(str), manifest["label"])) if manifest is not None else None
    labels = set(int(x) for x in classes["label"]) if classes is not None else None
    seen = set()
    for n, row in enumerate(rows, 1):
        where = f"{source}: line {n}"
        if not isinstance(row, dict) or set(row) - {"names"} != set(ROW_KEYS):
            raise FgvrError(f"{where}: want the keys image_id, label, options, answer (and optionally names), got "
                            f"{sorted(row) if isinstance(row, dict) else type(row).__name__}")
        image, label, options, answer = row["image_id"], row["label"], row["options"], row["answer"]
        ints = [label, answer, *options] if isinstance(options, list) else []
        if not ints or not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise FgvrError(f"{where} ({image}): label, answer and options must be integers")
        if len(options) != N_OPTIONS or len(set(options)) != N_OPTIONS:
            raise FgvrError(f"{where} ({image}): want {N_OPTIONS} distinct options, got {options}")
        if not 0 <= answer < N_OPTIONS or options[answer] != label:
            raise FgvrError(f"{where} ({image}): answer {answer} does not point at label {label} in {options}")
        names = row.get("names")
        if names is not None and not (isinstance(names, list) and len(names) == N_OPTIONS
                                      and all(isinstance(x, str) and x for x in names)):
            raise FgvrError(f"{where} ({image}): names must be {N_OPTIONS} non-empty strings, got {names!r}")
        if image in seen:
            raise FgvrError(f"{where}: image {image!r} is listed twice")
        seen.add(image)
        if known is not None:
            if image not in known:
                raise FgvrError(f"{where}: unknown image {image!r}")
            if int(known[image]) != label:
                raise FgvrError(f"{where}: image {image!r} has label {known[image]} in the manifest, not {label}")
        if labels is not None and not set(options) <= labels:
            raise FgvrError(f"{where} ({image}): unknown class(es) {sorted(set(options) - labels)}")


def write_options(path: str | Path, rows: list[dict]) -> None:
    """Check ``rows`` and write them as JSONL, atomically (one compact line each, keys in the
    contract's order: the same rows give the same bytes)."""
    check_options(rows, str(path))
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for r in rows:
                f.write(json.dumps({k: r[k] for k in ROW_KEYS + ("names",) if k in r}) + "\n")


def read_options(path: str | Path, manifest: pd.DataFrame | None = None,
                 classes: pd.DataFrame | None = None) -> list[dict]:
    """Read an options JSONL file, checked by ``check_options``."""
    path = Path(path)
    if not path.is_file():
        raise FgvrError(f"{path}: options file not found")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except ValueError as err:
            raise FgvrError(f"{path}: line {n} is not JSON ({err})") from err
    check_options(rows, str(path), manifest, classes)
    return rows
