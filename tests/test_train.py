"""Fine-tuning on the tiny Idefics2: losses go down, a killed stage resumes to the same weights,
answer-only labels, and training-data errors that name the entry."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fgvr.datasets.manifest import read_classes, read_descriptions, read_manifest
from fgvr.io import FgvrError
from fgvr.models import load_adapter
from fgvr.train.data import DatasetFiles, Stage1Sample, Stage2Sample, stage1_samples, stage2_samples
from fgvr.train.loop import Settings, save_merged, train_stage

from conftest import FAMILY_KIND

LORA = {"r": 8, "alpha": 16, "dropout": 0.1}


@pytest.fixture(scope="module")
def samples(small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    classes = read_classes(small_dataset / "classes.csv")
    text = read_descriptions(small_dataset / "ground_truth.csv")
    names = dict(zip(classes["label"], classes["class_name"]))
    n = len(names)
    first = [Stage1Sample(p, int(lab), text[i], names[lab], "bird", [names[(lab + 1) % n]], [text[i]],
                          [(int(lab) + 1) % n])
             for i, p, lab in zip(manifest["image_id"], manifest["path"], manifest["label"])]
    second = [Stage2Sample(p, "What is the name of the bird in the image?", names[lab])
              for p, lab in zip(manifest["path"], manifest["label"])]
    return first[::3], second[::3]  # 18 images of 6 classes: enough to learn from, quick


def settings(**kw):
    return Settings(**{"batch_size": 6, "micro_batch_size": 6, "lr": 5e-3, "warmup_steps": 1, "epochs": 2,
                       "checkpoint_every": 1, "learn_temperature": True, **kw})


def trained(path, samples, stage, work, **kw):
    adapter = load_adapter(path, "mllm")
    peft_model = train_stage(adapter, samples, stage, settings(**kw.pop("settings", {})), LORA, work,
                             progress=False, **kw)
    return adapter, peft_model


def lora_weights(peft_model):
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}


def test_stage1_learns_and_logs_every_loss(demo_checkpoints, samples, tmp_path):
    adapter, _ = trained(demo_checkpoints["mllm"], samples[0], 1, tmp_path, settings={"epochs": 4})
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.columns) == ["step", "loss", "lr", "loss_gen", "loss_oa", "loss_ac", "loss_cc", "temperature",
                                 "temperature_ac"]
    assert len(log) == 4 * 3 and np.isfinite(log.drop(columns="step").to_numpy()).all()
    first, last = log.head(3).mean(), log.tail(3).mean()
    assert last["loss"] < 0.95 * first["loss"]  # the loss goes down: the alignment terms fastest
    assert last["loss_ac"] + last["loss_cc"] < 0.7 * (first["loss_ac"] + first["loss_cc"])
    assert last["loss_gen"] < first["loss_gen"]
    weights = Settings().weights  # the total is the weighted sum of its parts, every step
    np.testing.assert_allclose(log["loss"], sum(weights[k] * log[f"loss_{k}"] for k in ("gen", "oa", "ac", "cc")),
                               rtol=1e-6)
    assert log["temperature"].between(0.001, 0.5).all() and log["temperature_ac"].between(0.001, 0.5).all()
    assert (log["temperature"] != log["temperature_ac"]).any()  # two temperatures learn apart (learn_temperature)
    assert (tmp_path / "loss.png").stat().st_size > 10_000


@pytest.mark.parametrize("stage", [1, 2])
def test_a_killed_stage_resumes_to_the_same_weights(stage, demo_checkpoints, samples, tmp_path):
    """Bitwise: the LoRA weights, and the log with every loss and (stage 1) both temperatures."""
    data = samples[stage - 1]
    _, whole = trained(demo_checkpoints["mllm"], data, stage, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        trained(demo_checkpoints["mllm"], data, stage, tmp_path / "cut", stop_after=3)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 3
    _, resumed = trained(demo_checkpoints["mllm"], data, stage, tmp_path / "cut")
    a, b = lora_weights(whole), lora_weights(resumed)
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole/log.csv"), pd.read_csv(tmp_path / "cut/log.csv"))
    # other settings: the checkpoint is not resumed (the log restarts from step 1)
    if stage == 1:
        assert pd.read_csv(tmp_path / "whole/log.csv")["temperature"].nunique() > 1  # it moved, and resumed exactly
        return
    trained(demo_checkpoints["mllm"], data, stage, tmp_path / "cut", settings={"lr": 1e-3, "epochs": 1})
    assert pd.read_csv(tmp_path / "cut/log.csv")["step"].tolist() == [1, 2, 3]  # one epoch of 3 steps


def test_merged_checkpoint_loads_like_any_other_and_changed(demo_checkpoints, samples, tmp_path):
    adapter, peft_model = trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path, settings={"epochs": 1})
    probe = ["Crested Fantail", "A small bird with a forked tail."]
    from PIL import Image

    image = adapter.preprocess([Image.new("RGB", (32, 32), (200, 30, 30))])
    unmerged = adapter.encode_texts(probe)["llm.last"], adapter.encode_images(image)["llm.last"]
    out = save_merged(peft_model, adapter, tmp_path / "merged")
    loaded = load_adapter(out, "mllm")  # the merged checkpoint computes what the LoRA model computed
    torch.testing.assert_close(loaded.encode_texts(probe)["llm.last"], unmerged[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loaded.encode_images(image)["llm.last"], unmerged[1], rtol=1e-4, atol=1e-5)
    before, after = load_adapter(demo_checkpoints["mllm"], "mllm"), load_adapter(out, "mllm")
    assert after.is_demo and type(after.model).__name__ == "Idefics2ForConditionalGeneration"
    texts = ["Crested Fantail"]
    assert not torch.allclose(before.encode_texts(texts)["llm.last"], after.encode_texts(texts)["llm.last"])
    frozen = [n for n, _ in after.model.named_parameters() if "vision_model" in n][0]
    torch.testing.assert_close(dict(after.model.named_parameters())[frozen],
                               dict(before.model.named_parameters())[frozen])  # the vision encoder is frozen


def test_answer_batch_labels_cover_the_answer_only(adapters):
    from PIL import Image

    adapter = adapters["mllm"]
    image = Image.new("RGB", (32, 32), (200, 30, 30))
    inputs = adapter.answer_batch(["Which bird?", "Name the bird in this photo, please."], [image, image],
                                  ["Crested Fantail", "B"])
    decode = adapter.processor.tokenizer.decode
    answers = [decode(ids[labels != -100], skip_special_tokens=True).strip()
               for ids, labels in zip(inputs["input_ids"], inputs["labels"])]
    assert answers == ["Crested Fantail", "B"]
    assert (inputs["labels"][inputs["attention_mask"] == 0] == -100).all()


def test_training_data_errors_name_the_entry(small_dataset, tmp_path):
    root = tmp_path / "synthetic"
    root.mkdir()
    manifest = read_manifest(small_dataset / "manifest.csv")
    manifest.to_csv(root / "manifest.csv", index=False)
    (root / "classes.csv").write_text((small_dataset / "classes.csv").read_text())
    truth = pd.read_csv(small_dataset / "ground_truth.csv", dtype=str)
    train_ids = manifest.loc[manifest["split"] == "train", "image_id"].tolist()
    truth[truth["image_id"] != train_ids[0]].to_csv(root / "descriptions.csv", index=False)  # a training image lacks one
    files = DatasetFiles("synthetic", "bird", str(root / "manifest.csv"), str(root / "classes.csv"),
                         str(root / "descriptions.csv"), str(root / "negatives.csv"), [str(root / "options.jsonl")])
    with pytest.raises(FgvrError, match=f"no description for training image {train_ids[0]!r} of synthetic"):
        stage1_samples([files])
    truth.to_csv(root / "descriptions.csv", index=False)
    (root / "negatives.csv").write_text("label,rank,negative_label,similarity\n0,1,99,0.9\n")
    with pytest.raises(FgvrError, match="class 99 is not a class of synthetic"):
        stage1_samples([files])
    rows = [{"image_id": i, "label": 0, "options": [0, 1, 2, 77], "answer": 0} for i in train_ids]
    (root / "options.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(FgvrError, match="77"):
        stage2_samples([files])
    with pytest.raises(FgvrError, match=r"no images in the training split\(s\) \['val'\] of synthetic"):
        stage2_samples([DatasetFiles(**{**vars(files), "splits": ["val"]})])


def test_cpu_quantisation_is_refused(demo_checkpoints, tmp_path):
    from fgvr.train.run import load

    spec = {"model": str(demo_checkpoints["mllm"]), "entry": "models.x.finetune", "device": "cpu", "quantize": "nf4"}
    with pytest.raises(FgvrError, match="models.x.finetune.quantize: nf4 .* needs a CUDA GPU"):
        load(spec)


# ------------------------------------------------------------------------------ every family

MLLM_FAMILIES = [f for f, k in FAMILY_KIND if k == "mllm"]
# What LoRA adapts, counted by hand from each tiny architecture (2 LLM layers x q, k, v, o, gate,
# up, down; the connector's linears): Idefics2's perceiver layer (7) and projection MLP (3);
# Idefics3 / SmolVLM one projection; LLaVA-style and InternVL two-layer MLPs; Qwen's merger MLP;
# PaliGemma one linear; Mistral 3's patch merger and MLP; Gemma 3's projector (a bare matrix,
# no linear) trained whole.
CONNECTOR_LINEARS = {"idefics2": 10, "idefics3": 1, "smolvlm": 1, "llava": 2, "pixtral": 2, "llava_next": 2,
                     "llava_onevision": 2, "internvl": 2, "qwen2_vl": 2, "qwen2_5_vl": 2, "qwen3_vl": 2,
                     "gemma3": 0, "paligemma": 1, "mistral3": 3}
# Idefics2's targets before the family table gave them (a regex on module names): unchanged
IDEFICS2_REGEX = r".*(text_model|connector)\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@pytest.mark.parametrize("family", MLLM_FAMILIES)
def test_lora_adapts_the_llm_and_the_connector_never_the_vision_tower(family_checkpoints, family, tmp_path, caplog):
    import re

    from fgvr.train.loop import attach_lora

    adapter = load_adapter(family_checkpoints[family], "mllm")
    targets = adapter.lora_targets()
    with caplog.at_level("INFO", logger="fgvr.train"):
        peft_model = attach_lora(adapter, LORA, 0)
    assert len(targets["llm"]) == 14 and len(targets["connector"]) == CONNECTOR_LINEARS[family], targets
    assert f"LoRA on {14 + CONNECTOR_LINEARS[family]} modules of {family}" in caplog.text
    adapted = {n.rsplit(".lora_A", 1)[0].replace("base_model.model.", "", 1)
               for n, _ in peft_model.named_parameters() if ".lora_A" in n}
    assert adapted == set(targets["llm"] + targets["connector"])
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert all("vision" not in n or "merger" in n for n in trainable), family  # Qwen's merger is the connector
    if family == "gemma3":
        assert targets["whole"] == ["model.multi_modal_projector"]
        assert any("multi_modal_projector" in n and "mm_input_projection_weight" in n for n in trainable)
    if family == "idefics2":
        before = [n for n, _ in adapter.model.named_modules() if re.fullmatch(IDEFICS2_REGEX, n)]
        assert sorted(before) == sorted(targets["llm"] + targets["connector"])


@pytest.mark.parametrize("family", MLLM_FAMILIES)
def test_every_family_learns_in_stage1_and_merges(family_checkpoints, family, samples, tmp_path):
    """Stage 1's losses fall on the synthetic set for every family, with the representations the
    analysis extracts (the model's own forward where positions depend on the image), and the
    merged checkpoint loads and computes what the LoRA model did."""
    adapter, peft_model = trained(family_checkpoints[family], samples[0][:12], 1, tmp_path, settings={"epochs": 4})
    log = pd.read_csv(tmp_path / "log.csv")
    assert len(log) == 8 and np.isfinite(log.drop(columns="step").to_numpy()).all()
    first, last = log.head(2).mean(), log.tail(2).mean()
    assert last["loss"] < 0.95 * first["loss"], (family, log["loss"].tolist())
    assert last["loss_ac"] + last["loss_cc"] < first["loss_ac"] + first["loss_cc"], family
    # merged, the twin is a checkpoint like any other: from_pretrained, its processor, the same
    # representations the LoRA model computed, and chat scoring
    from PIL import Image

    image = [Image.new("RGB", (32, 32), (200, 30, 30))]
    unmerged = adapter.encode_images(adapter.preprocess(image))["llm.last"]
    twin = load_adapter(save_merged(peft_model, adapter, tmp_path / "merged"), "mllm")
    assert type(twin.model).__name__ == type(adapter.model).__name__ and twin.family.name == family
    torch.testing.assert_close(twin.encode_images(twin.preprocess(image))["llm.last"], unmerged, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(twin.choice_scores(["Which bird? A, B, C or D?"], image, list("ABCD"))).all()


@pytest.mark.parametrize("stage", [1, 2])
def test_a_killed_qwen_stage_resumes_to_the_same_weights(family_checkpoints, samples, stage, tmp_path):
    """A non-Idefics2 family whose object path is the model's own forward (M-RoPE): killed and
    resumed, bitwise the same weights as an uninterrupted run."""
    data = samples[stage - 1][:12]
    path = family_checkpoints["qwen2_vl"]
    _, whole = trained(path, data, stage, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        trained(path, data, stage, tmp_path / "cut", stop_after=2)
    _, resumed = trained(path, data, stage, tmp_path / "cut")
    a, b = lora_weights(whole), lora_weights(resumed)
    assert a.keys() == b.keys() and len(a) == 2 * 16
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (pd.read_csv(tmp_path / "whole" / "log.csv") == pd.read_csv(tmp_path / "cut" / "log.csv")).all().all()


# ------------------------------------------------------------------------------ resuming on other devices and data

def test_a_checkpoint_restores_cpu_rng_wherever_it_was_mapped(demo_checkpoints, samples, tmp_path):
    """A GPU job loads its checkpoint onto the GPU; the CPU RNG state must still restore (it was
    a CPU ByteTensor that torch.set_rng_state refused once mapped elsewhere). Mapped to `meta`, a
    device holding no data at all, every process's state restores to exactly what was saved."""
    from fgvr.train.loop import restore_rng

    with pytest.raises(KeyboardInterrupt):
        trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path, stop_after=2)
    saved = torch.load(tmp_path / "checkpoint.pt", map_location="meta", weights_only=False)
    assert saved["params"][0].device.type == "meta"  # tensors did move
    torch.manual_seed(123)
    restore_rng(saved["rng"], 0)
    assert torch.equal(torch.get_rng_state(), torch.from_numpy(np.asarray(saved["rng"][0]["cpu"])))


