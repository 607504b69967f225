"""Benchmark evaluation (DESIGN.md contracts; the FOCI protocol of REFERENCE.md section 4).

Protocols, one ``results/eval/{dataset}/{model}/{protocol}.jsonl`` + ``.json`` each, on the
test split:

- ``mc4-{source}`` (an MLLM): the 4 options of ``options/{source}/test.jsonl`` in the file's
  order, asked with FOCI's prompt (``prompts.mc_prompt``: the data set's question, the lettered
  option names, the instruction) as the user turn of the model's own chat template, image first,
  tokenized with the processor's defaults (BOS as the official code gets it). Under ``mc4-foci``
  the names are the official files' spellings (``option_names: official``) and an Idefics
  checkpoint's prompt text is wrapped in FOCI's "User: {}" (``foci_wrap``). ``scoring:
  letters``: one forward pass; the answer is the letter with the highest next-token
  log-probability (each letter's single-token spellings, with or without a leading space,
  summed); the four scores are kept. ``scoring: generate``: greedy, ``max_new_tokens``, the
  answer read by ``parser``: ``foci`` as FOCI reads it ("Answer: " removed, then the first
  character, either case, when it is A-D: "b", "B. Bald Eagle", "Cardinal" -> C; "(B)" fails),
  ``letter`` a capital letter alone, optionally bracketed ("B", "(B)", "B."; not "b" nor
  "Black ..."). Answers with no letter are wrong and counted apart, by form.
  ``scoring: names`` (cloze, as for models never taught to answer with a letter, such as the
  demo's): each option's class name as the answer to ``OPEN_PROMPT``, scored by its
  log-likelihood with the turn's end (teacher forcing, summed over its tokens); the most likely
  option is the answer, and the four scores are kept. The options are the same, the task the
  same 4-way choice; only the reading of the answer differs.
- ``open`` (an MLLM): ``OPEN_PROMPT``; the answer is matched against every class name: exact
  after ``normalise`` (lower case, punctuation out, a leading article dropped) -> ``correct``;
  the nearest class by rapidfuzz's WRatio -> ``fuzzy_correct``, reported apart.
- ``blind-mc4-{source}``, ``blind-open`` (an MLLM): the same questions, scored the same way, with
  every image replaced by a plain grey one of its size: what the model answers from the text
  alone. Mined options can give the answer away (the true class is the one whose neighbours are
  the other three); the distance between a protocol and its blind twin is what the images add.
- ``zeroshot`` (a VLM), from the cached features (CLIP_benchmark style, no model run): the image
  embedding (``{split}.h5`` objects/embed) against the text embedding of "an image of a {name}"
  (categories.h5 prompts/embed) by cosine, over all classes (``correct_all``) and over the 4
  options of the same options file an MLLM answers (``correct``: the paper's SigLIP row).

Every row: image_id, label, options (null for open), answer (the true option's index, null for
open), prediction (the predicted label, null when the answer names none), correct, and the
option scores or the raw answer (``output``). Rows follow the options file (open: the manifest).

Reproducible: option order comes from the options file, decoding is greedy, rows are computed in
fixed batches of the file order and scores rounded to ``DECIMALS``; the same config gives the
same bytes. Batch-invariant: left padding with the attention mask and the positions generate
uses, so a prompt's answer does not depend on its batch. Resumable: finished batches are
appended to ``{jsonl}.partial`` (first line: a fingerprint of everything that decides the rows);
a rerun keeps the batches done with the same fingerprint, and only the complete run writes the
two outputs (the JSON last).
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .io import FgvrError, atomic_path, write_json
from .options import N_OPTIONS, normalise, read_options, rearrange
from .plan import BLIND, mc4_source, sighted
from .prompts import LETTERS, PROMPT_FORMAT, foci_wrap, mc_prompt, open_prompt
from .prompts import question as default_question

log = logging.getLogger("fgvr.evaluate")

SCORINGS = ("letters", "generate", "names")
PARSERS = ("foci", "letter")
OPTION_NAMES = ("official", "clean")
DECIMALS = 4  # scores in the jsonl (log-probabilities, cosines)
GREY = (128, 128, 128)  # the image of a blind- protocol
SPLIT = "test"
ROW_KEYS = ("image_id", "label", "options", "answer", "prediction", "correct")


# ------------------------------------------------------------------------------ protocols

def protocol_kind(protocol: str) -> str:
    """The model kind that runs ``protocol``: mllm for (blind-)mc4-{source} and (blind-)open, vlm
    for zeroshot."""
    if protocol.startswith(BLIND):
        protocol = sighted(protocol)
        if protocol == "zeroshot":
            raise FgvrError(f"unknown protocol {BLIND + protocol!r}; zeroshot reads cached image features and "
                            "has no blind form")
    if protocol == "open" or re.fullmatch(r"mc4-[A-Za-z0-9_.-]+", protocol):
        return "mllm"
    if protocol == "zeroshot":
        return "vlm"
    raise FgvrError(f"unknown protocol {protocol!r}; protocols: mc4-{{options source}}, open, zeroshot, and "
                    f"{BLIND}mc4-{{options source}}, {BLIND}open")


def check_protocol(protocol: str, kind: str, model: str) -> None:
    want = protocol_kind(protocol)
    if want != kind:
        raise FgvrError(f"protocol {protocol!r} is for an {want}, but {model} is a {kind} "
                        f"({'mc4-*, open' if kind == 'mllm' else 'zeroshot'} are what a {kind} runs)")


# ------------------------------------------------------------------------------ answers

def parse_letter(text: str) -> int | None:
    """``parser: letter``: the option index an answer gives: its first character when that is one
    of ``LETTERS`` (capital) and not the start of a word (an opening bracket may come first);
    None if it gives none."""
    found = re.match(rf"\s*[(\[]?([{LETTERS}])(?![A-Za-z0-9])", text or "")
    return LETTERS.index(found[1]) if found else None


def parse_foci(text: str) -> int | None:
    """``parser: foci``, FOCI's reading (benchmark/model/model.py, Idefics2Model.generate, then
    evaluate.py's parse_generated_prediction): the answer stripped, every "Answer: " removed,
    then its first character, in either case, when that is one of ``LETTERS``; else None."""
    first = (text or "").strip().replace("Answer: ", "")[:1].upper()
    return LETTERS.index(first) if first and first in LETTERS else None


PARSE = {"foci": parse_foci, "letter": parse_letter}


def failure_form(text: str) -> str:
    """What an answer that gave no letter looks like, for the JSON's ``invalid_forms``."""
    text = (text or "").strip()
    if not text:
        return "empty"
    if re.match(r"[(\[]\s*[A-Za-z]\s*[)\]]", text):
        return "bracketed letter"
    if re.match(r"[A-Za-z](?![A-Za-z])", text):
        return "single letter"  # another letter, or one a parser does not accept ("b" for letter)
    if re.match(r"[A-Za-z]", text):
        return "word"
    return "other"


