"""Every supported family: a tiny random-init checkpoint, built offline, through the adapter."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fgvr.extract import extract_split
from fgvr.datasets.manifest import read_descriptions, read_manifest
from fgvr.models import adapter_class, family_of, load_adapter
from fgvr.models.loading import family_adapter
from fgvr.models.families import BY_NAME, FAMILIES
from fgvr.store import read_store

from conftest import FAMILY_KIND, FROZEN_FAMILIES


@pytest.fixture(scope="module")
def family_adapters(family_checkpoints):
    return {f: load_adapter(family_checkpoints[f], k) for f, k in FAMILY_KIND}


def images(sizes):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


def test_every_checkpoint_is_routed_to_its_own_row(family_checkpoints):
    """Each built checkpoint, read back from its config.json alone (model type and vision tower),
    gets the row that built it: Pixtral's LLaVA and CLIP's LLaVA share an architecture."""
    import json

    assert set(BY_NAME) == {f for f, _ in FAMILY_KIND}
    for family, path in family_checkpoints.items():
        assert family_of(path).name == family, (family, json.loads((path / "config.json").read_text())["model_type"])


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
        assert not torch.allclose(value[0], value[1], atol=1e-5), (family, key)  # no degenerate (zero) path
    alone = adapter.encode_images(adapter.preprocess(ims[1:2]))
    for key in adapter.image_keys:
        torch.testing.assert_close(together[key][1], alone[key][0], atol=2e-5, rtol=1e-4)
    texts = adapter.encode_texts(["Crested Striped Crimson Fantail", "It has an azure body."])
    assert set(texts) == set(adapter.text_keys)
    for key, value in texts.items():
        assert value.shape == (2, sizes[key]) and not torch.allclose(value[0], value[1])


# How each family's own code is called on an image, one view per image (the official no-tiling
# settings: Idefics' do_image_splitting=False, InternVL's crop_to_patches=False); written here,
# not read from the family table.
OWN_IMAGE_CALL = {"idefics2": {"do_image_splitting": False}, "idefics3": {"do_image_splitting": False},
                  "smolvlm": {"do_image_splitting": False}, "internvl": {"crop_to_patches": False}}
NESTED = ("idefics2", "idefics3", "smolvlm", "gemma3")  # processors that take one list of images per prompt
ANYRES = ("llava_next", "llava_onevision")  # get_image_features returns the global view's tokens first


def own_visual_tokens(adapter, family, ims):
    """Each image's visual tokens from the model's own get_image_features, on the image
    processor's own output for these images (no project code between)."""
    import inspect

    given = [[im] for im in ims] if family in NESTED else ims
    processed = adapter.image_processor(given, return_tensors="pt", **OWN_IMAGE_CALL.get(family, {}))
    core = adapter.model.model
    accepted = inspect.signature(core.get_image_features).parameters
    with torch.no_grad():
        own = core.get_image_features(**{k: v for k, v in processed.items() if k in accepted}).pooler_output
    rows = [t.reshape(-1, t.shape[-1]) for t in own]
    if family in ANYRES:  # the global view: the first (image_size / patch)^2 tokens
        vc = adapter.model.config.vision_config
        rows = [r[:(vc.image_size // vc.patch_size) ** 2] for r in rows]
    return rows


@pytest.mark.parametrize("family", [f for f, k in FAMILY_KIND if k == "mllm"])
def test_visual_tokens_are_the_models_own(family_adapters, family):
    """connector.mean is the mean of what the model's own get_image_features hands its LLM, one
    row per image (mixed sizes: packed and padded families split them back)."""
    adapter = family_adapters[family]
    ims = images([(32, 32), (40, 28)])
    expected = torch.stack([t.mean(0) for t in own_visual_tokens(adapter, family, ims)])
    torch.testing.assert_close(adapter.encode_images(adapter.preprocess(ims))["connector.mean"], expected,
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["siglip", "siglip2", "clip"])
def test_vlm_embeddings_are_the_models_own(family_adapters, family):
    adapter = family_adapters[family]
    batch = adapter.preprocess(images([(32, 32), (30, 34)]))
    with torch.no_grad():
        kwargs = {k: v for k, v in batch.items()}
        own = adapter.model.get_image_features(**kwargs)
    own = own.pooler_output if hasattr(own, "pooler_output") else own
    torch.testing.assert_close(adapter.encode_images(batch)["embed"], own, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_qwen_uses_multimodal_rope(family_adapters, family):
    """Run without M-RoPE (1-D positions), the EOS state differs: positions really are 3-D."""
    adapter = family_adapters[family]
    batch = adapter.preprocess(images([(32, 48)]))
    ours = adapter.encode_images(batch)["llm.last"]
    with torch.no_grad():
        flat = adapter.model.model(**batch, position_ids=torch.arange(batch["input_ids"].shape[1])[None]
                                   ).last_hidden_state[:, -1]
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
        assert family_adapter(family).kind == family.kind
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


# the paper's path: visual tokens + EOS through the LLM alone
LLM_ONLY = ["idefics2", "idefics3", "smolvlm", "llava", "llava_next", "llava_onevision", "internvl"]


def own_vision_features(adapter, family, ims):
    """(B, P, Dv) what each family's connector consumes, from its vision tower's own outputs."""
    cfg, core = adapter.model.config, adapter.model.model
    given = [[im] for im in ims] if family in NESTED else ims
    pixels = adapter.image_processor(given, return_tensors="pt", **OWN_IMAGE_CALL.get(family, {}))["pixel_values"]
    if family in NESTED or family in ANYRES:
        pixels = pixels[:, 0]  # one image per prompt / the global view
    if family.startswith("idefics") or family == "smolvlm":
        return core.vision_model(pixel_values=pixels).last_hidden_state
    hidden = core.vision_tower(pixels, output_hidden_states=True).hidden_states[cfg.vision_feature_layer]
    return hidden[:, 1:] if cfg.vision_feature_select_strategy == "default" else hidden


@pytest.mark.parametrize("family", LLM_ONLY)
def test_all_four_representations_are_the_models_own(family_adapters, family):
    """For two unpadded images, the four image-side representations against the model's own
    calls: its vision tower (vision.mean: the layer and CLS choice its config names), its
    get_image_features (connector.mean; anyres: the global view), and its decoder
    (get_decoder()) run on those tokens followed by the EOS embedding (llm.last at the last
    position, llm.mean over all of them)."""
    adapter = family_adapters[family]
    ims = images([(32, 32), (32, 32)])
    with torch.no_grad():
        vision = own_vision_features(adapter, family, ims)
        tokens = torch.stack(own_visual_tokens(adapter, family, ims))
        eos = adapter.model.get_input_embeddings()(torch.tensor([adapter.tokenizer.eos_token_id]))
        sequence = torch.cat([tokens, eos[None].expand(len(tokens), 1, -1)], 1)
        hidden = adapter.model.get_decoder()(inputs_embeds=sequence).last_hidden_state
    ours = adapter.encode_images(adapter.preprocess(ims))
    expected = {"vision.mean": vision.mean(1), "connector.mean": tokens.mean(1), "llm.last": hidden[:, -1],
                "llm.mean": hidden.mean(1)}
    for key, value in expected.items():
        torch.testing.assert_close(ours[key], value, atol=2e-5, rtol=1e-4, msg=f"{family} {key}")
    assert not torch.allclose(ours["llm.last"], hidden[:, -2], atol=1e-4)  # one position early is not it


# The model's own image text, which its processor expands (one pad per visual token, row breaks,
# start / end of image); written here from the model cards, not read from the family table.
IMAGE_TEXT = {"qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
              "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
              "qwen3_vl": "<|vision_start|><|image_pad|><|vision_end|>", "gemma3": "<start_of_image>",
              "paligemma": "<image>", "mistral3": "[IMG]", "pixtral": "[IMG]"}


@pytest.mark.parametrize("family", sorted(IMAGE_TEXT))
def test_model_path_is_the_models_own_forward(family_adapters, family):
    """Families whose positions or attention depend on the image (M-RoPE, bidirectional image
    attention, row breaks) against the model run as its own processor prepares one image: its
    image text + EOS, positions and masks left to the model. llm.last at EOS, llm.mean over the
    sequence up to EOS without BOS (PaliGemma's processor puts BOS after the image and "\n" after
    the text). Two images of different sizes in one batch (padding, packing) against each alone."""
    adapter = family_adapters[family]
    ims = images([(32, 48), (48, 32)])
    ours = adapter.encode_images(adapter.preprocess(ims))
    tok = adapter.processor.tokenizer
    for i, im in enumerate(ims):
        inputs = adapter.processor(text=[IMAGE_TEXT[family] + tok.eos_token],
                                   images=[[im]] if family in NESTED else [im], return_tensors="pt")
        inputs.pop("labels", None)
        ids = inputs["input_ids"][0].tolist()
        end = len(ids) - 1 - ids[::-1].index(tok.eos_token_id)
        keep = [j for j in range(end + 1) if ids[j] != tok.bos_token_id]
        with torch.no_grad():
            hidden = adapter.model.model(**inputs).last_hidden_state[0]
        torch.testing.assert_close(ours["llm.last"][i], hidden[end], atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(ours["llm.mean"][i], hidden[keep].mean(0), atol=2e-5, rtol=1e-4)
        assert not torch.allclose(ours["llm.last"][i], hidden[end - 1], atol=1e-4)
        assert (tok.bos_token_id in ids) == (len(keep) < end + 1)


@pytest.mark.parametrize("family", ["gemma3", "paligemma"])
def test_vision_mean_of_unpacked_model_path_families(family_adapters, family):
    adapter = family_adapters[family]
    ims = images([(32, 32), (40, 28)])
    given = [[im] for im in ims] if family in NESTED else ims
    pixels = adapter.image_processor(given, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        vision = adapter.model.model.vision_tower(pixel_values=pixels).last_hidden_state.mean(1)
    torch.testing.assert_close(adapter.encode_images(adapter.preprocess(ims))["vision.mean"], vision,
                               atol=2e-5, rtol=1e-4)


def test_every_family_gives_the_frozen_outputs(family_checkpoints, small_dataset):
    """Representations, letter and names scores of every family equal those frozen before the
    models/ refactor (tests/frozen.py); FGVR_FREEZE=1 writes them instead."""
    import os

    from frozen import FROZEN, outputs

    now = outputs({f: family_checkpoints[f] for f in FROZEN_FAMILIES}, small_dataset)
    if os.environ.get("FGVR_FREEZE") == "1":
        np.savez_compressed(FROZEN, **now)
    frozen = dict(np.load(FROZEN))
    # 3 VLMs x (2 image + 1 text representations), 7 MLLMs x (4 + 2, letter and names scores)
    assert sorted(now) == sorted(frozen) and len(frozen) == 3 * 3 + 7 * 8
    for key, value in frozen.items():
        np.testing.assert_allclose(now[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("family", [f for f, k in FAMILY_KIND if k == "mllm"])
def test_shared_visual_tokens_give_the_plain_answers(family_adapters, family):
    """Rows about one image share its visual tokens (describe's VQA) where the family's LLM sees
    exactly them; greedy answers and answer scores equal the plain path's for every family (those
    whose tokens cannot be shared take the plain path)."""
    adapter = family_adapters[family]
    ims = images([(32, 32), (40, 28)])
    prompts, pics = ["What is it?", "Which bird is it?", "Name it."], [ims[0], ims[0], ims[1]]
    image_of = [id(p) for p in pics]
    batch = adapter.chat_batch(prompts, pics)
    assert adapter.generate_batch(batch, 3, image_of) == adapter.generate_batch(batch, 3)
    answers = adapter.answer_encode(prompts, pics, ["Azure Tit", "Fantail", "Azure Tit"])
    torch.testing.assert_close(adapter.answer_scores(answers, image_of), adapter.answer_scores(answers),
                               atol=1e-4, rtol=1e-4)
    shares = family in ("idefics2", "idefics3", "smolvlm", "llava", "internvl")
    assert (adapter.chat_image_tokens(batch, [0, 2]) is not None) == shares, family
