"""Attribute descriptions: parsing, the user's file, CUB's annotations, and generation with the
demo MLLM (cached, resumable)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from fgvr import describe, ground_truth
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError


def test_attribute_lists_are_parsed_from_the_usual_answer_shapes():
    numbered = "1. Coat color\n2. Coat pattern: spots or stripes\n3. fur texture.\n4. Coat color"
    assert describe.parse_attributes(numbered, 8, "x") == ["coat color", "coat pattern", "fur texture"]
    assert describe.parse_attributes("bill shape, wing color and tail, size", 2, "x") == ["bill shape", "wing color and tail"]
    assert describe.parse_attributes("- body colour\n* wing pattern", 8, "x") == ["body colour", "wing pattern"]
    with pytest.raises(FgvrError, match="ds: no attribute could be parsed"):
        describe.parse_attributes(" \n - \n", 8, "ds")


def test_class_names_become_pronouns():
    text = "The Crested Fantail is small. A crested fantail has a red crest, like every Crested Fantail."
    assert describe.without_name(text, "Crested Fantail") == "It is small. It has a red crest, like every it."


def test_a_users_file_must_cover_every_image(tmp_path, small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv")
    ids = manifest["image_id"].tolist()
    good = pd.DataFrame({"image_id": ids[::-1], "description": [f"text {i}" for i in ids[::-1]]})
    out = describe.check(good, manifest, "mine.csv")
    assert out["image_id"].tolist() == ids and out["description"].iloc[0] == f"text {ids[0]}"  # manifest order
    with pytest.raises(FgvrError, match=f"mine.csv: no description for image {ids[3]!r}"):
        describe.check(good[good["image_id"] != ids[3]], manifest, "mine.csv")
    with pytest.raises(FgvrError, match="image_id 'nope' is not in the data set"):
        describe.check(pd.concat([good, pd.DataFrame({"image_id": ["nope"], "description": ["x"]})]), manifest, "mine.csv")
    with pytest.raises(FgvrError, match="lacks the column"):
        (tmp_path / "bad.csv").write_text("id,text\na,b\n")
        describe.from_file(tmp_path / "bad.csv", manifest, "datasets.x.descriptions")


def test_cub_ground_truth_from_its_annotation_files(tmp_path):
    """Official layout: attributes.txt beside CUB_200_2011/, per-image labels with certainties."""
    root = tmp_path / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    (tmp_path / "attributes.txt").write_text("1 has_bill_shape::dagger\n2 has_wing_color::brown\n"
                                             "3 has_wing_color::white\n4 has_size::small_(5_-_9_in)\n")
    # image 1: dagger (definitely), brown wing (probably), white wing (guessing: left out)
    # image 2: small (definitely), dagger not present; the 6-field line is an official quirk
    (root / "attributes" / "image_attribute_labels.txt").write_text(
        "1 1 1 4 3.2\n1 2 1 3 1.0\n1 3 1 2 2.0\n1 4 0 4 1.0\n2 1 0 4 1.0\n2 2 0 1 1.0\n2 3 0 1 0 1.5\n2 4 1 4 1.0\n")
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text("80 10 60 0\n0 0 49.9 100\n")
    manifest = pd.DataFrame({"image_id": ["1", "2"], "label": [0, 1]})
    classes = pd.DataFrame({"label": [0, 1], "class_name": ["Black-footed Albatross", "Laysan Albatross"]})
    images, per_class = ground_truth.cub200(root, manifest, classes)
    assert images["description"].tolist() == ["This bird has dagger bill shape, brown wing color.",
                                              "This bird has small (5 - 9 in) size."]
    assert per_class["description"].tolist() == ["It has dagger bill shape, white wing color.",
                                                 "It has small (5 - 9 in) size."]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, adapters, small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv").head(4)
    classes = read_classes(small_dataset / "classes.csv")
    cache = tmp_path_factory.mktemp("describe") / "cache.jsonl"
    adapter = adapters["mllm"]
    real = type(adapter).generate
    asked = describe.PROMPTS["attributes"].format(super="bird", kinds="species")

    def generate(self, prompts, images=None, max_new_tokens=24):
        """Random weights cannot list attributes: step 1 gets the answer a real model gives; the
        rest is the demo model's own generation."""
        if prompts == [asked]:
            return ["1. Wing pattern\n2. Body colour: red, blue or green\n3. Tail shape\n4. Head shape"]
        return real(self, prompts, images, max_new_tokens)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(adapter), "generate", generate)
        result = describe.generate(adapter, manifest, classes, "bird", "species", cache, "rev0", cap=3,
                                   max_new_tokens=6, batch_size=5, progress=False)
    return manifest, classes, cache, result


