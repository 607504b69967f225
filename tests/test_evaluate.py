"""Evaluation (fgvr.evaluate) and the benchmark table (fgvr.benchmark) on tiny checkpoints."""
from __future__ import annotations

import importlib.util
import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT

from fgvr import benchmark
from fgvr import evaluate as ev
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError
from fgvr.models import load_adapter
from fgvr.options import _arranged, write_options
from fgvr.prompts import PROMPT_FORMAT
from official_fixtures import FOCI_DIR, FOCI_FILES, needs_foci

CHAT_FAMILIES = ["idefics2", "idefics3", "llava", "llava_next", "gemma3"]
# their processors want torchvision (a video processor, or Pixtral's resize helper); without it
# they load for images and text only
TORCHVISION_FAMILIES = ["qwen2_vl", "qwen2_5_vl", "smolvlm", "qwen3_vl", "llava_onevision", "internvl", "mistral3",
                        "pixtral"]
NO_TEMPLATE_FAMILIES = ["paligemma"]  # prompted with its model card's task prefix


QUESTION = "Which of these birds is shown in the image?"


def settings(protocol="mc4-x", scoring="letters", kind="mllm", **kw):
    return {"protocol": protocol, "dataset": "small", "model": "m", "kind": kind, "scoring": scoring,
            "max_new_tokens": 4, "open_max_new_tokens": 4, "seed": 0, "super": "bird", "options_source": "x",
            "question": QUESTION, "option_names": "clean", "parser": "foci", "prompt_format": PROMPT_FORMAT,
            "model_options": {"dtype": "auto", "trust_remote_code": False}, **kw}


@pytest.fixture(scope="module")
def data(small_dataset, tmp_path_factory):
    """The small synthetic set and a test-split options file (true class + the next 3 labels,
    arranged by the seeded permutation), and a train-split one."""
    manifest, classes = read_manifest(small_dataset / "manifest.csv"), read_classes(small_dataset / "classes.csv")
    # names of different lengths, so that prompts of one batch differ in length (left padding)
    classes = classes.assign(class_name=[n + " of the north" * (y % 3) for n, y in zip(classes["class_name"],
                                                                                     classes["label"])])
    out = tmp_path_factory.mktemp("options")
    files = {}
    for split in ("test", "train"):
        rows = manifest[manifest["split"] == split]
        c = len(classes)
        base = np.array([[y, (y + 1) % c, (y + 3) % c, (y + 5) % c] for y in rows["label"]])
        files[split] = out / f"{split}.jsonl"
        write_options(files[split], _arranged(rows["image_id"], rows["label"], base, 0, "small", split))
    return manifest, classes, files


def run(tmp, checkpoint, data, protocol="mc4-x", scoring="letters", batch_size=16, name="out", extra=None, **kw):
    manifest, classes, files = data
    out = {"jsonl": tmp / f"{name}.jsonl", "json": tmp / f"{name}.json"}
    info = ev.run(settings(protocol, scoring, **(extra or {})), manifest, classes, out,
                  options_path=None if protocol.endswith("open") else kw.pop("options", files["test"]),
                  model_dir=checkpoint, batch_size=batch_size, progress=False, **kw)
    return out, info


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------ batch invariance

@pytest.mark.parametrize("family", CHAT_FAMILIES + TORCHVISION_FAMILIES + NO_TEMPLATE_FAMILIES)
def test_answers_do_not_depend_on_the_batch(family, family_checkpoints, data, tmp_path):
    ckpt = family_checkpoints[family]
    adapter = load_adapter(ckpt, "mllm", weights=False)
    from fgvr.extract import load_image

    jobs = ev.jobs_for("mc4-x", data[0], data[1], ev.read_options(data[2]["test"]), "bird", question=QUESTION)[:16]
    batch = adapter.chat_batch([j.prompt for j in jobs], [load_image(j.path) for j in jobs])
    assert (batch["attention_mask"] == 0).any(), "the prompts differ in length: the batch is left-padded"
    for protocol, scoring in (("mc4-x", "letters"), ("mc4-x", "generate"), ("mc4-x", "names"), ("open", "letters")):
        one, _ = run(tmp_path, ckpt, data, protocol, scoring, batch_size=1, name=f"{protocol}{scoring}1")
        many, _ = run(tmp_path, ckpt, data, protocol, scoring, batch_size=16, name=f"{protocol}{scoring}16")
        alone, batched = lines(one["jsonl"]), lines(many["jsonl"])
        # predictions, letters, answers: identical; scores: equal up to float noise (the padded
        # batch runs other matmul shapes), i.e. at most one unit of the last kept decimal
        strip = [{k: v for k, v in r.items() if k != "scores"} for r in alone]
        assert strip == [{k: v for k, v in r.items() if k != "scores"} for r in batched], (family, protocol, scoring)
        for a, b in zip(alone, batched):
            assert np.allclose(a.get("scores", []), b.get("scores", []), rtol=0, atol=1.01 * 10 ** -ev.DECIMALS)
        assert one["json"].read_text() == many["json"].read_text()
    rows = lines(tmp_path / "mc4-xletters16.jsonl")
    assert len(rows) == (data[0]["split"] == "test").sum() and all(len(r["scores"]) == 4 for r in rows)