def test_a_batch_the_micro_batches_cannot_reach_is_refused(demo_checkpoints, samples, tmp_path):
    with pytest.raises(FgvrError, match=r"batch_size 6 is not micro_batch_size 4 x 1 process"):
        trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path, settings={"micro_batch_size": 4})


def test_gradients_are_clipped_before_the_step(demo_checkpoints, samples, tmp_path):
    """max_grad_norm: the LoRA B matrices start at zero, so after one step they hold the update
    alone: clipped to a norm of 1e-12, AdamW's update (g / (sqrt(v) + eps)) all but vanishes."""
    def moved(max_grad_norm, work):
        _, peft_model = trained(demo_checkpoints["mllm"], samples[1], 2, work,
                                settings={"epochs": 1, "max_grad_norm": max_grad_norm}, stop_after=None)
        return max(float(p.detach().abs().max()) for n, p in peft_model.named_parameters() if "lora_B" in n)

    free, clipped = moved(0, tmp_path / "free"), moved(1e-12, tmp_path / "clipped")
    assert free > 1e-3 and clipped < 1e-3 * free


def test_lm_loss_scope_sequence_labels_every_attended_token(adapters):
    from PIL import Image

    adapter = adapters["mllm"]
    image = Image.new("RGB", (32, 32), (200, 30, 30))
    args = (["Which bird?", "Name the bird in this photo, please."], [image, image], ["Crested Fantail", "B"])
    answer, sequence = adapter.answer_encode(*args), adapter.answer_encode(*args, scope="sequence")
    attended = sequence["attention_mask"] == 1
    assert torch.equal(sequence["labels"][attended], sequence["input_ids"][attended])  # prompt, image tokens, answer
    assert (sequence["labels"][~attended] == -100).all()
    assert torch.equal(answer["input_ids"], sequence["input_ids"])
    assert ((answer["labels"] != -100).sum(1) < (sequence["labels"] != -100).sum(1)).all()


