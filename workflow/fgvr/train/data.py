"""Training samples of the two stages, from the files earlier stages wrote (DESIGN.md).

Stage 1 (attribute-augmented alignment): per training image its description, its class name,
and for each of its class's k hard negatives (negatives/{vlm}.csv) that class's name and the
description of one of its images. Stage 2 (classification-centred instruction tuning): per
training image one open question (answer: the class name) and one 4-way multiple-choice
question from options/{source}/train.jsonl (answer: the letter), as the evaluation asks them
(``fgvr.prompts``: the data set's own question; the options by their clean class names, since
mined options have no official spelling).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import pandas as pd

from ..io import FgvrError

GEN_PROMPT = "Describe the {super} in the image."
LABEL_SPACE = 1_000_000  # labels of several data sets kept apart: dataset index * this + label


@dataclass(frozen=True)
class DatasetFiles:
    """What one data set contributes (paths of results/data/{dataset}/...)."""

    name: str
    super: str
    manifest: str
    classes: str
    descriptions: str
    negatives: str
    options: str
    question: str = ""  # the data set's multiple-choice question (plan.dataset_question)


@dataclass
class Stage1Sample:
    path: str
    label: int  # unique across data sets
    description: str
    name: str
    super: str
    negative_names: list[str] = field(default_factory=list)
    negative_descriptions: list[str] = field(default_factory=list)


@dataclass
class Stage2Sample:
    path: str
    prompt: str
    answer: str


def _read(files: DatasetFiles):
    from ..datasets.manifest import read_classes, read_manifest

    manifest = read_manifest(files.manifest, "train")
    classes = read_classes(files.classes)
    described = pd.read_csv(files.descriptions, dtype=str, keep_default_na=False)
    text = dict(zip(described["image_id"], described["description"]))
    missing = [i for i in manifest["image_id"] if not text.get(i, "").strip()]
    if missing:
        raise FgvrError(f"{files.descriptions}: no description for training image {missing[0]!r} of "
                        f"{files.name} ({len(missing)} lack one); rerun describe")
    return manifest, classes, text


def stage1_samples(sets: list[DatasetFiles], k: int | None = None) -> list[Stage1Sample]:
    from ..options import read_negatives

    samples = []
    for index, files in enumerate(sets):
        manifest, classes, text = _read(files)
        names = dict(zip(classes["label"], classes["class_name"]))
        negatives = read_negatives(files.negatives)
        unknown = sorted(set(negatives["label"]).union(negatives["negative_label"]) - set(names))
        if unknown:
            raise FgvrError(f"{files.negatives}: class {unknown[0]} is not a class of {files.name}")
        ranked = {lab: group.sort_values("rank")["negative_label"].tolist()[:k]
                  for lab, group in negatives.groupby("label")}
        images_of = {lab: manifest.loc[manifest["label"] == lab, "image_id"].tolist() for lab in names}
        for row, (image_id, path, label) in enumerate(zip(manifest["image_id"], manifest["path"], manifest["label"])):
            negs = ranked.get(label, [])
            # one description per negative class, of one of its images (chosen by position: stable)
            neg_texts = [text[images_of[n][(row + j) % len(images_of[n])]] if images_of[n] else names[n]
                         for j, n in enumerate(negs)]
            samples.append(Stage1Sample(path, index * LABEL_SPACE + int(label), text[image_id], names[label],
                                        files.super, [names[n] for n in negs], neg_texts))
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
        rows = {r["image_id"]: r for r in read_options(files.options, manifest, classes)}
        lacking = [i for i in manifest["image_id"] if i not in rows]
        if lacking:
            raise FgvrError(f"{files.options}: no options for training image {lacking[0]!r} of {files.name}")
        for image_id, path, label in zip(manifest["image_id"], manifest["path"], manifest["label"]):
            row = rows[image_id]
            samples.append(Stage2Sample(path, open_prompt(files.super), names[label]))
            asked = question("", files.super, files.question)
            samples.append(Stage2Sample(path, mc_prompt([names[o] for o in row["options"]], asked),
                                        LETTERS[row["answer"]]))
    return samples