@pytest.mark.parametrize("family", TORCHVISION_FAMILIES)
def test_processors_that_want_torchvision_load_for_images_and_text(family, family_checkpoints):
    """Where AutoProcessor cannot import the family's video processor (no torchvision), the
    family's own processor class loads without it, with its chat template."""
    from transformers import AutoProcessor

    adapter = load_adapter(family_checkpoints[family], "mllm", weights=False)
    expected = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor", "smolvlm": "SmolVLMProcessor",
                "qwen3_vl": "Qwen3VLProcessor", "llava_onevision": "LlavaOnevisionProcessor",
                "internvl": "InternVLProcessor", "mistral3": "PixtralProcessor", "pixtral": "PixtralProcessor"}
    assert type(adapter.processor).__name__ == expected[family] and adapter.processor.chat_template
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises((ImportError, OSError), match="(?i)torchvision|video processor"):
            AutoProcessor.from_pretrained(family_checkpoints[family])


# ------------------------------------------------------------------------------ prompt tokens

# How the official code loads each family's processor (FOCI's Idefics2Model and the training
# script: do_image_splitting=False; the others: the checkpoint's defaults).
OFFICIAL_PROCESSOR_KWARGS = {"idefics2": {"do_image_splitting": False}, "idefics3": {"do_image_splitting": False},
                             "smolvlm": {"do_image_splitting": False}}


@pytest.mark.parametrize("family", CHAT_FAMILIES + TORCHVISION_FAMILIES)
def test_prompt_tokens_are_the_processors_own(family, family_checkpoints, data, tmp_path):
    """The evaluation's prompt ids equal transformers' ``processor.apply_chat_template(...,
    tokenize=True)`` on the same messages (the processor loaded as the official code loads it):
    BOS exactly once where the tokenizer has one (Idefics3's template writes it itself), and
    stage 2's prompt part is token-identical to the evaluation's for the same question."""
    from transformers import AutoProcessor

    from fgvr.extract import load_image
    from fgvr.models.loading import image_only_processor
    from fgvr.train.data import DatasetFiles, stage2_samples

    manifest, classes, files = data
    ckpt = family_checkpoints[family]
    adapter = load_adapter(ckpt, "mllm", weights=False)
    try:
        reference = AutoProcessor.from_pretrained(ckpt, **OFFICIAL_PROCESSOR_KWARGS.get(family, {}))
    except (ImportError, OSError):
        # no torchvision: transformers cannot build these processors at all (video_processor=None
        # fails its mapping), so the processor object is the project's images-only one; what the
        # test holds it to, the ids apply_chat_template(tokenize=True) makes, is still transformers' rule
        reference = image_only_processor(ckpt)
        reference.image_processor.do_image_splitting = OFFICIAL_PROCESSOR_KWARGS.get(family, {}).get(
            "do_image_splitting", getattr(reference.image_processor, "do_image_splitting", None))
    bos = reference.tokenizer.bos_token_id
    job = ev.jobs_for("mc4-x", manifest, classes, ev.read_options(files["test"])[:1], "bird", question=QUESTION)[0]
    image = load_image(job.path)
    for prompt in (job.prompt, ev.open_prompt("bird")):
        messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]
        expected = reference.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                 return_tensors="pt")["input_ids"][0]
        ours = adapter.chat_batch([prompt], [image])["input_ids"][0]
        assert ours.tolist() == expected.tolist(), (family, prompt)
        adds_bos = bos is not None and reference.tokenizer("x")["input_ids"][:1] == [bos]  # Qwen's adds none
        count = int((ours == bos).sum()) if bos is not None else 0
        assert count == (1 if adds_bos else 0) and (bos is not None and int(ours[0]) == bos) == adds_bos, family
    # stage 2 asks the evaluation's question about the same options, clean names, in the same tokens
    root = tmp_path / "train"
    root.mkdir()
    train = manifest.assign(split=manifest["split"].replace({"test": "other"}))
    train.to_csv(root / "manifest.csv", index=False)
    classes.to_csv(root / "classes.csv", index=False)
    pd.DataFrame({"image_id": manifest["image_id"], "description": "a bird"}).to_csv(root / "d.csv", index=False)
    sample_files = DatasetFiles("small", "bird", str(root / "manifest.csv"), str(root / "classes.csv"),
                                str(root / "d.csv"), "", [str(files["train"])], QUESTION)
    samples = [s for s in stage2_samples([sample_files]) if s.answer in tuple("ABCD")][:2]
    assert len(samples) == 2
    as_test = train.assign(split=train["split"].replace({"train": "test"}))
    rows = {r["image_id"]: r for r in ev.read_options(files["train"])}
    paths = dict(zip(manifest["path"], manifest["image_id"]))
    for sample in samples:
        asked = ev.jobs_for("mc4-x", as_test, classes, [rows[paths[sample.path]]], "bird", question=QUESTION)[0]
        assert sample.prompt == asked.prompt
        picture = load_image(sample.path)
        trained = adapter.answer_encode([sample.prompt], [picture], [sample.answer])
        evaluated = adapter.chat_batch([asked.prompt], [picture])["input_ids"][0]
        n = int((trained["labels"][0] == -100).sum())
        assert trained["input_ids"][0, :n].tolist() == evaluated.tolist(), family