def _stage_files(small_dataset, root, name="synthetic", rename=None):
    """A data set's training files as a stage reads them (descriptions from its annotations,
    each class's next two classes as hard negatives); ``rename``: class name changes."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(small_dataset / "manifest.csv")
    manifest.to_csv(root / "manifest.csv", index=False)
    classes = read_classes(small_dataset / "classes.csv")
    classes["class_name"] = classes["class_name"].replace(rename or {})
    classes.to_csv(root / "classes.csv", index=False)
    (root / "descriptions.csv").write_text((small_dataset / "ground_truth.csv").read_text())
    n = len(classes)
    pd.DataFrame([(c, r, (c + r) % n, 0.5) for c in range(n) for r in (1, 2)],
                 columns=["label", "rank", "negative_label", "similarity"]).to_csv(root / "negatives.csv", index=False)
    return {"name": name, "super": "bird", "manifest": str(root / "manifest.csv"), "classes": str(root / "classes.csv"),
            "descriptions": str(root / "descriptions.csv"), "negatives": str(root / "negatives.csv"), "options": [],
            "splits": ["train"]}


def test_an_edited_input_retrains_from_step_zero(demo_checkpoints, small_dataset, tmp_path, caplog):
    """The checkpoint of a finished stage is not returned once its inputs change by content:
    an edited descriptions.csv (same path) starts over from step 0, saying why."""
    import logging

    from fgvr.train.run import run_stage

    files = _stage_files(small_dataset, tmp_path / "data")
    manifest = pd.read_csv(files["manifest"])
    keep = manifest[(manifest["split"] == "test") | manifest.index.isin(manifest[manifest["split"] == "train"].index[:8])]
    keep.to_csv(files["manifest"], index=False)  # 8 training images: 2 steps of 4
    spec = {"stage": 1, "model": str(demo_checkpoints["mllm"]), "out": str(tmp_path / "out"), "work": str(tmp_path / "w"),
            "datasets": [files], "entry": "test", "dtype": "float32", "device": "cpu", "lora": LORA,
            "settings": {"batch_size": 4, "micro_batch_size": 4, "lr": 1e-3, "warmup_steps": 0, "epochs": 1,
                         "checkpoint_every": 1}}
    caplog.set_level(logging.INFO, logger="fgvr.train")
    run_stage(spec, progress=False)
    first = pd.read_csv(tmp_path / "w/log.csv")
    caplog.clear()
    run_stage(spec, progress=False)  # unchanged: the finished checkpoint is taken as it is
    assert "resuming at step 2 of 2" in caplog.text
    text = pd.read_csv(files["descriptions"], dtype=str)
    text.loc[text["image_id"] == keep.loc[keep["split"] == "train", "image_id"].astype(str).iloc[0],
             "description"] = "A completely different bird."
    text.to_csv(files["descriptions"], index=False)
    caplog.clear()
    run_stage(spec, progress=False)
    assert "made with other data; starting over from step 0" in caplog.text
    again = pd.read_csv(tmp_path / "w/log.csv")
    assert again["step"].tolist() == [1, 2] and not np.allclose(again["loss"], first["loss"])
    caplog.clear()
    run_stage({**spec, "settings": {**spec["settings"], "lr": 2e-3}}, progress=False)
    assert "made with other settings; starting over from step 0" in caplog.text


def test_one_class_per_name_across_data_sets_and_the_training_splits(small_dataset, tmp_path):
    """Two data sets sharing a class name ("Chihuahua" in one, "chihuahua" in the other) give it
    one label, so it is never its own negative; the training splits decide the images."""
    dogs = _stage_files(small_dataset, tmp_path / "dogs", "dogs", rename={
        read_classes(small_dataset / "classes.csv")["class_name"][0]: "Chihuahua"})
    pets = _stage_files(small_dataset, tmp_path / "pets", "pets", rename={
        read_classes(small_dataset / "classes.csv")["class_name"][1]: "chihuahua"})
    samples = stage1_samples([DatasetFiles(**dogs), DatasetFiles(**pets)])
    manifest = read_manifest(dogs["manifest"])
    train = manifest[manifest["split"] == "train"]
    chihuahuas = [s for s in samples if s.name.lower() == "chihuahua"]
    assert len(chihuahuas) == (train["label"] == 0).sum() + (train["label"] == 1).sum()  # one class across both
    assert len({s.label for s in chihuahuas}) == 1 and {s.name for s in chihuahuas} == {"Chihuahua", "chihuahua"}
    # every other name is shared too (both are the small set): dogs' six, and pets' class 0 (renamed in dogs)
    assert len({s.label for s in samples}) == 7
    for s in samples:  # negatives carry their labels, never the sample's own
        assert len(s.negative_labels) == 2 and s.label not in s.negative_labels
    assert len(stage1_samples([DatasetFiles(**dogs)])) == len(train)
    both = DatasetFiles(**{**dogs, "splits": ["train", "test"]})
    assert len(stage1_samples([both])) == len(manifest)


def test_samples_are_exactly_what_the_files_say(tmp_path):
    """Tiny files written here, the samples spelled out by hand: stage 1 pairs each training image
    with its description, its class name and, per hard negative, that class's name and the
    description of one of its images; stage 2 asks the open question (answer: the name) and the
    4-way question in the options file's order (answer: the letter of the true class)."""
    root = tmp_path
    (root / "manifest.csv").write_text(
        "image_id,path,label,class_name,split,width,height\n"
        "a,img/a.png,0,Red Bird,train,8,8\nb,img/b.png,1,Blue Bird,train,8,8\n"
        "c,img/c.png,2,Green Bird,train,8,8\nd,img/d.png,3,Gold Bird,train,8,8\n"
        "e,img/e.png,0,Red Bird,test,8,8\n")
    (root / "classes.csv").write_text("label,class_name,raw_name,description\n0,Red Bird,r,x\n1,Blue Bird,b,x\n"
                                      "2,Green Bird,g,x\n3,Gold Bird,o,x\n")
    (root / "descriptions.csv").write_text("image_id,description\na,red one\nb,blue one\nc,green one\nd,gold one\n"
                                           "e,another red one\n")
    (root / "negatives.csv").write_text("label,rank,negative_label,similarity\n0,1,2,0.9\n1,1,0,0.8\n2,1,3,0.7\n"
                                        "3,1,1,0.6\n")
    (root / "options.jsonl").write_text(
        '{"image_id": "a", "label": 0, "options": [1, 0, 2, 3], "answer": 1}\n'
        '{"image_id": "b", "label": 1, "options": [1, 3, 2, 0], "answer": 0}\n'
        '{"image_id": "c", "label": 2, "options": [0, 1, 3, 2], "answer": 3}\n'
        '{"image_id": "d", "label": 3, "options": [2, 3, 0, 1], "answer": 1}\n')
    files = DatasetFiles("birds", "bird", str(root / "manifest.csv"), str(root / "classes.csv"),
                         str(root / "descriptions.csv"), str(root / "negatives.csv"), [str(root / "options.jsonl")],
                         "Which of these birds is shown in the image?")
    one = stage1_samples([files])
    assert [(s.path, s.description, s.name, s.negative_names, s.negative_descriptions) for s in one] == [
        ("img/a.png", "red one", "Red Bird", ["Green Bird"], ["green one"]),
        ("img/b.png", "blue one", "Blue Bird", ["Red Bird"], ["red one"]),  # class 0's images: a (train only)
        ("img/c.png", "green one", "Green Bird", ["Gold Bird"], ["gold one"]),
        ("img/d.png", "gold one", "Gold Bird", ["Blue Bird"], ["blue one"])]
    assert [s.negative_labels == [t.label] for s, t in zip(one, [one[2], one[0], one[3], one[1]])] == [True] * 4
    assert len({s.label for s in one}) == 4
    ask = "Which of these birds is shown in the image?\nChoices:\n{}\nAnswer with the letter from the given choices directly."
    two = stage2_samples([files])
    assert [(s.path, s.prompt, s.answer) for s in two] == [
        ("img/a.png", "What is the name of the bird in the image?", "Red Bird"),
        ("img/a.png", ask.format("A. Blue Bird\nB. Red Bird\nC. Green Bird\nD. Gold Bird"), "B"),
        ("img/b.png", "What is the name of the bird in the image?", "Blue Bird"),
        ("img/b.png", ask.format("A. Blue Bird\nB. Gold Bird\nC. Green Bird\nD. Red Bird"), "A"),
        ("img/c.png", "What is the name of the bird in the image?", "Green Bird"),
        ("img/c.png", ask.format("A. Red Bird\nB. Blue Bird\nC. Gold Bird\nD. Green Bird"), "D"),
        ("img/d.png", "What is the name of the bird in the image?", "Gold Bird"),
        ("img/d.png", ask.format("A. Green Bird\nB. Gold Bird\nC. Red Bird\nD. Blue Bird"), "B")]


