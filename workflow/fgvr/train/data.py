"""Training samples of the two stages, from the files earlier stages wrote (DESIGN.md).

Training images are those of the data set's training splits (``splits``: train and, where the
data set has one, val by default: the official step counts match train + val).

Stage 1 (attribute-augmented alignment): per training image its description, its class name,
and for each of its class's k hard negatives (negatives/{vlm}.csv) that class's name and the
description of one of its images. Labels are one per class name across data sets (normalised:
Stanford Dogs' and Oxford Pets' "Chihuahua" is one class), so a name is never a negative of
itself. Stage 2 (classification-centred instruction tuning): per training image one open
question (answer: the class name) and one 4-way multiple-choice question from
options/{source}/{split}.jsonl (answer: the letter), as the evaluation asks them
(``fgvr.prompts``: the data set's own question; the options by their clean class names, since
mined options have no official spelling).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import pandas as pd

from ..io import FgvrError

GEN_PROMPT = "Describe the {super} in the image."
# The DatasetFiles fields each stage reads (its rule's inputs; a checkpoint's identity hashes them)
STAGE_FILES = {1: ("manifest", "classes", "descriptions", "negatives"), 2: ("manifest", "classes", "descriptions", "options")}


@dataclass(frozen=True)
class DatasetFiles:
    """What one data set contributes (paths of results/data/{dataset}/...)."""

    name: str
    super: str
    manifest: str
    classes: str
    descriptions: str
    negatives: str
    options: list[str]  # options/{vlm}/{split}.jsonl of each training split
    question: str = ""  # the data set's multiple-choice question (plan.dataset_question)
    splits: list[str] = field(default_factory=lambda: ["train"])  # the training splits


@dataclass
class Stage1Sample:
    path: str
    label: int  # one per class name across data sets
    description: str
    name: str
    super: str
    negative_names: list[str] = field(default_factory=list)
    negative_descriptions: list[str] = field(default_factory=list)
    negative_labels: list[int] = field(default_factory=list)


@dataclass
class Stage2Sample:
    path: str
    prompt: str
    answer: str


def _read(files: DatasetFiles):
    from ..datasets.manifest import read_classes, read_manifest

    manifest = read_manifest(files.manifest)
    manifest = manifest[manifest["split"].isin(files.splits)].reset_index(drop=True)
    if manifest.empty:
        raise FgvrError(f"{files.manifest}: no images in the training split(s) {list(files.splits)} of {files.name}")
    classes = read_classes(files.classes)
    described = pd.read_csv(files.descriptions, dtype=str, keep_default_na=False)
    text = dict(zip(described["image_id"], described["description"]))
    missing = [i for i in manifest["image_id"] if not text.get(i, "").strip()]
    if missing:
        raise FgvrError(f"{files.descriptions}: no description for training image {missing[0]!r} of "
                        f"{files.name} ({len(missing)} lack one); rerun describe")
    return manifest, classes, text


def stage1_samples(sets: list[DatasetFiles], k: int | None = None) -> list[Stage1Sample]:
    from ..options import normalise, read_negatives

    samples, name_ids = [], {}
    for files in sets:
        manifest, classes, text = _read(files)
        names = dict(zip(classes["label"], classes["class_name"]))
        negatives = read_negatives(files.negatives)
        unknown = sorted(set(negatives["label"]).union(negatives["negative_label"]) - set(names))
        if unknown:
            raise FgvrError(f"{files.negatives}: class {unknown[0]} is not a class of {files.name}")
        ranked = {lab: group.sort_values("rank")["negative_label"].tolist()[:k]
                  for lab, group in negatives.groupby("label")}
        images_of = {lab: manifest.loc[manifest["label"] == lab, "image_id"].tolist() for lab in names}
        ids = {lab: name_ids.setdefault(normalise(name), len(name_ids)) for lab, name in names.items()}
        for row, (image_id, path, label) in enumerate(zip(manifest["image_id"], manifest["path"], manifest["label"])):
            negs = ranked.get(label, [])
            # one description per negative class, of one of its images (chosen by position: stable)
            neg_texts = [text[images_of[n][(row + j) % len(images_of[n])]] if images_of[n] else names[n]
                         for j, n in enumerate(negs)]
            samples.append(Stage1Sample(path, ids[label], text[image_id], names[label], files.super,
                                        [names[n] for n in negs], neg_texts, [ids[n] for n in negs]))
    counts = {len(s.negative_names) for s in samples}
    if len(counts) > 1:
        raise FgvrError(f"hard negatives: classes have {sorted(counts)} negatives each; every class needs the same k")
    return samples


def stage2_samples(sets: list[DatasetFiles]) -> list[Stage2Sample]:
    from ..options import read_options
    from ..prompts import LETTERS, mc_prompt, open_prompt, question

    samples = []
    for files in sets:
        manifest, classes, _ = _read(files)
        names = dict(zip(classes["label"], classes["class_name"]))
        rows = {r["image_id"]: r for path in files.options for r in read_options(path, manifest, classes)}
        lacking = [i for i in manifest["image_id"] if i not in rows]
        if lacking:
            raise FgvrError(f"{', '.join(files.options)}: no options for training image {lacking[0]!r} of "
                            f"{files.name} (splits {list(files.splits)})")
        for image_id, path, label in zip(manifest["image_id"], manifest["path"], manifest["label"]):
            row = rows[image_id]
            samples.append(Stage2Sample(path, open_prompt(files.super), names[label]))
            asked = question("", files.super, files.question)
            samples.append(Stage2Sample(path, mc_prompt([names[o] for o in row["options"]], asked),
                                        LETTERS[row["answer"]]))
    return samples