def test_mc4_foci_shows_the_official_question_names_and_wrap(demo_checkpoints, family_checkpoints, data, tmp_path):
    """FOCI's options spell names their own way ("Crested_Striped_Fantail"): under
    option_names official the prompt and each row show those, under clean classes.csv's; the
    question is the data set's; an Idefics2 checkpoint's prompt is wrapped in "User: " unless
    foci_wrap is off. Each is recorded in the JSON (and the names in every row)."""
    manifest, classes, files = data
    spelt = {y: n.replace(" ", "_").replace("-", "_") for y, n in zip(classes["label"], classes["class_name"])}
    rows = [dict(r, names=[spelt[o] for o in r["options"]]) for r in ev.read_options(files["test"])]
    foci = tmp_path / "foci.jsonl"
    write_options(foci, rows)
    results = {}
    for names, wrap in (("official", True), ("clean", False)):
        out, info = run(tmp_path, demo_checkpoints["mllm"], data, "mc4-foci", name=f"{names}{wrap}", options=foci,
                        extra={"option_names": names, "foci_wrap": wrap, "question": "Which of these dogs is shown?"})
        results[names] = lines(out["jsonl"]), info
        assert info["question"] == "Which of these dogs is shown?" and info["option_names"] == names
        assert info["foci_wrap"] == ("User: {}" if wrap else None) and info["prompt_format"] == PROMPT_FORMAT
        assert info["prompt"].startswith("User: Which of these dogs is shown?\nChoices:\nA. " if wrap
                                         else "Which of these dogs is shown?\nChoices:\nA. ")
    official, clean = results["official"][0], results["clean"][0]
    first = rows[0]
    assert official[0]["names"] == first["names"] and "_" in "".join(first["names"])
    assert results["official"][1]["prompt"].count(first["names"][first["answer"]]) == 1
    assert clean[0]["names"] == [classes.set_index("label").loc[o, "class_name"] for o in first["options"]]
    assert all(len(r["names"]) == 4 for r in official + clean)
    mined = run(tmp_path, demo_checkpoints["mllm"], data, "mc4-x", name="mined",
                extra={"option_names": "official", "foci_wrap": True})[1]
    assert mined["option_names"] == "clean" and mined["foci_wrap"] is None  # no official spelling, no wrap off foci
    llava = run(tmp_path, family_checkpoints["llava"], data, "mc4-foci", name="llava", options=foci,
                extra={"option_names": "official", "foci_wrap": True})[1]
    assert llava["foci_wrap"] is None and llava["prompt"].startswith("Which of these birds")  # FOCI wraps Idefics only


# ------------------------------------------------------------------------------ letter scoring

def official_processor(checkpoint):
    """The processor as FOCI's Idefics2Model loads it (benchmark/model/model.py): AutoProcessor
    with do_image_splitting=False, every other setting the checkpoint's default."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(checkpoint, do_image_splitting=False)


def test_letter_scores_are_the_next_token_log_probabilities(demo_checkpoints, data, tmp_path):
    """One prompt, no padding, by hand as the official evaluation builds it: the chat template's
    text, then the processor called with its defaults (so BOS comes first); the model's forward,
    log-softmax at the last position, the letters' token ids; the evaluation's scores and
    prediction must be these."""
    from fgvr.extract import load_image

    manifest, classes, files = data
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
    row = ev.read_options(files["test"])[0]
    job = ev.jobs_for("mc4-x", manifest, classes, [row], "bird", question=QUESTION)[0]
    assert job.prompt.startswith(QUESTION + "\nChoices:\nA. ") and job.prompt.endswith(
        "Answer with the letter from the given choices directly.")
    proc = official_processor(demo_checkpoints["mllm"])
    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": job.prompt}]}],
                                    add_generation_prompt=True)
    assert text.startswith("User:<image>") and text.endswith("Assistant:")
    inputs = proc(text=[text], images=[[load_image(job.path)]], return_tensors="pt", padding=True)
    assert inputs["input_ids"][0, 0] == proc.tokenizer.bos_token_id  # what the official code feeds the model
    with torch.no_grad():
        logits = adapter.model(**inputs).logits[0, -1]
    vocab = proc.tokenizer.get_vocab()  # each letter's spellings: "A" and "\u2581A" (a leading space)
    letter_ids = [sorted(vocab[t] for t in (letter, "\u2581" + letter) if t in vocab) for letter in "ABCD"]
    assert adapter.choice_token_ids(list("ABCD")) == letter_ids and all(letter_ids)
    logp = torch.log_softmax(logits, -1)
    expected = torch.stack([logp[ids].logsumexp(0) for ids in letter_ids])
    got = adapter.choice_scores([job.prompt], [load_image(job.path)], list("ABCD"))[0]
    assert torch.allclose(got, expected, atol=1e-5)
    out, _ = run(tmp_path, demo_checkpoints["mllm"], data, batch_size=4)
    first = lines(out["jsonl"])[0]
    pick = int(torch.argmax(expected))
    assert first["letter"] == "ABCD"[pick] and first["prediction"] == row["options"][pick]
    assert first["scores"] == [round(float(v), ev.DECIMALS) for v in expected]
    assert first["correct"] == (pick == row["answer"])


def test_mc_rows_and_metrics_follow_the_options(demo_checkpoints, data, tmp_path):
    out, info = run(tmp_path, demo_checkpoints["mllm"], data)
    rows, options = lines(out["jsonl"]), ev.read_options(data[2]["test"])
    assert [r["image_id"] for r in rows] == [o["image_id"] for o in options]
    for r, o in zip(rows, options):
        assert r["options"] == o["options"] and r["answer"] == o["answer"] and r["label"] == o["label"]
        assert r["prediction"] == r["options"]["ABCD".index(r["letter"])]
        assert r["letter"] == "ABCD"[int(np.argmax(r["scores"]))]
    assert info["correct"] == sum(r["correct"] for r in rows) and info["accuracy"] == info["correct"] / len(rows)
    assert sum(info["letters"].values()) == len(rows) and info["invalid"] == 0 and info["chance"] == 0.25
    assert json.loads(out["json"].read_text())["scoring"] == "letters"


def test_name_scores_are_each_answers_log_likelihood(demo_checkpoints, data, tmp_path):
    """scoring: names, by hand: for each option, the open question and the option's name as the
    assistant's turn, alone and unpadded; Hugging Face's own loss (the mean NLL of the labelled
    tokens) times their count is minus the score. The evaluation batches 3 images x 4 names of
    different lengths (padding) with each image's visual tokens shared; its rows must hold these."""
    from fgvr.extract import load_image

    manifest, classes, files = data
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
    proc, names = official_processor(demo_checkpoints["mllm"]), dict(zip(classes["label"], classes["class_name"]))
    paths = dict(zip(manifest["image_id"], manifest["path"]))
    out, info = run(tmp_path, demo_checkpoints["mllm"], data, scoring="names", batch_size=3)
    rows = lines(out["jsonl"])
    user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ev.open_prompt("bird")}]}]
    for row in rows[:3]:
        image = [[load_image(paths[row["image_id"]])]]
        prompt = proc.apply_chat_template(user, add_generation_prompt=True)
        n_prompt = proc(text=[prompt], images=image, return_tensors="pt")["input_ids"].shape[1]
        expected = []
        for label in row["options"]:
            turn = [{"role": "assistant", "content": [{"type": "text", "text": names[label]}]}]
            inputs = proc(text=[proc.apply_chat_template(user + turn)], images=image, return_tensors="pt")
            assert inputs["input_ids"][0, 0] == proc.tokenizer.bos_token_id
            labels = inputs["input_ids"].clone()
            labels[:, :n_prompt] = -100
            with torch.no_grad():
                loss = adapter.model(**inputs, labels=labels).loss
            expected.append(-float(loss) * int((labels[:, 1:] != -100).sum()))
        assert row["scores"] == pytest.approx(expected, abs=3e-4)
        pick = int(np.argmax(expected))
        assert row["letter"] == "ABCD"[pick] and row["prediction"] == row["options"][pick]
        assert row["correct"] == (pick == row["answer"])
    assert len({tuple(r["scores"]) for r in rows}) > 1  # the images matter
    assert info["scoring"] == "names" and info["prompt"] == ev.open_prompt("bird")
    assert info["accuracy"] == np.mean([r["correct"] for r in rows])