def normalise_answer(text: str) -> str:
    """An answer or class name reduced for matching (``options.normalise``, then a leading
    article dropped)."""
    return re.sub(r"^(?:a|an|the)\s+", "", normalise(text or ""))


class NameMatcher:
    """Open-set answers -> class labels: exact after ``normalise_answer`` (class_name or
    raw_name), and the nearest name by rapidfuzz (WRatio; ties to the lower label)."""

    def __init__(self, classes: pd.DataFrame):
        names = []
        raw = classes["raw_name"] if "raw_name" in classes else classes["class_name"]
        for label, clean, original in sorted(zip(classes["label"], classes["class_name"], raw)):
            for name in dict.fromkeys([normalise_answer(clean), normalise_answer(original)]):
                names.append((int(label), name))
        self.exact_names: dict[str, set[int]] = {}
        for label, name in names:
            self.exact_names.setdefault(name, set()).add(label)
        self.labels, self.names = [n[0] for n in names], [n[1] for n in names]

    def exact(self, text: str) -> int | None:
        found = self.exact_names.get(normalise_answer(text), set())
        return next(iter(found)) if len(found) == 1 else None

    def fuzzy(self, text: str) -> tuple[int | None, float]:
        from rapidfuzz import fuzz, process

        key = normalise_answer(text)
        if not key:
            return None, 0.0
        best = process.extractOne(key, self.names, scorer=fuzz.WRatio)
        return self.labels[best[2]], round(float(best[1]), 2)


# ------------------------------------------------------------------------------ inputs