def test_generation_runs_the_three_steps_and_the_classes(generated):
    manifest, classes, cache, (info, images, per_class) = generated
    assert info["attributes"] == ["wing pattern", "body colour", "tail shape"] and info["super"] == "bird"  # capped
    assert images["image_id"].tolist() == manifest["image_id"].tolist() and images["description"].str.len().min() > 0
    assert per_class["label"].tolist() == classes["label"].tolist() and per_class["description"].str.len().min() > 0
    entries = [json.loads(line) for line in cache.read_text().splitlines()]
    n_attr = len(info["attributes"])
    # 1 attribute list + images x attributes VQA + one summary per image + one per class
    assert len(entries) == 1 + len(manifest) * n_attr + len(manifest) + len(classes)
    vqa = [e for e in entries if e["attribute"] in info["attributes"]]
    assert vqa[0]["prompt"] == f"What is the {info['attributes'][0]} of the bird in this photo?"


def test_generation_resumes_from_its_cache_and_is_repeatable(generated, adapters, monkeypatch, tmp_path):
    manifest, classes, cache, (info, images, per_class) = generated
    adapter = adapters["mllm"]
    calls = []
    original = type(adapter).generate
    monkeypatch.setattr(type(adapter), "generate", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    again = describe.generate(adapter, manifest, classes, "bird", "species", cache, "rev0", cap=3, max_new_tokens=6,
                              batch_size=5, progress=False)
    assert calls == []  # everything came from the cache
    pd.testing.assert_frame_equal(again[1], images)
    # a killed run: keep the first half of the cache, then finish: the same descriptions
    lines = cache.read_text().splitlines()
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines[:len(lines) // 2]) + "\n{\"key\": \"torn")
    resumed = describe.generate(adapter, manifest, classes, "bird", "species", partial, "rev0", cap=3,
                                max_new_tokens=6, batch_size=2, progress=False)
    # exactly the batches of what the cut cache lacks: the answers were written in job order (the
    # attribute list, then images x attributes VQA, one summary per image, one per class), and each
    # step asks its missing jobs in batches of 2 (the attribute list alone)
    kept, start, expected = len(lines) // 2, 0, 0
    for size, batch in ((1, 1), (len(manifest) * len(info["attributes"]), 2), (len(manifest), 2), (len(classes), 2)):
        missing = max(0, min(size, start + size - kept))
        expected += -(-missing // batch)
        start += size
    assert start == len(lines) and len(calls) == expected > 0
    pd.testing.assert_frame_equal(resumed[1], images)
    pd.testing.assert_frame_equal(resumed[2], per_class)
    # another model revision is another cache key: nothing reused
    calls.clear()
    describe.generate(adapter, manifest.head(1), classes.head(1), "bird", "species", cache, "rev1",
                      attributes=["wing pattern"], max_new_tokens=4, progress=False)
    assert len(calls) == 3  # one VQA, one summary, one class


def test_an_empty_generation_stops_naming_the_image(adapters, small_dataset, tmp_path, monkeypatch):
    manifest = read_manifest(small_dataset / "manifest.csv").head(2)
    classes = read_classes(small_dataset / "classes.csv")
    monkeypatch.setattr(type(adapters["mllm"]), "generate", lambda self, prompts, images=None, n=0: [""] * len(prompts))
    with pytest.raises(FgvrError, match=f"returned nothing for {manifest['image_id'].iloc[0]!r}"):
        describe.generate(adapters["mllm"], manifest, classes, "bird", "species", tmp_path / "c.jsonl", "r",
                          attributes=["wing pattern"], progress=False)


def test_questions_about_one_image_share_its_visual_tokens(adapters, small_dataset):
    """describe's VQA batches every attribute of an image together; the vision encoder and
    connector then run once per distinct image, and the greedy answers equal the plain path's
    (where every prompt carries its own copy of the image)."""
    from fgvr.extract import load_image

    adapter = adapters["mllm"]
    images = [load_image(p) for p in read_manifest(small_dataset / "manifest.csv")["path"][:3]]
    attributes = ["wing pattern", "body colour", "tail shape", "head shape"]
    prompts = [describe.PROMPTS["vqa"].format(attribute=a, super="bird") for _ in images for a in attributes]
    shared = [image for image in images for _ in attributes]
    seen = []
    hook = adapter.core.vision_model.register_forward_hook(lambda module, args, kwargs, out: seen.append(
        len(kwargs.get("pixel_values", args[0] if args else None))), with_kwargs=True)
    try:
        plain = adapter.generate(prompts, [image.copy() for image in shared], 8)
        plain_runs, seen[:] = sum(seen), []
        spliced = adapter.generate(prompts, shared, 8)
    finally:
        hook.remove()
    assert plain_runs == len(prompts) and sum(seen) == len(images)  # 12 encoder rows before, 3 now
    assert spliced == plain
    # random weights answer alike, so compare the next-token logits too: equal, and image-dependent
    inputs = {k: adapter.to_device(v) for k, v in adapter.chat_batch(prompts, shared).items()}
    with torch.inference_mode():
        reference = adapter.model(**inputs, use_cache=False).logits[:, -1]
        embeds = adapter.shared_embeddings(inputs, [id(image) for image in shared])
        logits = adapter.model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], use_cache=False).logits[:, -1]
    per_image = reference.view(len(images), len(attributes), -1)[:, 0]
    between_images = (per_image[0] - per_image[1]).abs().max()
    assert (logits - reference).abs().max() < 1e-2 * between_images