@pytest.mark.parametrize("scoring", ["letters", "names"])
def test_blind_protocols_answer_from_the_text_alone(demo_checkpoints, data, tmp_path, scoring):
    """blind-mc4-x: the same questions with every image grey, so two rows with the same options
    in the same order get the same scores; the sighted protocol scores them apart (their images
    differ), and both keep the options file's rows."""
    blind_out, blind = run(tmp_path, demo_checkpoints["mllm"], data, "blind-mc4-x", scoring, name="blind")
    sighted_out, sighted = run(tmp_path, demo_checkpoints["mllm"], data, "mc4-x", scoring, name="sighted")
    blind_rows, sighted_rows = lines(blind_out["jsonl"]), lines(sighted_out["jsonl"])
    assert [(r["image_id"], r["options"]) for r in blind_rows] == [(r["image_id"], r["options"]) for r in sighted_rows]
    n = len(blind_rows)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if blind_rows[a]["options"] == blind_rows[b]["options"]]
    assert pairs  # the fixture repeats option lists (one per class and arrangement)
    for a, b in pairs:
        assert blind_rows[a]["scores"] == pytest.approx(blind_rows[b]["scores"], abs=2e-4)
    assert any(sighted_rows[a]["scores"] != pytest.approx(sighted_rows[b]["scores"], abs=2e-4) for a, b in pairs)
    assert blind["blind"] and not sighted["blind"] and blind["protocol"] == "blind-mc4-x"
    assert blind["accuracy"] == np.mean([r["correct"] for r in blind_rows]) and blind["chance"] == 0.25
    assert blind["scoring"] == scoring and blind["prompt"] == sighted["prompt"]


def test_blind_open_reports_like_open(demo_checkpoints, data, tmp_path):
    out, info = run(tmp_path, demo_checkpoints["mllm"], data, "blind-open")
    rows = lines(out["jsonl"])
    assert len({r["output"] for r in rows}) == 1  # one grey image size, one question: one answer
    assert info["blind"] and "accuracy_fuzzy" in info and info["chance"] == 1 / len(data[1])
    assert benchmark.metrics_of(info)[0][0] == "exact match"


# ------------------------------------------------------------------------------ generate scoring

# answer -> (option index under parser foci, under parser letter, failure form where either fails).
# FOCI (benchmark/model/model.py + evaluate.py): strip, drop "Answer: ", first character in
# either case; letter: a capital alone, optionally bracketed, not starting a word.
ANSWERS = {
    "B": (1, 1, None), "b": (1, None, "single letter"), "Answer: B": (1, None, "word"),
    "B. Bald Eagle": (1, 1, None), "B.": (1, 1, None), " C) Laysan": (2, 2, None), "D\n": (3, 3, None),
    "A bird": (0, 0, None), "(B)": (None, 1, "bracketed letter"), "[A]": (None, 0, "bracketed letter"),
    "Cardinal": (2, None, "word"), "Black-footed Albatross": (1, None, "word"), "answer: c": (0, None, "word"),
    "E": (None, None, "single letter"), "Egret": (None, None, "word"), "": (None, None, "empty"),
    "1. Albatross": (None, None, "other"),
}