def test_options(path: str | Path, manifest: pd.DataFrame, classes: pd.DataFrame, dataset: str) -> list[dict]:
    """The options file of ``dataset``'s test split, checked: an image of another split or of
    no split of this data set is an error that says so."""
    path = Path(path)
    if not path.is_file():
        raise FgvrError(f"{path}: options file not found")
    split_of = dict(zip(manifest["image_id"].astype(str), manifest["split"]))
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            image = str(json.loads(line).get("image_id"))
        except (ValueError, AttributeError) as err:
            raise FgvrError(f"{path}: line {n} is not a JSON object ({err})") from err
        if image not in split_of:
            raise FgvrError(f"{path}: line {n}: image {image!r} is not in data set {dataset} (an options file of "
                            "another data set?)")
        if split_of[image] != SPLIT:
            raise FgvrError(f"{path}: line {n}: image {image!r} is in the {split_of[image]} split of {dataset}; "
                            f"evaluation reads the {SPLIT} split's options")
    rows = read_options(path, manifest[manifest["split"] == SPLIT], classes)
    if not rows:
        raise FgvrError(f"{path}: no options to evaluate")
    return rows


@dataclass
class Job:
    image_id: str
    label: int
    path: str
    prompt: str
    options: list[int] | None = None
    answer: int | None = None
    choices: list[str] | None = None  # the options' names as shown


def jobs_for(protocol: str, manifest: pd.DataFrame, classes: pd.DataFrame, options: list[dict] | None,
             super_: str, scoring: str = "letters", question: str = "", option_names: str = "official",
             wrap: str | None = None) -> list[Job]:
    """What to ask, in file order: every options row (mc4; ``scoring: names`` asks the open
    question and scores each option's name as its answer), or every test image (open). The
    options are shown by the names the row spells (``names``, FOCI's files) under
    ``option_names: official``, else by classes.csv's; ``wrap``: FOCI's around the mc prompt;
    ``question``: the data set's (default: from its super-category)."""
    question = question or default_question("", super_)
    if option_names not in OPTION_NAMES:
        raise FgvrError(f"evaluation.option_names: {option_names!r}; expected one of {list(OPTION_NAMES)}")
    test = manifest[manifest["split"] == SPLIT]
    paths = dict(zip(test["image_id"].astype(str), test["path"]))
    if protocol == "open":
        prompt = open_prompt(super_)
        return [Job(str(i), int(y), p, prompt) for i, y, p in zip(test["image_id"], test["label"], test["path"])]
    names = dict(zip(classes["label"].astype(int), classes["class_name"]))
    jobs = []
    for r in options:
        choices = r["names"] if option_names == "official" and "names" in r else [names[o] for o in r["options"]]
        prompt = open_prompt(super_) if scoring == "names" else mc_prompt(choices, question, wrap)
        jobs.append(Job(r["image_id"], r["label"], paths[r["image_id"]], prompt, r["options"], r["answer"], choices))
    return jobs


# ------------------------------------------------------------------------------ the partial file

