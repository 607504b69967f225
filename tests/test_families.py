"""Every supported family: a tiny random-init checkpoint, built offline, through the adapter."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fgvr.extract import extract_split
from fgvr.datasets.manifest import read_descriptions, read_manifest
from fgvr.models import adapter_class, load_adapter
from fgvr.models.families import BY_NAME, FAMILIES
from fgvr.store import read_store

from conftest import FAMILY_KIND


@pytest.fixture(scope="module")
def family_adapters(family_checkpoints):
    return {f: load_adapter(family_checkpoints[f], k) for f, k in FAMILY_KIND}


def images(sizes):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


def test_every_architecture_has_a_builder_and_an_adapter(family_checkpoints):
    import json
    archs = {json.loads((p / "config.json").read_text())["architectures"][0] for p in family_checkpoints.values()}
    assert archs == set(BY_ARCHITECTURE)
    assert set(BY_NAME) == {f for f, _ in FAMILY_KIND}


@pytest.mark.parametrize("family, kind", FAMILY_KIND)
def test_keys_sizes_and_batch_independence(family_adapters, family, kind):
    adapter = family_adapters[family]
    assert adapter.kind == kind and adapter_class(adapter.path) is type(adapter)
    ims = images([(32, 32), (40, 28), (24, 36)])  # mixed shapes: padding / dynamic resolution
    together = adapter.encode_images(adapter.preprocess(ims))
    sizes = adapter.hidden_sizes()
    assert set(together) == set(adapter.image_keys)
    for key, value in together.items():
        assert value.shape == (3, sizes[key]) and torch.isfinite(value).all()
    alone = adapter.encode_images(adapter.preprocess(ims[1:2]))
    for key in adapter.image_keys:
        torch.testing.assert_close(together[key][1], alone[key][0], atol=2e-5, rtol=1e-4)
    texts = adapter.encode_texts(["Crested Striped Crimson Fantail", "It has an azure body."])
    assert set(texts) == set(adapter.text_keys)
    for key, value in texts.items():
        assert value.shape == (2, sizes[key]) and not torch.allclose(value[0], value[1])


CONNECTOR_CHECKS = ["idefics2", "idefics3", "smolvlm", "llava", "qwen2_vl", "qwen2_5_vl"]


@pytest.mark.parametrize("family", CONNECTOR_CHECKS)
def test_visual_tokens_are_the_models_own(family_adapters, family):
    """connector.mean is the mean of what the model's own get_image_features hands its LLM."""
    adapter = family_adapters[family]
    ims = images([(32, 32), (32, 32)])
    batch = adapter.preprocess(ims)
    core = adapter.model.model
    with torch.no_grad():
        if family.startswith("qwen"):
            own = core.get_image_features(pixel_values=batch["pixel_values"], image_grid_thw=batch["image_grid_thw"])
        elif family == "llava":
            own = core.get_image_features(pixel_values=batch["pixel_values"], vision_feature_layer=-2,
                                          vision_feature_select_strategy="default")
        else:
            own = core.get_image_features(pixel_values=batch["pixel_values"][:, None],
                                          pixel_attention_mask=batch["pixel_attention_mask"][:, None])
    expected = torch.stack([t.reshape(-1, t.shape[-1]).mean(0) for t in own.pooler_output])
    torch.testing.assert_close(adapter.encode_images(batch)["connector.mean"], expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["siglip", "siglip2", "clip"])
def test_vlm_embeddings_are_the_models_own(family_adapters, family):
    adapter = family_adapters[family]
    batch = adapter.preprocess(images([(32, 32), (30, 34)]))
    with torch.no_grad():
        kwargs = {k: v for k, v in batch.items()}
        own = adapter.model.get_image_features(**kwargs)
    own = own.pooler_output if hasattr(own, "pooler_output") else own
    torch.testing.assert_close(adapter.encode_images(batch)["embed"], own, atol=1e-5, rtol=1e-4)


def test_qwen_uses_multimodal_rope(family_adapters):
    """Run without M-RoPE (1-D positions), the EOS state differs: positions really are 3-D."""
    adapter = family_adapters["qwen2_vl"]
    batch = adapter.preprocess(images([(32, 48)]))
    ours = adapter.encode_images(batch)["llm.last"]
    ids, mask = adapter.token_ids(batch["image_grid_thw"])
    with torch.no_grad():
        flat = adapter.model.model(input_ids=ids, attention_mask=mask, pixel_values=batch["pixel_values"],
                                   image_grid_thw=batch["image_grid_thw"],
                                   position_ids=torch.arange(ids.shape[1])[None]).last_hidden_state[:, -1]
    assert not torch.allclose(ours, flat, atol=1e-4)