@pytest.mark.parametrize("parser, column", [("foci", 0), ("letter", 1)])
def test_answers_are_read_as_each_parser_reads_them(parser, column):
    assert {text: ev.PARSE[parser](text) for text in ANSWERS} == {t: v[column] for t, v in ANSWERS.items()}
    for text, (*picks, form) in ANSWERS.items():
        if None in picks:
            assert ev.failure_form(text) == form, text


@pytest.mark.parametrize("parser", ["foci", "letter"])
def test_generate_scoring_counts_answers_without_a_letter_apart(parser, demo_checkpoints, data, tmp_path, monkeypatch):
    options = ev.read_options(data[2]["test"])
    forms = ["{right}.", "({wrong})", "Black-footed Albatross", "{right} bird", "{lower}", "Answer: {right}"]
    answers, expected_letter = {}, {}  # image -> what the "model" says, and the letter each parser reads
    for n, o in enumerate(options):
        right, wrong = "ABCD"[o["answer"]], "ABCD"[(o["answer"] + 1) % 4]
        answers[o["image_id"]] = forms[n % len(forms)].format(right=right, wrong=wrong, lower=right.lower())
        by_foci = [right, None, "B", right, right, right][n % len(forms)]
        by_letter = [right, wrong, None, right, None, None][n % len(forms)]
        expected_letter[o["image_id"]] = by_foci if parser == "foci" else by_letter
    order = iter([o["image_id"] for o in options])

    def fake(self, inputs, max_new_tokens):
        assert max_new_tokens == 4
        return [answers[next(order)] for _ in range(len(inputs["input_ids"]))]

    monkeypatch.setattr(type(load_adapter(demo_checkpoints["mllm"], "mllm", weights=False)), "generate_batch", fake)
    out, info = run(tmp_path, demo_checkpoints["mllm"], data, scoring="generate", batch_size=5,
                    extra={"parser": parser})
    rows = lines(out["jsonl"])
    assert [r["letter"] for r in rows] == [expected_letter[o["image_id"]] for o in options]
    assert [r["output"] for r in rows] == [answers[o["image_id"]] for o in options]  # the raw answer kept
    truth = {o["image_id"]: "ABCD"[o["answer"]] for o in options}
    assert info["correct"] == sum(expected_letter[i] == truth[i] for i in truth)
    invalid = [answers[i] for i in truth if expected_letter[i] is None]
    assert info["invalid"] == len(invalid) and info["invalid_examples"] == invalid[:5]
    assert info["invalid_forms"] == {f: [ev.failure_form(a) for a in invalid].count(f)
                                     for f in {ev.failure_form(a) for a in invalid}}
    assert sum(info["invalid_forms"].values()) == info["invalid"] > 0
    assert info["n"] == len(options) and info["accuracy"] == info["correct"] / len(options)
    assert all(r["prediction"] is None and not r["correct"] for r in rows if r["letter"] is None)
    assert info["max_new_tokens"] == 4 and info["scoring"] == "generate" and info["parser"] == parser


# ------------------------------------------------------------------------------ open set

def test_open_set_matching_by_hand():
    classes = pd.DataFrame({"label": [0, 1, 2, 3],
                            "class_name": ["Black-footed Albatross", "Laysan Albatross", "Sooty Albatross", "American Crow"],
                            "raw_name": ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross",
                                         "029.American_Crow"]})
    m = ev.NameMatcher(classes)
    assert m.exact("Black-footed Albatross") == 0
    assert m.exact("the black footed albatross.") == 0  # article, case, hyphen, full stop
    assert m.exact("An American crow") == 3
    assert m.exact("albatross") is None and m.exact("It is a Laysan Albatross") is None  # exact means exact
    assert m.fuzzy("It is a Laysan Albatross")[0] == 1
    assert m.fuzzy("american crw")[0] == 3 and m.fuzzy("american crw")[1] > 80
    assert m.fuzzy("")[0] is None
    label, score = m.fuzzy("albatross")  # three names tie: the lowest label
    assert label == 0 and score == m.fuzzy("albatross")[1]


