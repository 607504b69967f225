"""What a release stores against what the paper's protocol sets: the Idefics2-8B and Idefics3
releases store ``do_image_splitting: true`` (five views a prompt); the protocol evaluates and
trains on one view, as the official code does by loading the processor with
``do_image_splitting=False``. A checkpoint storing ``true`` must give exactly the rows of the same
weights storing ``false``."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fgvr.models import load_adapter
from fgvr.train.loop import Settings, train_stage
from test_evaluate import data, lines, run  # noqa: F401  (the module's options fixture)
from test_train import samples  # noqa: F401


def stored_splitting(checkpoint, out):
    """A copy of ``checkpoint`` whose image processor stores do_image_splitting: true, where the
    checkpoint keeps its image processor's settings (processor_config.json's nested entry, as
    transformers 5 saves it, or a release's preprocessor_config.json)."""
    shutil.copytree(checkpoint, out)
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = out / name
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        settings = saved.get("image_processor", saved) if name == "processor_config.json" else saved
        if "do_image_splitting" in settings:
            settings["do_image_splitting"] = True
            path.write_text(json.dumps(saved, indent=2))
            return out
    raise AssertionError(f"{checkpoint}: stores no do_image_splitting")


@pytest.mark.parametrize("family", ["idefics2", "idefics3"])
def test_stored_splitting_gives_the_rows_of_one_view(family, family_checkpoints, data, samples, tmp_path):  # noqa: F811
    plain = family_checkpoints[family]
    split = stored_splitting(plain, tmp_path / "split")
    # the processor as transformers loads it alone writes five views' image tokens
    from transformers import AutoProcessor

    assert AutoProcessor.from_pretrained(split).image_processor.do_image_splitting is True
    adapter = load_adapter(split, "mllm", weights=False)
    assert adapter.processor.image_processor.do_image_splitting is False
    assert adapter.image_processor.do_image_splitting is False
    for scoring in ("generate", "letters"):
        want, _ = run(tmp_path, plain, data, "mc4-x", scoring, name=f"plain-{scoring}")
        got, _ = run(tmp_path, split, data, "mc4-x", scoring, name=f"split-{scoring}")
        assert lines(got["jsonl"]) == lines(want["jsonl"]), scoring
    open_want, _ = run(tmp_path, plain, data, "open", "generate", name="plain-open")
    open_got, _ = run(tmp_path, split, data, "open", "generate", name="split-open")
    assert lines(open_got["jsonl"]) == lines(open_want["jsonl"])
    # both fine-tuning stages train from it: one step each, finite losses
    for stage, rows in ((1, samples[0][:4]), (2, samples[1][:4])):
        adapter = load_adapter(split, "mllm")
        train_stage(adapter, rows, stage, Settings(batch_size=4, micro_batch_size=4, warmup_steps=0),
                    {"r": 4, "alpha": 4, "dropout": 0.0}, tmp_path / f"stage{stage}", progress=False)
        log = np.genfromtxt(tmp_path / f"stage{stage}" / "log.csv", delimiter=",", names=True)
        assert np.isfinite(log["loss"]).all() and log["loss"] > 0
