"""Held-out checkpoints (tests/heldout.py: built without the project's builders) of the families the
generic adapter added, through the workflow by `path:` as a user brings them: extraction and
evaluation in one Snakemake run on a tiny set (4 classes, the fewest a 4-way choice needs, x 3
images), letters then names scoring (the second run redoes only the evaluations), greedy answers
in-process; and Finedefics' recipe (both stages) applied to two of them, Gemma 3 and
LLaVA-OneVision, in the same run: their merged twins are extracted and evaluated like any model."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import ROOT
from heldout import HELDOUT, build_heldout

TINY = {"classes": 4, "images_per_class": 3, "image_size": 32, "test_fraction": 0.5, "seed": 0}
TWINS = {"gemma3-tuned": "gemma3", "llava_onevision-tuned": "llava_onevision"}
STAGE = {"batch_size": 4, "micro_batch_size": 2, "lr": 0.005, "warmup_steps": 1, "epochs": 2}


@pytest.fixture(scope="module")
def heldout_run(tmp_path_factory, dataset_texts):
    root = tmp_path_factory.mktemp("heldout")
    paths = {f: str(build_heldout(f, root / "models" / f, dataset_texts)) for f in HELDOUT}
    twins = {name: {"kind": "mllm", "finetune": {"from": base, "datasets": ["synthetic"], "options": "vlm",
                                                 "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "stage1": STAGE,
                                                 "stage2": STAGE, "checkpoint_every": 2}}
             for name, base in TWINS.items()}
    config = {"datasets": {"synthetic": dict(TINY)},
              "models": {**{f: {"kind": "mllm", "path": p} for f, p in paths.items()}, **twins,
                         "vlm": {"kind": "vlm", "build": "demo"}},
              "analysis": {"mllm": [*HELDOUT, *TWINS], "vlm": ["vlm"]},
              "negatives": {"vlm": "vlm", "k": 2},
              "options": {"sources": ["vlm"], "splits": ["train", "test"]},
              "evaluation": {"models": [*HELDOUT, *TWINS], "protocols": ["mc4-vlm"], "scoring": "letters"}}
    work = root / "work"
    work.mkdir()
    targets = [f"results/{what}/synthetic/{f}/{name}" for f in [*HELDOUT, *TWINS]
               for what, name in (("embeddings", "test.h5"), ("eval", "mc4-vlm.json"))]

    def snakemake(scoring):
        config["evaluation"]["scoring"] = scoring
        (work / "c.yaml").write_text(yaml.safe_dump(config))
        result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
                                 "--configfile", str(work / "c.yaml"), "--cores", "2", *targets],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]
        evals = {f: [json.loads(line) for line in (work / f"results/eval/synthetic/{f}/mc4-vlm.jsonl").open()]
                 for f in [*HELDOUT, *TWINS]}
        return result.stderr, evals

    _, letters = snakemake("letters")
    names_log, names = snakemake("names")
    return work, paths, letters, names, names_log


def test_heldout_checkpoints_extract_one_finite_row_per_image(heldout_run):
    import pandas as pd

    work, paths, *_ = heldout_run
    test = pd.read_csv(work / "results/data/synthetic/manifest.csv").query("split == 'test'")
    assert 4 <= len(test) < 12
    for family in HELDOUT:
        hidden = json.loads(Path(paths[family], "config.json").read_text())["text_config"]["hidden_size"]
        with h5py.File(work / f"results/embeddings/synthetic/{family}/test.h5") as store:
            assert store.attrs["model_path"] == paths[family]
            objects = store["objects"]
            assert sorted(objects) == ["connector.mean", "llm.last", "llm.mean", "vision.mean"]
            for key in objects:
                rows = objects[key][()]
                assert rows.shape[0] == len(test) and np.isfinite(rows).all(), (family, key)
                assert len(np.unique(rows.round(5), axis=0)) == len(test), (family, key)  # one row per image
            assert objects["llm.last"].shape[1] == hidden == 48, family


def test_heldout_checkpoints_evaluate_with_letters_and_names(heldout_run):
    """Both scorings give one row per test image with four finite scores and the argmax as the
    prediction; they are different readings of the model (letters: the next token after the
    lettered list; names: each class name's likelihood as the answer to the open question). The
    names run redid the evaluations only: extraction and options were cached."""
    import pandas as pd

    work, _, letters, names, names_log = heldout_run
    n = len(pd.read_csv(work / "results/data/synthetic/manifest.csv").query("split == 'test'"))
    for family in HELDOUT:
        for rows in (letters[family], names[family]):
            assert len(rows) == n
            for row in rows:
                assert len(row["scores"]) == 4 and np.isfinite(row["scores"]).all()
                assert row["prediction"] == row["options"][int(np.argmax(row["scores"]))]
        assert [r["scores"] for r in letters[family]] != [r["scores"] for r in names[family]], family
        info = json.loads((work / f"results/eval/synthetic/{family}/mc4-vlm.json").read_text())
        assert info["scoring"] == "names" and info["n"] == n and 0 <= info["accuracy"] <= 1
    assert "rule evaluate:" in names_log and "rule extract_objects:" not in names_log


@pytest.mark.parametrize("family", HELDOUT)
def test_heldout_checkpoints_generate(heldout_run, family):
    """Greedy answers through the checkpoint's own processor and template (PaliGemma: its task
    prefix), independent of the batch they are in."""
    from PIL import Image

    from fgvr.models import load_adapter

    _, paths, *_ = heldout_run
    adapter = load_adapter(paths[family], "mllm")
    rng = np.random.default_rng(1)
    ims = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in ((30, 40), (40, 30))]
    prompts = ["What is the name of the bird in the image?", "Which bird is this?"]
    together = adapter.generate(prompts, ims, max_new_tokens=3)
    alone = [adapter.generate([p], [im], max_new_tokens=3)[0] for p, im in zip(prompts, ims)]
    assert together == alone and all(isinstance(a, str) for a in together)


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_the_recipe_fine_tunes_heldout_checkpoints(heldout_run, twin):
    """Both stages ran on the held-out base (finite losses logged; that they fall is
    test_train.py::test_every_family_learns_in_stage1), the merged
    twin is a checkpoint of the base's architecture that loads with from_pretrained, differs
    from its base in the adapted modules only, and was extracted and evaluated like any model."""
    import pandas as pd
    import torch
    from safetensors.torch import load_file

    work, paths, letters, names, _ = heldout_run
    base = TWINS[twin]
    merged = work / "resources/models" / twin
    config = json.loads((merged / "config.json").read_text())
    assert config["architectures"] == json.loads(Path(paths[base], "config.json").read_text())["architectures"]
    log1 = pd.read_csv(work / f"results/train/{twin}/stage1/log.csv")
    log2 = pd.read_csv(work / f"results/train/{twin}/stage2/log.csv")
    assert len(log1) >= 2 and len(log2) >= 2 and np.isfinite(log1["loss"]).all() and np.isfinite(log2["loss"]).all()
    before, after = load_file(f"{paths[base]}/model.safetensors"), load_file(merged / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("vision_tower" not in k for k in changed)
    assert any("language_model" in k for k in changed) and any("multi_modal_projector" in k for k in changed)
    with h5py.File(work / f"results/embeddings/synthetic/{twin}/test.h5") as store:
        assert np.isfinite(store["objects"]["llm.last"][()]).all()
    assert len(letters[twin]) == len(names[twin]) > 0