def test_open_protocol_reports_exact_and_fuzzy_apart(demo_checkpoints, data, tmp_path, monkeypatch):
    manifest, classes, _ = data
    test = manifest[manifest["split"] == "test"]
    names = dict(zip(classes["label"], classes["class_name"]))
    said = {i: [names[y], f"a {names[y].lower()}.", f"maybe {names[y]}?", "no idea"][n % 4]
            for n, (i, y) in enumerate(zip(test["image_id"], test["label"]))}
    order = iter(test["image_id"])
    monkeypatch.setattr(type(load_adapter(demo_checkpoints["mllm"], "mllm", weights=False)), "generate_batch",
                        lambda self, inputs, n: [said[next(order)] for _ in range(len(inputs["input_ids"]))])
    out, info = run(tmp_path, demo_checkpoints["mllm"], data, "open")
    rows, kinds = lines(out["jsonl"]), [n % 4 for n in range(len(test))]
    assert info["correct"] == kinds.count(0) + kinds.count(1)  # exact after normalisation
    # fuzzy: per row, by hand, rapidfuzz's WRatio of the normalised answer against every normalised
    # class name (clean and raw), the best score winning, ties to the lower label
    from rapidfuzz import fuzz

    def nearest(text):
        key = ev.normalise_answer(text)
        if not key:
            return None
        scored = [(fuzz.WRatio(key, ev.normalise_answer(name)), -int(y)) for y, clean, raw in
                  zip(classes["label"], classes["class_name"], classes["raw_name"]) for name in (clean, raw)]
        return -max(scored)[1]

    fuzzy = [nearest(said[r["image_id"]]) for r in rows]
    assert [r["fuzzy_prediction"] for r in rows] == fuzzy
    assert info["correct_fuzzy"] == sum(f == r["label"] for f, r in zip(fuzzy, rows))
    assert info["correct_fuzzy"] >= info["correct"] + kinds.count(2)  # "maybe X?" found by fuzzy match
    assert all(r["options"] is None and r["output"] == said[r["image_id"]] for r in rows)
    assert info["prompt"] == "What is the name of the bird in the image?" and info["chance"] == 1 / len(classes)


# ------------------------------------------------------------------------------ reproducible, resumable

def test_two_runs_give_the_same_bytes(demo_checkpoints, data, tmp_path):
    a, _ = run(tmp_path, demo_checkpoints["mllm"], data, name="a", batch_size=8)
    b, _ = run(tmp_path, demo_checkpoints["mllm"], data, name="b", batch_size=8)
    assert a["jsonl"].read_bytes() == b["jsonl"].read_bytes()
    assert a["json"].read_bytes() == b["json"].read_bytes()


