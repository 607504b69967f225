"""Attribute descriptions (paper section 2, REFERENCE.md): what the object in each image looks
like, attribute by attribute, and what each class looks like, its name replaced by a pronoun.

Three sources, per data set (``datasets.X.descriptions``):
- ``generate``: the paper's three steps with an MLLM through its own chat template: (1) the
  attributes that tell the subcategories apart, (2) per image and attribute a short VQA answer,
  (3) one summary sentence from the answers, with no class name; plus per class a description
  from the model's own knowledge. Greedy and batched; every answer is cached in a JSONL file
  keyed by item, attribute, prompt, model revision and prompt format (``prompts.PROMPT_FORMAT``),
  so a killed run resumes and answers to other prompt tokens are never reused.
- ``ground_truth``: annotations (the synthetic set's part attributes, CUB's 312 attributes).
- ``{file: path}``: the user's CSV (image_id,description) covering every image.

Outputs (DESIGN.md): attributes.json, descriptions.csv, class_descriptions.csv.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .io import FgvrError, write_csv, write_json
from .prompts import PROMPT_FORMAT

log = logging.getLogger("fgvr.describe")

# What the objects are and what their subcategories are called, per loader (config: super, kinds).
DOMAINS = {"synthetic": ("bird", "species"), "cub200": ("bird", "species"), "cars196": ("car", "models"),
           "dogs120": ("dog", "breeds"), "flowers102": ("flower", "species"), "pets37": ("pet", "breeds"),
           "aircraft100": ("aircraft", "variants"), "folder": ("object", "types")}

PROMPTS = {
    "attributes": "What are the useful attributes for distinguishing specific {super} {kinds} in a photo of a {super}?",
    "vqa": "What is the {attribute} of the {super} in this photo?",
    "summary": ("These are attributes of a {super} in a photo:\n{answers}\nWrite one sentence that describes the "
                "{super} with these attributes."),
    "class": "What does the {super} {name} look like? Describe its appearance in one sentence.",
}
IMAGE_COLUMNS = ["image_id", "description"]
CLASS_COLUMNS = ["label", "class_name", "description"]


def domain(loader: str, options: dict) -> tuple[str, str]:
    """(super-category, what its subcategories are called) for a data set entry."""
    default = DOMAINS.get(loader, DOMAINS["folder"])
    return options.get("super", default[0]), options.get("kinds", default[1])


# ---------------------------------------------------------------- parsing and cleaning

def parse_attributes(text: str, cap: int, source: str) -> list[str]:
    """The attribute names in a model's list answer (numbered, bulleted, comma- or line-separated),
    lower case, de-duplicated, at most ``cap``. A list over several lines gives one attribute per
    line (what follows a colon is its values: "Body colour: red, blue")."""
    items = []
    lines = [line for line in text.splitlines() if line.strip()]
    for piece in lines if len(lines) > 1 else re.split(r"[,;]|\s\d+[.)]\s", text):
        piece = re.sub(r"^\s*(?:\d+[.)]|[-*\u2022])\s*", "", piece)  # list markers
        piece = re.sub(r"\s+", " ", piece.split(":")[0]).strip(" .:*\"'").lower()
        piece = re.sub(r"^(?:and|or)\s+", "", piece)
        if piece and len(piece.split()) <= 6 and piece not in items:
            items.append(piece)
    if not items:
        raise FgvrError(f"{source}: no attribute could be parsed from {text!r}; give the list in the config "
                        "(descriptions.attribute_list)")
    return items[:cap]


def without_name(text: str, name: str) -> str:
    """``text`` with the class name replaced by a pronoun ("It", or "it" inside a sentence)."""
    pattern = re.compile(rf"\b(?:the\s+|a\s+|an\s+)?{re.escape(name)}\b", re.IGNORECASE)

    def pronoun(match):
        start = match.start()
        sentence_start = start == 0 or text[:start].rstrip().endswith((".", "!", "?"))
        return "It" if sentence_start else "it"

    return pattern.sub(pronoun, text).strip()


# ---------------------------------------------------------------- the JSONL cache

class AnswerCache:
    """Generated answers keyed by (item, attribute, prompt, model revision, prompt format),
    appended as they come; a torn last line (a killed job) is ignored."""

    def __init__(self, path: str | Path, revision: str):
        self.path, self.revision = Path(path), revision
        self.answers: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.answers[entry["key"]] = entry["answer"]
                except (ValueError, KeyError):
                    continue
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def key(self, item: str, attribute: str, prompt: str) -> str:  # other prompt tokens: other answers
        return hashlib.sha256(json.dumps([item, attribute, prompt, self.revision, PROMPT_FORMAT]).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        return self.answers.get(key)

    def put(self, entries: list[tuple[str, dict, str]]) -> None:
        """Append (key, what it was, answer) entries and flush them to disk."""
        with self.path.open("a") as f:
            for key, what, answer in entries:
                self.answers[key] = answer
                f.write(json.dumps({"key": key, **what, "answer": answer}) + "\n")


def _ask(adapter, cache: AnswerCache, jobs: list[dict], batch_size: int, max_new_tokens: int, desc: str,
         progress: bool, images=None) -> dict[str, str]:
    """Answer every job ({item, attribute, prompt[, path]}) not in the cache, ``batch_size`` prompts
    per generate call; returns key -> answer for all jobs. Empty answers stop the run."""
    keyed = [(cache.key(j["item"], j["attribute"], j["prompt"]), j) for j in jobs]
    todo = [(k, j) for k, j in keyed if cache.get(k) is None]
    with tqdm(total=len(todo), desc=desc, unit=" prompts", disable=not progress, mininterval=2) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            pictures = None
            if images:  # one object per distinct image: the adapter runs its vision side once for its questions
                loaded = {p: images(p) for p in dict.fromkeys(j["path"] for _, j in chunk)}
                pictures = [loaded[j["path"]] for _, j in chunk]
            answers = adapter.generate([j["prompt"] for _, j in chunk], pictures, max_new_tokens)
            for (_, job), answer in zip(chunk, answers):
                if not answer.strip():
                    raise FgvrError(f"{cache.path}: the generator returned nothing for {job['item']!r} "
                                    f"({job['attribute']}: {job['prompt']!r})")
            cache.put([(k, {"item": j["item"], "attribute": j["attribute"], "prompt": j["prompt"]}, a)
                       for (k, j), a in zip(chunk, answers)])
            bar.update(len(chunk))
    return {k: cache.get(k) for k, _ in keyed}


# ---------------------------------------------------------------- generate

def generate(adapter, manifest: pd.DataFrame, classes: pd.DataFrame, super_: str, kinds: str, cache_path,
             revision: str, attributes: list[str] | None = None, cap: int = 8, max_new_tokens: int = 24,
             batch_size: int = 32, progress: bool = True, source: str = "descriptions"):
    """The paper's three steps (and the class descriptions) with ``adapter``, an MLLM.
    Returns (attributes info, descriptions, class descriptions)."""
    from .extract import load_image

    cache = AnswerCache(cache_path, revision)
    asked = PROMPTS["attributes"].format(super=super_, kinds=kinds)
    if attributes is None:
        listed = _ask(adapter, cache, [{"item": "*", "attribute": "*", "prompt": asked}], 1, 8 * max_new_tokens,
                      "attributes", progress=False)
        raw = next(iter(listed.values()))
        attributes = parse_attributes(raw, cap, f"{source}: attribute list from {adapter.path}")
    else:
        raw = None
        if not attributes:
            raise FgvrError(f"{source}: the configured attribute list is empty")
    ids, paths = manifest["image_id"].tolist(), manifest["path"].tolist()
    # all attributes of an image in one batch: its questions share the image's visual tokens
    vqa = [{"item": i, "attribute": a, "prompt": PROMPTS["vqa"].format(attribute=a, super=super_), "path": p}
           for i, p in zip(ids, paths) for a in attributes]
    answers = _ask(adapter, cache, vqa, batch_size, max_new_tokens, "VQA", progress, images=load_image)
    by_image = {i: [] for i in ids}
    for job in vqa:
        by_image[job["item"]].append(f"{job['attribute']}: {answers[cache.key(job['item'], job['attribute'], job['prompt'])]}")
    summary = [{"item": i, "attribute": "summary",
                "prompt": PROMPTS["summary"].format(super=super_, answers="\n".join(by_image[i]))} for i in ids]
    sentences = _ask(adapter, cache, summary, batch_size, 2 * max_new_tokens, "summary", progress)
    names = dict(zip(manifest["image_id"], manifest["class_name"]))
    descriptions = pd.DataFrame({"image_id": ids, "description": [
        without_name(sentences[cache.key(j["item"], "summary", j["prompt"])], names[j["item"]]) for j in summary]})
    per_class = [{"item": f"class:{n}", "attribute": "class", "prompt": PROMPTS["class"].format(super=super_, name=n)}
                 for n in classes["class_name"]]
    said = _ask(adapter, cache, per_class, batch_size, 2 * max_new_tokens, "classes", progress)
    class_descriptions = pd.DataFrame({"label": classes["label"], "class_name": classes["class_name"], "description": [
        without_name(said[cache.key(j["item"], "class", j["prompt"])], n) for j, n in zip(per_class, classes["class_name"])]})
    info = {"super": super_, "kinds": kinds, "attributes": attributes, "source": "generate",
            "model": str(adapter.path), "revision": revision, "prompts": PROMPTS,
            "attribute_answer": raw, "max_new_tokens": max_new_tokens}
    return info, descriptions, class_descriptions


# ---------------------------------------------------------------- the user's file, checks, writing

def from_file(path: str | Path, manifest: pd.DataFrame, source: str) -> pd.DataFrame:
    """The user's image_id,description CSV, checked to cover exactly the manifest's images."""
    path = Path(path)
    if not path.is_file():
        raise FgvrError(f"{source}.file: {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise FgvrError(f"{path}: not a readable CSV ({err})") from err
    lacking = [c for c in IMAGE_COLUMNS if c not in frame]
    if lacking:
        raise FgvrError(f"{path}: lacks the column(s) {lacking}; expected {IMAGE_COLUMNS}")
    return frame[IMAGE_COLUMNS]


def check(descriptions: pd.DataFrame, manifest: pd.DataFrame, where: str) -> pd.DataFrame:
    """Every image described exactly once, with text, in manifest order; else an error naming the
    first image missing, unknown, repeated or empty."""
    known = set(manifest["image_id"])
    unknown = [i for i in descriptions["image_id"] if i not in known]
    if unknown:
        raise FgvrError(f"{where}: image_id {unknown[0]!r} is not in the data set ({len(unknown)} unknown)")
    repeated = descriptions["image_id"][descriptions["image_id"].duplicated()]
    if len(repeated):
        raise FgvrError(f"{where}: image_id {repeated.iloc[0]!r} is described twice")
    given = dict(zip(descriptions["image_id"], descriptions["description"].fillna("")))
    missing = [i for i in manifest["image_id"] if not str(given.get(i, "")).strip()]
    if missing:
        raise FgvrError(f"{where}: no description for image {missing[0]!r} ({len(missing)} of {len(manifest)} "
                        "images lack one)")
    return pd.DataFrame({"image_id": manifest["image_id"], "description": [given[i] for i in manifest["image_id"]]})


def write(out: dict, info: dict, descriptions: pd.DataFrame, class_descriptions: pd.DataFrame) -> None:
    """The three outputs, each atomically; attributes.json last (it says the set is complete)."""
    write_csv(out["descriptions"], descriptions[IMAGE_COLUMNS])
    write_csv(out["class_descriptions"], class_descriptions[CLASS_COLUMNS])
    write_json(out["attributes"], info)



# ---------------------------------------------------------------- one data set, any source

def ground_truth(settings: dict, manifest: pd.DataFrame, classes: pd.DataFrame, annotated: str | Path,
                 folder: str | Path | None, dataset: str):
    """(info, descriptions, class descriptions) from annotations: the prepared ground_truth.csv
    and classes.csv (synthetic), or CUB's attribute files under the data set's folder."""
    from . import ground_truth as gt

    if settings["loader"] == "cub200":
        from .datasets import official, spec

        options = {"root": folder}
        root = official.layout(spec(dataset, options), options, folder)
        images, per_class = gt.cub200(root, manifest, classes)
        attributes = sorted({part for part, _ in gt.attribute_names(root).values()})
    else:
        frame = pd.read_csv(annotated, dtype=str, keep_default_na=False)
        images = frame[IMAGE_COLUMNS]
        per_class = classes[CLASS_COLUMNS]
        from .datasets.synthetic import ATTRIBUTES

        attributes = [a.replace("_", " ") for a in ATTRIBUTES]
    info = {"super": settings["super"], "kinds": settings["kinds"], "attributes": attributes,
            "source": "ground_truth", "model": None, "prompts": None}
    return info, images, per_class


def run(settings: dict, manifest: pd.DataFrame, classes: pd.DataFrame, dataset: str, annotated=None, folder=None,
        model_dir=None, cache=None, batch_size: int = 32, device: str = "auto", progress: bool = True):
    """The descriptions of one data set as its config entry asks (``settings``: plan.describe_settings).
    Returns (info, descriptions in manifest order, class descriptions); raises naming the
    data set and entry when an image is left undescribed."""
    where = f"datasets.{dataset}.descriptions"
    if settings["mode"] == "ground_truth":
        info, images, per_class = ground_truth(settings, manifest, classes, annotated, folder, dataset)
    elif settings["mode"] == "file":
        images = from_file(settings["file"], manifest, f"{where}.file")
        per_class = classes[CLASS_COLUMNS]  # the class descriptions the data set has, if any
        info = {"super": settings["super"], "kinds": settings["kinds"], "attributes": [], "source": "file",
                "file": str(settings["file"]), "model": None, "prompts": None}
        where = f"{where}.file ({settings['file']})"
    else:
        from .extract import checkpoint_identity
        from .models import load_adapter
        from .models.fetch import recorded_commit
        from .store import fingerprint

        model = settings["model"]
        adapter = load_adapter(model_dir, "mllm", model["dtype"], device, model["trust_remote_code"])
        revision = recorded_commit(model_dir) or fingerprint(checkpoint=checkpoint_identity(model_dir))[:16]
        info, images, per_class = generate(adapter, manifest, classes, settings["super"], settings["kinds"], cache,
                                           revision, settings["attribute_list"], settings["attributes"],
                                           settings["max_new_tokens"], batch_size, progress, where)
        info["generator"] = settings["generator"]
    return info, check(images, manifest, where), per_class