def test_stage2_accumulation_is_one_big_batch(demo_checkpoints, samples, tmp_path):
    """Stage 2's LM loss is normalised by the label tokens of the whole optimizer batch, so
    micro-batches of 2 accumulated three times give the gradient of one micro-batch of 6; its
    loss falls over the epochs."""
    grads = {}
    for micro in (6, 2):
        kept = []
        adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
        train_stage(adapter, samples[1], 2, settings(micro_batch_size=micro, epochs=3), {**LORA, "dropout": 0.0},
                    tmp_path / str(micro), progress=False,
                    on_step=lambda step, params: kept.append(torch.cat([p.grad.flatten().clone() for p in params])))
        grads[micro] = kept
    assert len(grads[6]) == 9
    for one, many in zip(grads[6], grads[2]):
        torch.testing.assert_close(many, one, rtol=1e-4, atol=1e-7)
    log = pd.read_csv(tmp_path / "2" / "log.csv")
    assert log["loss"].tail(3).mean() < 0.8 * log["loss"].head(3).mean()


def test_dataloader_workers_prepare_the_same_batches(demo_checkpoints, samples, tmp_path):
    """Images read and preprocessed in two DataLoader worker processes train to the same weights
    as in the training process."""
    weights = {}
    for workers in (0, 2):
        _, model = trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path / str(workers),
                           settings={"epochs": 1, "num_workers": workers})
        weights[workers] = lora_weights(model)
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[2][name], value, rtol=0, atol=0)


def test_gradient_checkpointing_is_on_from_a_billion_parameters():
    from types import SimpleNamespace

    from fgvr.train.loop import _checkpointing

    big = SimpleNamespace(model=torch.nn.Linear(40_000, 25_000, bias=False, device="meta"))  # 1.0e9, no memory
    small = SimpleNamespace(model=torch.nn.Linear(10, 10))
    assert _checkpointing(Settings(), big) and not _checkpointing(Settings(), small)
    assert _checkpointing(Settings(gradient_checkpointing=True), small)
    assert not _checkpointing(Settings(gradient_checkpointing=False), big)


def test_a_batch_no_micro_batch_reaches_is_named_in_the_config():
    import yaml
    from conftest import ROOT

    from fgvr.config import ConfigError, check_config

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["models"]["demo-finetuned"]["finetune"].update(gpus=3)
    with pytest.raises(ConfigError, match=r"models.demo-finetuned.finetune.stage1.batch_size: 32 is not reached by "
                                          r"micro_batch_size 32 x gpus 3"):
        check_config(cfg, ROOT / "config" / "schema.yaml")