def test_a_killed_run_resumes_to_the_same_file(demo_checkpoints, data, tmp_path, monkeypatch):
    whole, _ = run(tmp_path, demo_checkpoints["mllm"], data, name="whole", batch_size=4)
    cls = type(load_adapter(demo_checkpoints["mllm"], "mllm", weights=False))
    original, calls = cls.choice_scores, []

    def dies_on_the_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the job is killed mid-run
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "choice_scores", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, demo_checkpoints["mllm"], data, name="cut", batch_size=4)
    assert not (tmp_path / "cut.jsonl").exists() and not (tmp_path / "cut.json").exists()
    partial = tmp_path / "cut.jsonl.partial"
    assert len(partial.read_text().splitlines()) == 1 + 2 * 4  # fingerprint + two batches
    with partial.open("a") as f:
        f.write('{"image_id": "torn')  # a kill in the middle of a write
    calls.clear()
    monkeypatch.setattr(cls, "choice_scores", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    run(tmp_path, demo_checkpoints["mllm"], data, name="cut", batch_size=4)
    n = (data[0]["split"] == "test").sum()
    assert len(calls) == -(-n // 4) - 2  # only the batches not done
    assert (tmp_path / "cut.jsonl").read_bytes() == whole["jsonl"].read_bytes()
    assert not partial.exists()


def test_a_partial_file_of_other_settings_is_not_resumed(demo_checkpoints, data, tmp_path):
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text('{"fingerprint": "other"}\n{"image_id": "x", "label": 0}\n')
    out, info = run(tmp_path, demo_checkpoints["mllm"], data)
    assert [r["image_id"] for r in lines(out["jsonl"])] == [o["image_id"] for o in ev.read_options(data[2]["test"])]
    assert not partial.exists()


# ------------------------------------------------------------------------------ zeroshot

def _stores(tmp_path, manifest, classes, seed=0, dim=8):
    rng = np.random.default_rng(seed)
    test = manifest[manifest["split"] == "test"]
    objects, categories = tmp_path / "test.h5", tmp_path / "categories.h5"
    images, texts = rng.normal(size=(len(test), dim)), rng.normal(size=(len(classes), dim))
    with h5py.File(objects, "w") as f:
        f["labels"], f["image_ids"] = test["label"].to_numpy(), test["image_id"].astype(str).to_numpy().astype("S")
        f["objects/embed"] = images.astype(np.float32)
        f.attrs["demo"] = True
    with h5py.File(categories, "w") as f:
        f["labels"], f["class_names"] = classes["label"].to_numpy(), classes["class_name"].to_numpy().astype("S")
        f["prompts/embed"] = texts.astype(np.float32)
    return objects, categories, images.astype(np.float32), texts.astype(np.float32)


def test_zeroshot_is_the_cosine_over_all_classes_and_over_the_four_options(data, tmp_path):
    manifest, classes, files = data
    objects, categories, images, texts = _stores(tmp_path, manifest, classes)
    out = {"jsonl": tmp_path / "z.jsonl", "json": tmp_path / "z.json"}
    info = ev.run(settings("zeroshot", kind="vlm"), manifest, classes, out, options_path=files["test"],
                  objects=objects, categories=categories)
    cos = torch.nn.functional.cosine_similarity(torch.tensor(images)[:, None], torch.tensor(texts)[None], dim=-1).numpy()
    rows, restricted_differs = lines(out["jsonl"]), 0
    for n, r in enumerate(rows):
        assert r["prediction_all"] == int(np.argmax(cos[n]))
        four = cos[n, r["options"]]
        assert r["prediction"] == r["options"][int(np.argmax(four))]
        assert r["scores"] == pytest.approx(four.tolist(), abs=1e-4)
        restricted_differs += r["prediction"] != r["prediction_all"]
    assert restricted_differs > 0  # the 4-option restriction changes some answers
    assert info["accuracy"] == np.mean([r["correct"] for r in rows])
    assert info["accuracy_all"] == np.mean([r["correct_all"] for r in rows]) and info["demo"] is True


# ------------------------------------------------------------------------------ bad input

def test_options_of_another_split_or_data_set_are_refused(demo_checkpoints, data, tmp_path):
    manifest, classes, files = data
    with pytest.raises(FgvrError, match="train split"):
        run(tmp_path, demo_checkpoints["mllm"], data, options=files["train"])
    other = tmp_path / "other.jsonl"
    other.write_text(files["test"].read_text().replace('"image_id": "', '"image_id": "cub_'))
    with pytest.raises(FgvrError, match="not in data set small"):
        run(tmp_path, demo_checkpoints["mllm"], data, options=other)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.jsonl"]


def test_a_model_without_chat_template_is_refused(demo_checkpoints, data, tmp_path):
    ckpt = tmp_path / "plain"
    shutil.copytree(demo_checkpoints["mllm"], ckpt)
    (ckpt / "chat_template.jinja").unlink(missing_ok=True)
    for path in ckpt.glob("*.json"):
        config = json.loads(path.read_text())
        if isinstance(config, dict) and config.pop("chat_template", None) is not None:
            path.write_text(json.dumps(config))
    (tmp_path / "out").mkdir()
    with pytest.raises(FgvrError, match="no chat template"):
        run(tmp_path / "out", ckpt, data)
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("protocol, kind", [("open", "vlm"), ("mc4-x", "vlm"), ("zeroshot", "mllm"),
                                            ("blind-open", "vlm"), ("blind-mc4-x", "vlm")])
def test_a_protocol_the_kind_cannot_run_is_refused(protocol, kind, data, tmp_path):
    manifest, classes, files = data
    with pytest.raises(FgvrError, match=f"protocol '{protocol}' is for an"):
        ev.run(settings(protocol, kind=kind), manifest, classes, {"jsonl": tmp_path / "o.jsonl", "json": tmp_path / "o.json"},
               options_path=files["test"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("edit, message", [
    (lambda e: e.__setitem__("protocols", ["mc4-nope"]), "evaluation.protocols[0]: 'mc4-nope' asks for options"),
    (lambda e: e.__setitem__("protocols", ["blind-mc4-nope"]), "evaluation.protocols[0]: 'blind-mc4-nope' asks for"),
    (lambda e: e.__setitem__("protocols", ["mc4-demo-vlm", "blind-zeroshot"]), "evaluation.protocols"),
    (lambda e: e.__setitem__("models", ["demo-mllm"]), "evaluation.protocols[2]: 'zeroshot' is run by a vlm"),
    (lambda e: e.__setitem__("protocols", ["zeroshot"]), "evaluation.models[0]: 'demo-mllm' is a mllm"),
    (lambda e: e.__setitem__("models", ["nope"]), "evaluation.models[0]: 'nope' is not a model"),
    (lambda e: e.__setitem__("scoring", "logits"), "evaluation.scoring"),
])
def test_bad_evaluation_config_is_named(edit, message):
    from fgvr.config import ConfigError, check_config

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    edit(cfg["evaluation"])
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_config(cfg, ROOT / "config" / "schema.yaml")


# ------------------------------------------------------------------------------ the table

PAPER = {  # REFERENCE.md section 5
    "Finedefics": [57.61, 84.67, 72.86, 89.88, 92.18, 63.82, 76.84],
    "Idefics2-8B": [None, 80.25, None, 72.78, 81.28, 56.23, None],
    "Qwen-VL-Chat": [None, 76.23, None, 75.95, 87.82, 45.96, None],
    "LLaVA-1.5-7B": [None, 46.92, None, 51.37, 52.25, 34.71, None],
    "SigLIP-so400m": [None, 93.15, None, 93.69, 95.64, 69.10, None],
}


def test_the_table_has_the_papers_numbers_beside_this_runs(tmp_path):
    results = [{"model": "idefics2-8b", "protocol": "mc4-foci", "scoring": "letters", "dataset": d, "accuracy": 0.5 + i / 100,
                "demo": False} for i, d in enumerate(benchmark.PAPER_DATASETS)]
    results.append({"model": "demo-vlm", "protocol": "zeroshot", "dataset": "synthetic", "accuracy": 0.25,
                    "accuracy_all": 0.125, "demo": True})
    frame = benchmark.table(results)
    columns = list(benchmark.PAPER_DATASETS) + ["avg"]
    paper = frame[frame["source"] == "paper"].set_index("model")
    for model, values in PAPER.items():
        got = [None if pd.isna(v) else float(v) for v in paper.loc[model, columns]]
        assert got == values, model
        assert ("ICLR 2025" if model == "Finedefics" else "FOCI") in paper.loc[model, "reference"]
    released = frame[frame["source"] == "released"].iloc[0]
    assert released[["cub200", "cars196"]].tolist() == [47.96, 23.87] and pd.isna(released["dogs120"])
    ours = frame[frame["model"] == "idefics2-8b"].iloc[0]
    assert ours["cub200"] == 50.0 and ours["avg"] == pytest.approx(52.5) and not ours["demo"]
    demo = frame[frame["model"] == "demo-vlm"]
    assert demo["demo"].all() and demo["synthetic"].tolist() == [25.0, 12.5] and demo["avg"].isna().all()
    reference = ROOT.parent / "shared" / "REFERENCE.md"
    if reference.is_file():  # the numbers as REFERENCE.md prints them
        text = reference.read_text()
        for model, values in PAPER.items():
            line = next(x for x in text.splitlines() if x.startswith(f"| {model}"))
            printed = [c.replace("[?]", "").strip() for c in line.strip("|").split("|")[1:]]
            assert [None if c in ("-", "") else float(c) for c in printed] == values
    benchmark.write(frame, tmp_path / "b.csv", tmp_path / "b.md", tmp_path / "b.png")
    md = (tmp_path / "b.md").read_text()
    assert "| Finedefics (paper [1]) | mc4-foci | 4-way accuracy | 57.61 | 84.67 |" in md
    assert "| Idefics2-8B (paper [2]) |" in md and "| Finedefics (released [3]) | mc4-foci | 4-way accuracy | 47.96 |" in md
    assert "[1] He, Li, Geng, Xu, Peng" in md and "[2] Geigle" in md and "results/mc/" in md
    assert "[?]" not in md and "REFERENCE.md" not in md
    assert "| demo-vlm (demo) | zeroshot | all-class accuracy |" in md and "random-init" in md
    assert (tmp_path / "b.png").stat().st_size > 10_000
    again = pd.read_csv(tmp_path / "b.csv")
    assert list(again.columns[:6]) == benchmark.META and again.loc[again["model"] == "SigLIP-so400m", "pets37"].item() == 95.64


# ------------------------------------------------------------------------------ mc4-foci on the official files

@pytest.mark.parametrize("name, objects, spelt", [
    pytest.param("dogs120", "dogs", "Mexican_hairless", marks=needs_foci("dogs120")),
    pytest.param("flowers102", "flowers", "pink primrose", marks=needs_foci("flowers102")),
])
def test_mc4_foci_on_the_official_files(name, objects, spelt, full, demo_checkpoints, tmp_path):
    """A few entries of the official option file, imported against the full official-format
    fixture and asked of the demo Idefics2: the official question of the data set (planned from
    its config entry), FOCI's "User: " wrap, and the names as the official file spells them
    (option_names official), or classes.csv's (clean); each recorded in the JSON and the rows."""
    from fgvr import plan
    from fgvr.options import import_foci

    manifest, classes = full(name)
    official = json.loads((FOCI_DIR / FOCI_FILES[name]).read_text())
    keys = [spelt] + [k for k in official if k != spelt][:2]
    trimmed = tmp_path / FOCI_FILES[name]
    trimmed.write_text(json.dumps({k: official[k][:2] for k in keys}))
    rows = import_foci(trimmed, manifest, classes, 0, name)
    assert len(rows) == 6 and all("names" in r for r in rows)
    options = tmp_path / "foci.jsonl"
    write_options(options, rows)
    question = plan.dataset_question({"datasets": {name: {}}}, name)
    assert question == f"Which of these {objects} is shown in the image?"
    by_label = dict(zip(classes["label"], classes["class_name"]))
    paths = dict(zip(manifest["image_id"], manifest["path"]))
    entries = {e["image"].removeprefix("images/"): e for k in keys for e in official[k][:2]}
    for shown in ("official", "clean"):
        out = {"jsonl": tmp_path / f"{shown}.jsonl", "json": tmp_path / f"{shown}.json"}
        info = ev.run(settings("mc4-foci", dataset=name, question=question, option_names=shown, foci_wrap=True),
                      manifest, classes, out, options_path=options, model_dir=demo_checkpoints["mllm"],
                      progress=False)
        got = lines(out["jsonl"])
        assert info["question"] == question and info["option_names"] == shown and info["foci_wrap"] == "User: {}"
        assert info["prompt"].startswith(f"User: {question}\nChoices:\nA. ") and info["n"] == 6
        for row, source in zip(got, rows):
            entry = next(e for tail, e in entries.items() if paths[row["image_id"]].endswith(tail))
            if shown == "official":  # the official file's four spellings, in the row's option order
                assert sorted(row["names"]) == sorted(entry["options"]) and row["names"] == source["names"]
            else:
                assert row["names"] == [by_label[o] for o in row["options"]]
        if shown == "official":
            assert any(spelt in r["names"] for r in got)
    if name == "dogs120":  # the official spelling is not classes.csv's
        assert spelt not in by_label.values()


def test_paligemma_is_prompted_with_its_task_prefix(family_checkpoints, data):
    """PaliGemma (no chat template in its pt / mix releases) is asked as its model card asks it:
    the image tokens, BOS, "answer en " + the question, a newline; its names scoring trains the
    answer as the processor's suffix: the answer and EOS after the prefix, all else unlabelled."""
    from PIL import Image

    adapter = load_adapter(family_checkpoints["paligemma"], "mllm", weights=False)
    tok = adapter.processor.tokenizer
    image = Image.new("RGB", (32, 32), (10, 120, 30))
    seq = adapter.processor.image_seq_length
    ours = adapter.chat_batch([QUESTION], [image])["input_ids"][0].tolist()
    card = tok("<image>" * seq + tok.bos_token + "answer en " + QUESTION + "\n", add_special_tokens=False)
    assert ours == card["input_ids"]
    trained = adapter.answer_encode([QUESTION], [image], ["Azure Tit"])
    labelled = trained["input_ids"][0][trained["labels"][0] != -100].tolist()
    assert labelled == tok("Azure Tit", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert trained["input_ids"][0, :len(ours)].tolist() == ours