@pytest.mark.parametrize("family, kind", FAMILY_KIND)
def test_extraction_into_hdf5(family_adapters, small_dataset, tmp_path, family, kind):
    adapter = family_adapters[family]
    manifest = read_manifest(small_dataset / "manifest.csv", "test")
    store = read_store(extract_split(adapter, manifest, tmp_path / "test.h5", family,
                                     read_descriptions(small_dataset / "ground_truth.csv"), batch_size=8,
                                     progress=False))
    assert store.keys("objects") == sorted(adapter.image_keys)
    for key, size in adapter.hidden_sizes().items():
        assert store.groups["objects"][key].shape == (len(manifest), size)
    assert store.attrs["architecture"] == type(adapter.model).__name__


WORKFLOW_FAMILIES = [("llava", "mllm"), ("clip", "vlm")]  # every family runs in-process above; two through the rule


def test_families_through_the_extraction_rule(family_checkpoints, tmp_path):
    """`models: {x: {kind, path}}` for a checkpoint folder of another family than the demo's,
    one of each kind, run by snakemake."""
    import subprocess
    import sys

    import yaml
    from conftest import ROOT

    config = {"datasets": {"synthetic": {"classes": 3, "images_per_class": 4, "image_size": 32}},
              "models": {f: {"kind": k, "path": str(family_checkpoints[f])} for f, k in WORKFLOW_FAMILIES},
              "analysis": {k: [f for f, kk in WORKFLOW_FAMILIES if kk == k] for k in ("mllm", "vlm")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/embeddings/synthetic/{f}/test.h5" for f, _ in WORKFLOW_FAMILIES]
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                             "--configfile", str(tmp_path / "c.yaml"), "--cores", "2", *targets],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for family, kind in WORKFLOW_FAMILIES:
        cls = adapter_class(family_checkpoints[family])
        store = read_store(tmp_path / f"results/embeddings/synthetic/{family}/test.h5")
        assert store.keys("objects") == sorted(cls.image_keys) and len(store.labels) == 3
        assert store.attrs["model_path"] == str(family_checkpoints[family])
        if kind == "mllm":
            assert store.groups["objects"]["llm.last"].shape[1] == 64  # the tiny LLM's hidden size


def test_one_registry_of_families():
    """The schema's `family` list, the builders and the adapters all come from families.FAMILIES,
    which must hold exactly the families this suite builds (an independent list, FAMILY_KIND)."""
    import yaml

    from conftest import ROOT
    from fgvr.models import demo

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    assert schema["$defs"]["model"]["properties"]["family"]["enum"] == [f.name for f in FAMILIES]
    assert sorted(FAMILY_KIND) == sorted((f.name, f.kind) for f in FAMILIES)
    for family in FAMILIES:
        assert family.adapter_class().kind == family.kind
        assert callable(getattr(demo, family.builder))


@pytest.mark.parametrize("family", [f for f, k in FAMILY_KIND if k == "mllm"])
def test_text_mean_leaves_out_bos_and_padding(family_adapters, family):
    """Every MLLM family pools a text over its content tokens and EOS, whether or not its
    tokenizer adds a BOS (Qwen's does not), padded in a batch or not."""
    adapter = family_adapters[family]
    tok = adapter.tokenizer
    ids = tok("Fantail")["input_ids"]
    content = 1 if tok.bos_token_id is not None and ids[0] == tok.bos_token_id else 0
    with torch.no_grad():
        hidden = adapter.language_model(input_ids=torch.tensor([ids + [tok.eos_token_id]])).last_hidden_state[0]
    out = adapter.encode_texts(["It has an azure body and striped wings.", "Fantail"])
    torch.testing.assert_close(out["llm.mean"][1], hidden[content:].mean(0), atol=2e-5, rtol=1e-4)


LLM_ONLY = ["idefics2", "idefics3", "smolvlm", "llava", "llava_next"]  # the paper's path: visual tokens + EOS, LLM alone


@pytest.mark.parametrize("family", LLM_ONLY)
def test_all_four_representations_are_the_models_own(family_adapters, family):
    """For two unpadded images, the four image-side representations against the model's own
    calls: its vision encoder (vision.mean), its get_image_features (connector.mean; LLaVA-NeXT:
    the first of its views, the global one, whose tokens come first), and its decoder
    (get_decoder()) run on those tokens followed by the EOS embedding (llm.last at the last
    position, llm.mean over all of them)."""
    adapter = family_adapters[family]
    ims = images([(32, 32), (32, 32)])
    core = adapter.model.model
    processed = adapter.image_processor(ims, return_tensors="pt")
    with torch.no_grad():
        if family.startswith("llava"):
            pixels = processed["pixel_values"]
            extra = {"image_sizes": processed["image_sizes"]} if family == "llava_next" else {}
            own = core.get_image_features(pixel_values=pixels, vision_feature_layer=-2,
                                          vision_feature_select_strategy="default", **extra).pooler_output
            first = pixels[:, 0] if family == "llava_next" else pixels
            vision = core.vision_tower(first, output_hidden_states=True).hidden_states[-2][:, 1:]
        else:
            pixels = adapter.preprocess(ims)["pixel_values"]
            own = core.get_image_features(pixel_values=pixels[:, None]).pooler_output
            vision = core.vision_model(pixel_values=pixels).last_hidden_state
        n = adapter.encode_images(adapter.preprocess(ims))["connector.mean"].shape[0]
        per_image = adapter.visual(adapter.preprocess(ims)).tokens.shape[1]
        tokens = torch.stack([t.reshape(-1, t.shape[-1])[:per_image] for t in own])
        eos = adapter.model.get_input_embeddings()(torch.tensor([adapter.tokenizer.eos_token_id]))
        sequence = torch.cat([tokens, eos[None].expand(len(tokens), 1, -1)], 1)
        hidden = adapter.model.get_decoder()(inputs_embeds=sequence).last_hidden_state
    ours = adapter.encode_images(adapter.preprocess(ims))
    assert n == 2
    expected = {"vision.mean": vision.mean(1), "connector.mean": tokens.mean(1), "llm.last": hidden[:, -1],
                "llm.mean": hidden.mean(1)}
    for key, value in expected.items():
        torch.testing.assert_close(ours[key], value, atol=2e-5, rtol=1e-4, msg=f"{family} {key}")
    assert not torch.allclose(ours["llm.last"], hidden[:, -2], atol=1e-4)  # one position early is not it


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_object_path_is_the_models_own_forward(family_adapters, family):
    """Qwen's object path against the model run as its own processor prepares an image:
    "<|vision_start|><|image_pad|><|vision_end|>" + EOS expanded by the processor (one pad per
    merged token, mm_token_type_ids marking them), positions left to the model (M-RoPE): llm.last
    at EOS, llm.mean over the sequence; connector.mean from get_image_features. Two images of
    different sizes in one batch (padding) against each alone."""
    adapter = family_adapters[family]
    ims = images([(32, 48), (48, 32)])
    ours = adapter.encode_images(adapter.preprocess(ims))
    tok = adapter.processor.tokenizer
    for i, im in enumerate(ims):
        inputs = adapter.processor(text=["<|vision_start|><|image_pad|><|vision_end|>" + tok.eos_token], images=[im],
                                   return_tensors="pt")
        with torch.no_grad():
            hidden = adapter.model.model(**inputs).last_hidden_state[0]
            own = adapter.model.model.get_image_features(pixel_values=inputs["pixel_values"],
                                                         image_grid_thw=inputs["image_grid_thw"]).pooler_output
        torch.testing.assert_close(ours["llm.last"][i], hidden[-1], atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(ours["llm.mean"][i], hidden.mean(0), atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(ours["connector.mean"][i], torch.cat(list(own)).mean(0), atol=2e-5, rtol=1e-4)
        assert not torch.allclose(ours["llm.last"][i], hidden[-2], atol=1e-4)


def test_every_family_gives_the_frozen_outputs(family_checkpoints, small_dataset):
    """Representations, letter and names scores of every family equal those frozen before the
    models/ refactor (tests/frozen.py); FGVR_FREEZE=1 writes them instead."""
    import os

    from frozen import FROZEN, outputs

    now = outputs(family_checkpoints, small_dataset)
    if os.environ.get("FGVR_FREEZE") == "1":
        np.savez_compressed(FROZEN, **now)
    frozen = dict(np.load(FROZEN))
    # 3 VLMs x (2 image + 1 text representations), 7 MLLMs x (4 + 2, letter and names scores)
    assert sorted(now) == sorted(frozen) and len(frozen) == 3 * 3 + 7 * 8
    for key, value in frozen.items():
        np.testing.assert_allclose(now[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