class PartialRows:
    """Finished rows of an interrupted run: ``{jsonl}.partial``, a fingerprint line, then rows."""

    def __init__(self, final: str | Path, fingerprint: str):
        self.path = Path(str(final) + ".partial")
        self.rows: dict[str, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        if lines and _json_or_none(lines[0]) == {"fingerprint": fingerprint}:
            for line in lines[1:]:
                row = _json_or_none(line)  # a torn last line (a killed job) is dropped
                if isinstance(row, dict) and "image_id" in row:
                    self.rows[row["image_id"]] = row
            log.info("resuming %s: %d rows already done", self.path, len(self.rows))
            with self.path.open("w") as f:  # rewrite without a torn tail before appending
                f.write(json.dumps({"fingerprint": fingerprint}) + "\n")
                f.writelines(_line(r) for r in self.rows.values())
        else:
            self.path.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")

    def add(self, rows: list[dict]) -> None:
        with self.path.open("a") as f:
            f.writelines(_line(r) for r in rows)
        for r in rows:
            self.rows[r["image_id"]] = r

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def _line(row: dict) -> str:
    return json.dumps(row) + "\n"


# ------------------------------------------------------------------------------ MLLM protocols

class _Prepared:
    """Item i: batch i of the jobs as the processor's CPU tensors (runs in DataLoader workers);
    under ``scoring: names`` one row per option, each answered with that option's name."""

    def __init__(self, adapter, jobs: list[Job], batches: list[list[int]], names: bool = False, blind: bool = False):
        self.adapter, self.jobs, self.batches, self.names, self.blind = adapter, jobs, batches, names, blind

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        from PIL import Image

        from .extract import load_image

        chunk = [self.jobs[j] for j in self.batches[i]]
        images = [load_image(j.path) for j in chunk]
        if self.blind:  # the same size, so the same number of image tokens
            images = [Image.new("RGB", im.size, GREY) for im in images]
        if self.names:
            return i, self.adapter.answer_encode([j.prompt for j in chunk for _ in j.choices],
                                                 [im for j, im in zip(chunk, images) for _ in j.choices],
                                                 [c for j in chunk for c in j.choices])
        return i, self.adapter.chat_batch([j.prompt for j in chunk], images)


def _as_is(item):
    return item


def _rows(protocol: str, scoring: str, adapter, chunk: list[Job], inputs: dict, settings: dict,
          matcher: NameMatcher | None) -> list[dict]:
    out = []
    if protocol == "open":
        answers = adapter.generate_batch(inputs, settings["open_max_new_tokens"])
        for job, text in zip(chunk, answers):
            exact = matcher.exact(text)
            fuzzy, score = matcher.fuzzy(text)
            out.append({"image_id": job.image_id, "label": job.label, "options": None, "answer": None,
                        "prediction": exact, "correct": exact == job.label, "output": text,
                        "fuzzy_prediction": fuzzy, "fuzzy_score": score, "fuzzy_correct": fuzzy == job.label})
    elif scoring in ("letters", "names"):
        if scoring == "letters":
            scores = adapter.choice_scores(None, None, list(LETTERS), inputs=inputs).numpy()
        else:  # the rows of a job are its options, in order; they share its image
            image_of = [n for n, job in enumerate(chunk) for _ in job.choices]
            scores = adapter.answer_scores(inputs, image_of).view(len(chunk), N_OPTIONS).numpy()
        for job, s in zip(chunk, scores):
            pick = int(np.argmax(s))
            out.append({"image_id": job.image_id, "label": job.label, "options": job.options, "answer": job.answer,
                        "names": job.choices, "prediction": job.options[pick], "correct": pick == job.answer,
                        "letter": LETTERS[pick], "scores": [round(float(v), DECIMALS) for v in s]})
    else:
        answers = adapter.generate_batch(inputs, settings["max_new_tokens"])
        parse = PARSE[settings["parser"]]
        for job, text in zip(chunk, answers):
            pick = parse(text)
            out.append({"image_id": job.image_id, "label": job.label, "options": job.options, "answer": job.answer,
                        "names": job.choices, "prediction": None if pick is None else job.options[pick],
                        "correct": pick == job.answer, "letter": None if pick is None else LETTERS[pick],
                        "output": text})
    return out


def evaluate_mllm(adapter, protocol: str, jobs: list[Job], classes: pd.DataFrame, out: str | Path, settings: dict,
                  fingerprint: str, batch_size: int, num_workers: int = 0,
                  progress: bool = True, blind: bool = False) -> tuple[list[dict], PartialRows]:
    """Rows of every job, computed in fixed batches of ``batch_size`` (file order), resumed from
    ``{out}.partial`` when its fingerprint matches; returns them in job order, and the partial
    file (the caller discards it once the outputs are written). ``protocol``: mc4-* or open;
    ``blind``: every image grey."""
    import torch
    from tqdm.auto import tqdm

    scoring = None if protocol == "open" else settings["scoring"]  # open: greedy, always
    if protocol != "open" and scoring not in SCORINGS:
        raise FgvrError(f"evaluation.scoring: {scoring!r}; expected one of {list(SCORINGS)}")
    if scoring == "generate" and settings.get("parser") not in PARSERS:
        raise FgvrError(f"evaluation.parser: {settings.get('parser')!r}; expected one of {list(PARSERS)}")
    adapter.processor  # noqa: B018  (loaded here: a missing chat template fails before any work)
    if protocol != "open" and scoring == "letters":
        adapter.choice_token_ids(list(LETTERS))
    matcher = NameMatcher(classes) if protocol == "open" else None
    partial = PartialRows(out, fingerprint)
    batches = [list(range(s, min(s + batch_size, len(jobs)))) for s in range(0, len(jobs), batch_size)]
    todo = [b for b in batches if not all(jobs[j].image_id in partial.rows for j in b)]
    torch.manual_seed(settings["seed"])
    # workers start (and preprocess) before the weights load, as in extraction
    prepared = _Prepared(adapter.without_model(), jobs, todo, scoring == "names" and protocol != "open", blind)
    loader = iter(torch.utils.data.DataLoader(prepared, batch_size=None,
                                              num_workers=num_workers, collate_fn=_as_is))
    adapter.load_weights()
    start, done = time.perf_counter(), 0
    with tqdm(total=len(jobs), initial=len(jobs) - sum(map(len, todo)), desc=f"{protocol} ({scoring})",
              unit=" images", disable=not progress, mininterval=2) as bar:
        for i, inputs in loader:
            chunk = [jobs[j] for j in todo[i]]
            partial.add(_rows(protocol, scoring, adapter, chunk, inputs, settings, matcher))
            done += len(chunk)
            bar.update(len(chunk))
    if done:
        log.info("%s: %d images in %.1f s (%.1f images/s, batch %d, %d workers)", protocol, done,
                 time.perf_counter() - start, done / (time.perf_counter() - start), batch_size, num_workers)
    rows = [partial.rows[j.image_id] for j in jobs]
    return rows, partial


# ------------------------------------------------------------------------------ VLM zero-shot

def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def zeroshot_rows(objects, categories, options: list[dict], dataset: str) -> list[dict]:
    """Cosine of each image's embedding with every class prompt's; prediction over the 4
    options (``correct``) and over all classes (``prediction_all``, ``correct_all``). Ties go to
    the first option / the lower label."""
    for store, group in ((objects, "objects"), (categories, "prompts")):
        if "embed" not in store.groups.get(group, {}):
            raise FgvrError(f"{dataset}: {store.path} has no {group}/embed (holds {sorted(store.groups)}); zeroshot "
                            "needs a VLM's own embeddings (and categories.h5 with prompts/)")
    images = _unit(objects.groups["objects"]["embed"])
    order = np.argsort(categories.labels, kind="stable")
    labels = categories.labels[order].astype(int)
    texts = _unit(categories.groups["prompts"]["embed"])[order]
    column = {int(y): c for c, y in enumerate(labels)}
    index = {str(i): n for n, i in enumerate(objects.ids)}
    rows = []
    for r in options:
        if r["image_id"] not in index:
            raise FgvrError(f"{dataset}: image {r['image_id']!r} of the options is not in {objects.path}")
        n = index[r["image_id"]]
        if int(objects.labels[n]) != r["label"]:
            raise FgvrError(f"{dataset}: image {r['image_id']!r} has label {objects.labels[n]} in {objects.path}, "
                            f"{r['label']} in the options")
        sims = texts @ images[n]
        four = np.array([sims[column[o]] for o in r["options"]])
        pick, best = int(np.argmax(four)), int(labels[int(np.argmax(sims))])
        rows.append({"image_id": r["image_id"], "label": r["label"], "options": r["options"], "answer": r["answer"],
                     "prediction": r["options"][pick], "correct": pick == r["answer"],
                     "scores": [round(float(v), DECIMALS) for v in four],
                     "prediction_all": best, "correct_all": best == r["label"]})
    return rows


# ------------------------------------------------------------------------------ metrics and files

def metrics(rows: list[dict], protocol: str, n_classes: int) -> dict:
    """Counts and accuracies of the rows, each accuracy with its 95% Wilson interval
    (``accuracy_ci``, ``accuracy_fuzzy_ci``, ``accuracy_all_ci``: [lo, hi]); for the protocols
    with options their letter bias (``stats.position_bias``)."""
    n = len(rows)
    correct = sum(r["correct"] for r in rows)
    out = {"n": n, "correct": correct, "accuracy": correct / n if n else None,
           "accuracy_ci": list(stats.wilson(correct, n)), "ci_method": stats.CI_METHOD,
           "chance": 1 / n_classes if protocol == "open" else 1 / N_OPTIONS}
    if protocol == "open":
        fuzzy = sum(r["fuzzy_correct"] for r in rows)
        out |= {"correct_fuzzy": fuzzy, "accuracy_fuzzy": fuzzy / n if n else None,
                "accuracy_fuzzy_ci": list(stats.wilson(fuzzy, n)),
                "named_a_class": sum(r["prediction"] is not None for r in rows)}
    else:
        out |= stats.position_bias(rows)
    if protocol == "zeroshot":
        every = sum(r["correct_all"] for r in rows)
        out |= {"correct_all": every, "accuracy_all": every / n if n else None,
                "accuracy_all_ci": list(stats.wilson(every, n)), "chance_all": 1 / n_classes}
    if "letter" in (rows[0] if rows else {}):
        out["letters"] = {letter: sum(r["letter"] == letter for r in rows) for letter in LETTERS}
        invalid = [r for r in rows if r["letter"] is None]
        out["invalid"] = len(invalid)  # answers that give no letter: wrong, counted here
        out["invalid_examples"] = [r["output"] for r in invalid[:5]]
        forms = [failure_form(r["output"]) for r in invalid]
        out["invalid_forms"] = {form: forms.count(form) for form in sorted(set(forms))}
    return out


def write_results(jsonl: str | Path, json_path: str | Path, rows: list[dict], info: dict) -> None:
    """The rows, then the metrics (the JSON says the evaluation is complete), each atomically."""
    with atomic_path(jsonl) as tmp:
        with open(tmp, "w") as f:
            f.writelines(_line(r) for r in rows)
    write_json(json_path, info)


# ------------------------------------------------------------------------------ one job

def run(settings: dict, manifest: pd.DataFrame, classes: pd.DataFrame, out: dict, options_path=None,
        model_dir=None, objects=None, categories=None, batch_size: int = 16, num_workers: int = 0,
        device: str = "auto", progress: bool = True) -> dict:
    """Evaluate one model on one data set with one protocol (``settings``: plan.evaluation_settings)
    and write ``out["jsonl"]``, ``out["json"]``. Returns the JSON's content."""
    from . import __version__
    from .store import fingerprint

    protocol, dataset, model = settings["protocol"], settings["dataset"], settings["model"]
    check_protocol(protocol, settings["kind"], model)
    blind, asked = protocol.startswith(BLIND), sighted(protocol)  # asked: mc4-*, open or zeroshot
    options = test_options(options_path, manifest, classes, dataset) if options_path else None
    if asked != "open" and options is None:
        raise FgvrError(f"{protocol}: needs an options file")
    seed = settings.get("option_seed")  # None: the options file's own order (options.seed)
    if seed is not None:
        options = rearrange(options, seed, dataset, SPLIT)
    info = {"protocol": protocol, "dataset": dataset, "model": model, "kind": settings["kind"], "split": SPLIT,
            "options_file": str(options_path) if options_path else None, "options_source": settings.get("options_source"),
            "option_seed": seed, "fgvr_version": __version__}
    if protocol == "zeroshot":
        from .options import PROMPT
        from .store import read_store

        objects_store, categories_store = read_store(objects), read_store(categories)
        rows = zeroshot_rows(objects_store, categories_store, options, dataset)
        info |= {"prompt": PROMPT, "demo": bool(objects_store.attrs.get("demo", False)),
                 "revision": objects_store.attrs.get("revision")}
        partial = None
    else:
        from .extract import checkpoint_identity
        from .models import load_adapter
        from .models.fetch import recorded_commit

        opts = settings["model_options"]
        adapter = load_adapter(model_dir, "mllm", opts["dtype"], device, opts["trust_remote_code"], weights=False)
        wrap = foci_wrap(adapter.checkpoint_config().get("model_type"),
                         settings.get("foci_wrap", False) and mc4_source(protocol) == "foci")
        jobs = jobs_for(asked, manifest, classes, options, settings["super"], settings.get("scoring"),
                        settings.get("question", ""), settings.get("option_names", "clean"), wrap)
        identity = {"settings": settings, "checkpoint": checkpoint_identity(model_dir), "jobs": [vars(j) for j in jobs],
                    "batch_size": batch_size, "version": __version__}
        rows, partial = evaluate_mllm(adapter, asked, jobs, classes, out["jsonl"], settings,
                                      fingerprint(**identity), batch_size, num_workers, progress, blind)
        info |= {"prompt": jobs[0].prompt if jobs else None, "demo": adapter.is_demo, "blind": blind,
                 "revision": recorded_commit(model_dir), "architecture": adapter.architecture,
                 "prompt_format": PROMPT_FORMAT}
        if asked != "open":
            official = settings.get("option_names") == "official" and any("names" in r for r in options)
            info |= {"scoring": settings["scoring"], "question": settings.get("question"), "foci_wrap": wrap,
                     "option_names": "official" if official else "clean"}
            if settings["scoring"] == "generate":
                info |= {"max_new_tokens": settings["max_new_tokens"], "parser": settings["parser"]}
        else:
            info |= {"max_new_tokens": settings["open_max_new_tokens"], "fuzzy": "rapidfuzz WRatio, nearest class"}
    info |= metrics(rows, asked, len(classes))
    write_results(out["jsonl"], out["json"], rows, info)
    if partial is not None:
        partial.discard()
    log.info("%s %s %s: accuracy %.4f over %d images", dataset, model, protocol, info["accuracy"] or 0, info["n"])
    return info
