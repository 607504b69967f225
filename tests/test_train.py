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

LORA = {"r": 8, "alpha": 16, "dropout": 0.1}


@pytest.fixture(scope="module")
def samples(small_dataset):
    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    classes = read_classes(small_dataset / "classes.csv")
    text = read_descriptions(small_dataset / "ground_truth.csv")
    names = dict(zip(classes["label"], classes["class_name"]))
    n = len(names)
    first = [Stage1Sample(p, int(lab), text[i], names[lab], "bird", [names[(lab + 1) % n]], [text[i]])
             for i, p, lab in zip(manifest["image_id"], manifest["path"], manifest["label"])]
    second = [Stage2Sample(p, "What is the name of the bird in the image?", names[lab])
              for p, lab in zip(manifest["path"], manifest["label"])]
    return first[::3], second[::3]  # 18 images of 6 classes: enough to learn from, quick


def settings(**kw):
    return Settings(**{"batch_size": 6, "micro_batch_size": 6, "lr": 5e-3, "warmup_steps": 1, "epochs": 2,
                       "checkpoint_every": 1, **kw})


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
    assert list(log.columns) == ["step", "loss", "lr", "loss_gen", "loss_oa", "loss_ac", "loss_cc", "temperature"]
    assert len(log) == 4 * 3 and np.isfinite(log.drop(columns="step").to_numpy()).all()
    first, last = log.head(3).mean(), log.tail(3).mean()
    assert last["loss"] < 0.95 * first["loss"]  # the loss goes down: the alignment terms fastest
    assert last["loss_ac"] + last["loss_cc"] < 0.7 * (first["loss_ac"] + first["loss_cc"])
    assert last["loss_gen"] < first["loss_gen"]
    assert log["temperature"].between(0.001, 0.5).all()
    assert (tmp_path / "loss.png").stat().st_size > 10_000


def test_a_killed_stage_resumes_to_the_same_weights(demo_checkpoints, samples, tmp_path):
    _, whole = trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path / "cut", stop_after=3)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 3
    _, resumed = trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path / "cut")
    a, b = lora_weights(whole), lora_weights(resumed)
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole/log.csv"), pd.read_csv(tmp_path / "cut/log.csv"))
    # other settings: the checkpoint is not resumed (the log restarts from step 1)
    trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path / "cut", settings={"lr": 1e-3, "epochs": 1})
    assert pd.read_csv(tmp_path / "cut/log.csv")["step"].tolist() == [1, 2, 3]  # one epoch of 3 steps


def test_merged_checkpoint_loads_like_any_other_and_changed(demo_checkpoints, samples, tmp_path):
    adapter, peft_model = trained(demo_checkpoints["mllm"], samples[1], 2, tmp_path, settings={"epochs": 1})
    out = save_merged(peft_model, adapter, tmp_path / "merged")
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
    truth.iloc[1:].to_csv(root / "descriptions.csv", index=False)  # the first image lacks one
    files = DatasetFiles("synthetic", "bird", str(root / "manifest.csv"), str(root / "classes.csv"),
                         str(root / "descriptions.csv"), str(root / "negatives.csv"), str(root / "options.jsonl"))
    train_ids = manifest.loc[manifest["split"] == "train", "image_id"].tolist()
    if truth["image_id"].iloc[0] in train_ids:
        with pytest.raises(FgvrError, match=f"no description for training image {truth['image_id'].iloc[0]!r}"):
            stage1_samples([files])
    truth.to_csv(root / "descriptions.csv", index=False)
    (root / "negatives.csv").write_text("label,rank,negative_label,similarity\n0,1,99,0.9\n")
    with pytest.raises(FgvrError, match="class 99 is not a class of synthetic"):
        stage1_samples([files])
    rows = [{"image_id": i, "label": 0, "options": [0, 1, 2, 77], "answer": 0} for i in train_ids]
    (root / "options.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(FgvrError, match="77"):
        stage2_samples([files])


def test_unsupported_family_and_cpu_quantisation_are_refused(family_checkpoints, demo_checkpoints, tmp_path):
    from fgvr.train.run import load

    spec = {"model": str(family_checkpoints["llava"]), "entry": "models.x.finetune", "device": "cpu"}
    with pytest.raises(FgvrError, match="models.x.finetune.from: .* LlavaAdapter model; fine-tuning supports Idefics2"):
        load(spec)
    spec = {"model": str(demo_checkpoints["mllm"]), "entry": "models.x.finetune", "device": "cpu", "quantize": "nf4"}
    with pytest.raises(FgvrError, match="models.x.finetune.quantize: nf4 .* needs a CUDA GPU"):
        load(spec)
