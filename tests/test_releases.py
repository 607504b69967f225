"""Release-faithful tiny checkpoints (fgvr.models.releases, fgvr.models.release_builder): every
model config/paper.yaml and config/zoo.yaml names (and Idefics3-8B-Llama3), its tiny weights under
the files its release stores, through the whole chain: extraction, describe's generation,
evaluation (letters, names, generate; open; SigLIP's zero-shot) and both fine-tuning stages for
the three the zoo fine-tunes. A crash here is a stored setting the library did not handle."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT
from fgvr.datasets.manifest import read_descriptions, read_manifest
from fgvr.extract import extract_categories, extract_split, load_image
from fgvr.models import load_adapter
from fgvr.models.releases import IN_CONFIGS, RELEASES, TINY
from fgvr.store import read_store
from test_evaluate import data, lines, run  # noqa: F401  (the module's options fixture)
from test_train import samples  # noqa: F401

TRAINED = ["HuggingFaceM4/idefics2-8b", "Qwen/Qwen2.5-VL-7B-Instruct", "llava-hf/llava-onevision-qwen2-7b-ov-hf"]
MLLMS = [h for h in RELEASES if RELEASES[h]["family"] != "siglip"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory, dataset_texts):
    from fgvr.models.release_builder import build_release

    root = tmp_path_factory.mktemp("releases")
    return {hub: build_release(hub, root / hub.replace("/", "+"), dataset_texts, image_size=32) for hub in RELEASES}


def files(path):
    return {name: json.loads((path / name).read_text()) for name in
            ("preprocessor_config.json", "processor_config.json", "tokenizer_config.json", "generation_config.json",
             "chat_template.json", "config.json") if (path / name).exists()}


def test_every_configured_model_has_a_release_entry():
    ids = set()
    for name in ("paper.yaml", "zoo.yaml"):
        models = yaml.safe_load((ROOT / "config" / name).read_text())["models"]
        ids |= {m["hf_id"] for m in models.values() if "hf_id" in m}
    assert ids == set(IN_CONFIGS)
    for hub, entry in RELEASES.items():
        assert entry["sources"], hub
        for key, why in entry["shrunk"].items():  # every shrink says why
            assert (why[1] if isinstance(why, tuple) else why), (hub, key)


@pytest.mark.parametrize("hub", list(RELEASES))
def test_saved_files_carry_the_release_values(releases, hub):
    """The files hold the entry's values (shrunk keys excepted) in the release's layout."""
    from transformers import AutoTokenizer

    entry, path = RELEASES[hub], releases[hub]
    saved = files(path)
    if entry["image_processor"] is not None:
        for key, value in entry["image_processor"].items():
            if f"image_processor.{key}" not in entry["shrunk"]:
                assert saved["preprocessor_config.json"][key] == value, (hub, key)
    assert "image_processor" not in saved.get("processor_config.json", {})  # transformers 4's layout
    assert ("processor_config.json" in saved) == (entry["processor"] is not None
                                                  or any(k.startswith("processor.") for k in entry["shrunk"]))
    for key, value in (entry["processor"] or {}).items():
        if f"processor.{key}" not in entry["shrunk"]:
            assert saved["processor_config.json"][key] == value, (hub, key)
    for key, value in (entry["tokenizer"] or {}).items():
        assert saved["tokenizer_config.json"].get(key) == value, (hub, key)
    templates = {n for n in ("chat_template.json", "chat_template.jinja") if (path / n).exists()}
    assert templates == set(entry["template_files"]) - {"processor_config.json"}
    if "chat_template.json" in templates:
        assert saved["chat_template.json"]["chat_template"] == entry["chat_template"]
    tok = AutoTokenizer.from_pretrained(path)
    if entry["generation"] is not None:
        gen = saved["generation_config.json"]
        for key, value in entry["generation"].items():
            if key.endswith(("token_id", "_ids")):
                ids = tok.convert_tokens_to_ids(value) if not isinstance(value, list) or not value or \
                    not isinstance(value[0], list) else [tok.convert_tokens_to_ids(v) for v in value]
                assert gen[key] == ids, (hub, key)
            else:
                assert gen[key] == value, (hub, key)
    assert saved["config.json"]["fgvr_release"] == hub and saved["config.json"]["fgvr_demo"] is True


# What each release's tokenizer does to "a bird" and a few stored values, typed from the research
# notes (not read from releases.py): BOS first / EOS last, and the literal settings.
LITERAL = {
    "HuggingFaceM4/idefics2-8b": dict(first="<s>", last="▁bird", pre={"do_image_splitting": True},
                                      gen_eos=["</s>", "<end_of_utterance>"], pad="<unk>"),
    "HuggingFaceM4/Idefics3-8B-Llama3": dict(first="<|begin_of_text|>", pre={"do_image_splitting": True,
                                                                             "resample": 1}),
    "llava-hf/llava-1.5-7b-hf": dict(first="<s>", last="▁bird", pre={"do_center_crop": True, "resample": 3},
                                     gen_eos="</s>", pad="<pad>", side="left"),
    "llava-hf/llava-onevision-qwen2-7b-ov-hf": dict(first="▁a", last="▁bird", gen_eos="<|im_end|>", pinpoints=36),
    "Qwen/Qwen2.5-VL-7B-Instruct": dict(first="▁a", last="▁bird", gen_eos=["<|im_end|>", "<|endoftext|>"],
                                        pad="<|endoftext|>", pre={"merge_size": 2, "temporal_patch_size": 2},
                                        gen={"do_sample": True, "top_k": 1, "repetition_penalty": 1.05}),
    "OpenGVLab/InternVL3-8B-hf": dict(first="▁a", last="▁bird", pre={"image_mean": [0.485, 0.456, 0.406]}),
    "google/gemma-3-4b-it": dict(first="<bos>", last="▁bird", pre={"do_pan_and_scan": None},
                                 gen_eos=["<eos>", "<end_of_turn>"], gen={"do_sample": True, "top_k": 64},
                                 side="left"),
    "google/paligemma2-10b-mix-448": dict(template=False),
    "mistral-community/pixtral-12b": dict(first="<s>", last="▁bird", gen_eos="</s>", pre={"resample": 3}),
    "google/siglip-so400m-patch14-384": dict(first="▁a", last="</s>", pad="</s>", pre={"size": {"height": 32,
                                                                                                "width": 32}}),
}


@pytest.mark.parametrize("hub", list(RELEASES))
def test_release_literals_and_bos_eos(releases, hub):
    from transformers import AutoTokenizer

    want, path = LITERAL[hub], releases[hub]
    tok = AutoTokenizer.from_pretrained(path)
    pieces = tok.convert_ids_to_tokens(tok("a bird")["input_ids"])
    if "first" in want:
        assert pieces[0] == want["first"], (hub, pieces)
    if "last" in want:
        assert pieces[-1] == want["last"], (hub, pieces)
    saved = files(path)
    for key, value in want.get("pre", {}).items():
        assert saved["preprocessor_config.json"][key] == value, (hub, key)
    gen = saved.get("generation_config.json", {})
    if "gen_eos" in want:
        eos = want["gen_eos"]
        assert gen["eos_token_id"] == (tok.convert_tokens_to_ids(eos)), hub
    for key, value in want.get("gen", {}).items():
        assert gen[key] == value, (hub, key)
    if "pad" in want:
        assert tok.pad_token == want["pad"], hub
    if "side" in want:
        assert tok.padding_side == want["side"], hub
    if "pinpoints" in want:
        assert len(saved["config.json"]["image_grid_pinpoints"]) == want["pinpoints"]
        assert saved["config.json"]["image_grid_pinpoints"] == TINY["onevision_pinpoints"](32)
    if want.get("template") is False:
        assert not (path / "chat_template.jinja").exists() and not (path / "chat_template.json").exists()


@pytest.mark.parametrize("hub", list(RELEASES))
def test_extraction(releases, small_dataset, tmp_path, hub):
    kind = "vlm" if RELEASES[hub]["family"] == "siglip" else "mllm"
    adapter = load_adapter(releases[hub], kind)
    manifest = read_manifest(small_dataset / "manifest.csv", "test")[:6]
    store = read_store(extract_split(adapter, manifest, tmp_path / "test.h5", "m",
                                     read_descriptions(small_dataset / "ground_truth.csv"), batch_size=4,
                                     progress=False))
    for key, size in adapter.hidden_sizes().items():
        rows = store.groups["objects"][key]
        assert rows.shape == (len(manifest), size) and np.isfinite(rows).all(), (hub, key)


@pytest.mark.parametrize("hub", MLLMS)
def test_describe_generation(releases, small_dataset, hub):
    adapter = load_adapter(releases[hub], "mllm")
    manifest = read_manifest(small_dataset / "manifest.csv", "test")
    image = load_image(manifest["path"].iloc[0])
    answers = adapter.generate(["What is the color of the bird's crown?", "Describe the bird."], [image, image],
                               max_new_tokens=4)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def few(data, tmp_path):  # noqa: F811
    """The evaluation data with 6 test images (and their options)."""
    manifest, classes, files_ = data
    options = lines(files_["test"])[:6]
    keep = {o["image_id"] for o in options}
    small = tmp_path / "few-test.jsonl"
    small.write_text("".join(json.dumps(o) + "\n" for o in options))
    return (manifest[(manifest["split"] != "test") | manifest["image_id"].astype(str).isin(keep)], classes,
            dict(files_, test=small))


@pytest.mark.parametrize("hub", MLLMS)
def test_evaluation(releases, data, tmp_path, hub):  # noqa: F811
    small = few(data, tmp_path)
    n = (small[0]["split"] == "test").sum()
    for protocol, scoring in (("mc4-x", "letters"), ("mc4-x", "names"), ("mc4-x", "generate"), ("open", "generate")):
        out, info = run(tmp_path, releases[hub], small, protocol, scoring, name=f"{protocol}-{scoring}")
        rows = lines(out["jsonl"])
        assert len(rows) == n, (hub, protocol, scoring)
        assert 0 <= info["accuracy"] <= 1


def test_siglip_zeroshot(releases, data, tmp_path):  # noqa: F811
    import fgvr.evaluate as ev
    from test_evaluate import settings

    manifest, classes, files_ = data
    adapter = load_adapter(releases["google/siglip-so400m-patch14-384"], "vlm")
    test = manifest[manifest["split"] == "test"]
    objects = extract_split(adapter, test, tmp_path / "test.h5", "siglip", None, batch_size=8, progress=False)
    categories = extract_categories(adapter, classes, tmp_path / "categories.h5", "siglip")
    out = {"jsonl": tmp_path / "z.jsonl", "json": tmp_path / "z.json"}
    info = ev.run(settings("zeroshot", kind="vlm"), manifest, classes, out, options_path=files_["test"],
                  objects=objects, categories=categories)
    assert len(lines(out["jsonl"])) == len(test) and 0 <= info["accuracy"] <= 1


@pytest.mark.parametrize("hub", TRAINED)
def test_both_stages_and_the_merged_checkpoint(releases, samples, data, tmp_path, hub):  # noqa: F811
    from fgvr.train.loop import Settings, save_merged, train_stage

    for stage, rows in ((1, samples[0][:4]), (2, samples[1][:4])):
        adapter = load_adapter(releases[hub], "mllm")
        peft_model = train_stage(adapter, rows, stage, Settings(batch_size=4, micro_batch_size=4, warmup_steps=0),
                                 {"r": 4, "alpha": 4, "dropout": 0.0}, tmp_path / f"stage{stage}", progress=False)
        log = np.genfromtxt(tmp_path / f"stage{stage}" / "log.csv", delimiter=",", names=True)
        assert np.isfinite(log["loss"]).all() and log["loss"] > 0, (hub, stage)
    merged = save_merged(peft_model, adapter, tmp_path / "merged")
    again = load_adapter(merged, "mllm")
    small = few(data, tmp_path)
    out, _ = run(tmp_path, merged, small, "mc4-x", "letters", name="merged")
    assert len(lines(out["jsonl"])) == (small[0]["split"] == "test").sum() == 6
    assert torch.isfinite(again.encode_texts(["a bird"])["llm.last"]).all()


def test_generation_stays_greedy_with_the_stored_penalties(releases):
    """Qwen2.5-VL stores do_sample: true, top_k 1, repetition_penalty 1.05: the model keeps the
    stored config (the penalty applies in generate) and answers are the same on every call."""
    adapter = load_adapter(releases["Qwen/Qwen2.5-VL-7B-Instruct"], "mllm")
    stored = adapter.model.generation_config
    assert stored.do_sample is True and stored.repetition_penalty == 1.05
    torch.manual_seed(1)
    first = adapter.generate(["Describe the bird."], max_new_tokens=6)
    torch.manual_seed(2)
    assert adapter.generate(["Describe the bird."], max_new_tokens=6) == first
