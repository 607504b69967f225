import json

import pytest
import torch
from PIL import Image

from fgvr.io import FgvrError
from fgvr.models import adapter_class, load_adapter
from fgvr.models.families import GENERIC, MODEL_TYPES


def images(n, size=32):
    return [Image.new("RGB", (size, size), (40 * i % 255, 90, 200)) for i in range(n)]


def test_demo_checkpoints_are_real_hf_folders(demo_checkpoints):
    from transformers import AutoConfig, AutoProcessor

    mllm, vlm = (AutoConfig.from_pretrained(demo_checkpoints[k]) for k in ("mllm", "vlm"))
    assert mllm.architectures == ["Idefics2ForConditionalGeneration"] and mllm.fgvr_demo
    assert vlm.architectures == ["SiglipModel"]
    processor = AutoProcessor.from_pretrained(demo_checkpoints["mllm"])
    assert type(processor).__name__ == "Idefics2Processor"
    # the tokenizer learnt the data set's words: a class name is a few tokens, not characters
    assert len(processor.tokenizer.tokenize("Crested Striped Crimson Fantail")) <= 8


@pytest.mark.parametrize("kind", ["mllm", "vlm"])
def test_image_representations(adapters, kind):
    adapter = adapters[kind]
    out = adapter.encode_images(adapter.preprocess(images(3)))
    assert set(out) == set(adapter.image_keys)
    for key, value in out.items():
        assert value.shape == (3, adapter.hidden_sizes()[key]) and value.dtype == torch.float32
        assert torch.isfinite(value).all()
    # different images give different objects
    assert not torch.allclose(out[adapter.image_keys[-1]][0], out[adapter.image_keys[-1]][1])


@pytest.mark.parametrize("kind", ["mllm", "vlm"])
def test_results_do_not_depend_on_the_batch(adapters, kind):
    adapter = adapters[kind]
    texts = ["Crested Striped Crimson Fantail", "It has a golden body and plain wings."]
    together, alone = adapter.encode_texts(texts), adapter.encode_texts(texts[1:])
    for key in adapter.text_keys:
        torch.testing.assert_close(together[key][1], alone[key][0], atol=1e-5, rtol=1e-4)
    ims = images(3)
    together, alone = adapter.encode_images(adapter.preprocess(ims)), adapter.encode_images(adapter.preprocess(ims[2:]))
    for key in adapter.image_keys:
        torch.testing.assert_close(together[key][2], alone[key][0], atol=1e-5, rtol=1e-4)


def test_idefics2_object_path_is_the_papers(adapters):
    """llm.last is the LLM's last layer at an EOS appended after the connector's visual tokens."""
    adapter = adapters["mllm"]
    ims = images(2)
    batch = adapter.preprocess(ims)
    core = adapter.model.model
    own = adapter.image_processor([[im] for im in ims], do_image_splitting=False, return_tensors="pt")
    with torch.no_grad():
        features = core.get_image_features(pixel_values=own["pixel_values"],
                                           pixel_attention_mask=own["pixel_attention_mask"])
        tokens = torch.stack(features.pooler_output)
        assert tokens.shape[1] == adapter.model.config.perceiver_config.resampler_n_latents
        eos = core.text_model.get_input_embeddings()(torch.tensor([[adapter.tokenizer.eos_token_id]] * 2))
        hidden = core.text_model(inputs_embeds=torch.cat([tokens, eos], 1)).last_hidden_state
    out = adapter.encode_images(batch)
    torch.testing.assert_close(out["llm.last"], hidden[:, -1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["connector.mean"], tokens.mean(1), atol=1e-5, rtol=1e-4)


def test_a_model_that_is_not_image_text_to_text_is_refused_by_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(FgvrError) as err:
        adapter_class(tmp_path)
    assert "'bert'" in str(err.value) and "BertModel" in str(err.value)
    assert all(t in str(err.value) for t in MODEL_TYPES)


def tiny_aya_vision(out, tiling: bool):
    """A tiny Aya Vision checkpoint: an image-text-to-text type the family table does not name."""
    import transformers as tf

    from fgvr.models.tokenizer import train_tokenizer

    tok = train_tokenizer(["a bird", "Azure Tit"], "<s> $A", extra_special=["<image>"])
    config = tf.AyaVisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=4),
        text_config=dict(model_type="cohere2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, sliding_window=64,
                         layer_types=["sliding_attention", "full_attention"]),
        image_token_index=tok.convert_tokens_to_ids("<image>"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tf.AyaVisionForConditionalGeneration(config).save_pretrained(out)
    tok.save_pretrained(out)
    tiles = dict(crop_to_patches=True, min_patches=2, max_patches=4) if tiling else dict(crop_to_patches=False)
    tf.GotOcr2ImageProcessorPil(size={"height": 32, "width": 32}, **tiles).save_pretrained(out)
    return out


def test_an_unknown_image_text_to_text_type_gets_the_generic_adapter(tmp_path, caplog):
    """A type transformers lists as image-text-to-text but the table does not name (Aya Vision)
    is read with the generic adapter's defaults, and the log says so: one row per image, its
    vision features the tower's (layer -1, all patches: its config's choice). If its image
    processor tiles, the job stops naming the setting instead of writing one row per tile."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    from fgvr.models import family_of

    assert "aya_vision" in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and "aya_vision" not in MODEL_TYPES
    ckpt = tiny_aya_vision(tmp_path / "aya", tiling=False)
    with caplog.at_level("WARNING", logger="fgvr.models"):
        assert family_of(ckpt) is GENERIC
        adapter = load_adapter(ckpt, "mllm")
    assert "'aya_vision' is not in the family table" in caplog.text
    ims = images(2)
    out = adapter.encode_images(adapter.preprocess(ims))
    assert all(v.shape[0] == 2 and torch.isfinite(v).all() and not torch.allclose(v[0], v[1]) for v in out.values())
    pixels = adapter.image_processor(ims, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        tower = adapter.model.model.vision_tower(pixels, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(out["vision.mean"], tower.mean(1), atol=2e-5, rtol=1e-4)
    tiled = load_adapter(tiny_aya_vision(tmp_path / "aya-tiles", tiling=True), "mllm")
    with pytest.raises(FgvrError, match=r"made \d+ views of 2 images \(tiling\).*crop_to_patches"):
        tiled.encode_images(tiled.preprocess(ims))


def test_a_qwen3_vl_moe_checkpoint_reads_as_qwen3_vl(family_checkpoints, tmp_path):
    """Qwen3-VL's MoE releases share its layout: the qwen3_vl row reads them (M-RoPE object path,
    merger as connector); their experts are fused parameters, so LoRA adapts attention only."""
    import transformers as tf

    from fgvr.models import family_of

    dense = json.loads((family_checkpoints["qwen3_vl"] / "config.json").read_text())
    text = {k: v for k, v in dense["text_config"].items() if k not in ("model_type", "architectures")}
    config = tf.Qwen3VLMoeConfig(text_config=dict(text, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2),
                                 vision_config={k: v for k, v in dense["vision_config"].items() if k != "model_type"},
                                 **{k: dense[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                                          "vision_end_token_id")})
    ckpt = tmp_path / "moe"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tf.Qwen3VLMoeForConditionalGeneration(config).save_pretrained(ckpt)
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
                 "chat_template.jinja"):
        if (family_checkpoints["qwen3_vl"] / name).exists():
            (ckpt / name).write_bytes((family_checkpoints["qwen3_vl"] / name).read_bytes())
    assert family_of(ckpt).name == "qwen3_vl"
    adapter = load_adapter(ckpt, "mllm")
    out = adapter.encode_images(adapter.preprocess(images(2)))
    assert all(v.shape[0] == 2 and torch.isfinite(v).all() for v in out.values())
    targets = adapter.lora_targets()
    assert len(targets["llm"]) == 2 * 4 and all("self_attn" in n for n in targets["llm"])
    assert targets["connector"] == ["model.visual.merger.linear_fc1", "model.visual.merger.linear_fc2"]
    assert torch.isfinite(adapter.choice_scores(["Which one? A, B, C or D"], images(1), list("ABCD"))).all()


def test_not_a_checkpoint_folder(tmp_path):
    with pytest.raises(FgvrError, match="config.json: not found"):
        adapter_class(tmp_path)


def test_kind_mismatch_is_named(demo_checkpoints):
    with pytest.raises(FgvrError, match="is a vlm .* kind: mllm"):
        load_adapter(demo_checkpoints["vlm"], kind="mllm")


@pytest.mark.parametrize("kind", ["mllm", "vlm"])
def test_demo_seed_decides_the_weights(tmp_path, dataset_texts, kind):
    """Same seed: byte-identical weight files; another seed: other weights."""
    from fgvr.models.demo import build_demo

    def weights(name, seed):
        folder = build_demo(kind, tmp_path / name, dataset_texts, image_size=32, seed=seed)
        return (folder / "model.safetensors").read_bytes()

    torch.manual_seed(123)  # the caller's RNG state must not decide the weights
    first = weights("a", 0)
    torch.manual_seed(456)
    assert weights("b", 0) == first
    assert weights("c", 1) != first


def test_text_mean_pools_content_tokens_and_eos_never_bos(adapters):
    """llm.mean of a text: its content tokens and the appended EOS (no BOS, no padding), computed
    here from one unbatched forward pass of the LLM."""
    adapter = adapters["mllm"]
    tok = adapter.tokenizer
    short, long = "Fantail", "It has an azure body and striped wings."
    ids = tok(short)["input_ids"]
    assert ids[0] == tok.bos_token_id  # the demo tokenizer adds a BOS, as Mistral's does
    with torch.no_grad():
        hidden = adapter.language_model(input_ids=torch.tensor([ids + [tok.eos_token_id]])).last_hidden_state[0]
    out = adapter.encode_texts([long, short])  # the short text is padded in this batch
    torch.testing.assert_close(out["llm.mean"][1], hidden[1:].mean(0), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["llm.last"][1], hidden[-1], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out["llm.mean"][1], hidden.mean(0), atol=1e-4)  # BOS would change it


def test_a_llava_architecture_is_routed_by_its_vision_tower(family_checkpoints, tmp_path):
    """A Pixtral-style LlavaForConditionalGeneration (vision_config.model_type pixtral) packs its
    images into one sequence: it gets the pixtral row, and a tower no row names is refused, where
    routing by the architecture alone would give one row for two images."""
    import shutil

    from fgvr.models import family_of

    ckpt = tmp_path / "llava-like"
    shutil.copytree(family_checkpoints["llava"], ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    assert config["vision_config"]["model_type"] == "clip_vision_model" and family_of(ckpt).name == "llava"
    config["vision_config"]["model_type"] = "pixtral"
    (ckpt / "config.json").write_text(json.dumps(config))
    assert family_of(ckpt).name == "pixtral" and family_of(ckpt).packed
    config["vision_config"]["model_type"] = "dinov2"
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(FgvrError, match=r"'llava' model with a 'dinov2' vision tower is not supported"):
        adapter_class(ckpt)


def test_flash_attention_only_where_the_model_supports_it(family_checkpoints, monkeypatch):
    """On a GPU in half precision with flash-attn installed, FlashAttention 2 for the models that
    support it; Gemma 3 and PaliGemma (image tokens attend both ways) keep transformers' default,
    which would otherwise refuse to load them."""
    import importlib.util

    import transformers as tf

    from fgvr.models.loading import attention_implementation, model_class

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "flash_attn" else real(name, *a))
    cuda, auto = torch.device("cuda"), tf.AutoModelForImageTextToText
    classes = {f: model_class(auto, load_adapter(family_checkpoints[f], "mllm", weights=False))
               for f in ("idefics2", "qwen2_vl", "gemma3", "paligemma")}
    assert classes["gemma3"] is tf.Gemma3ForConditionalGeneration
    for family, cls in classes.items():
        expected = None if family in ("gemma3", "paligemma") else "flash_attention_2"
        assert attention_implementation(cuda, torch.bfloat16, cls) == expected, family
    assert attention_implementation(cuda, torch.float32, classes["idefics2"]) is None  # no fp32 kernels
    assert attention_implementation(torch.device("cpu"), torch.bfloat16, classes["idefics2"]) is None


def test_means_are_taken_in_float32():
    """A bfloat16 GPU run pools 729 visual tokens (SigLIP at 384 px): summed in bfloat16 the count
    itself would round to 728."""
    from fgvr.models.adapter import masked_mean

    hidden = torch.ones(1, 729, 4, dtype=torch.bfloat16)
    mask = torch.ones(1, 729, dtype=torch.bool)
    assert torch.tensor(729.0, dtype=torch.bfloat16).item() != 729  # the hazard
    assert masked_mean(hidden, mask).dtype == torch.float32 and torch.equal(masked_mean(hidden, mask), torch.ones(1, 4))
    mask[0, 700:] = False
    assert torch.equal(masked_mean(hidden * 2, mask), torch.full((1, 4), 2.0))


def test_the_models_own_object_path_needs_no_chat_template(family_checkpoints, tmp_path):
    """A Qwen2-VL checkpoint without a chat template (a base release) still extracts: its object
    sequence is the processor's image expansion, no chat turn; chat prompts are refused by name."""
    import shutil

    ckpt = tmp_path / "qwen-base"
    shutil.copytree(family_checkpoints["qwen2_vl"], ckpt)
    (ckpt / "chat_template.jinja").unlink()
    for name in ("processor_config.json", "tokenizer_config.json"):
        config = json.loads((ckpt / name).read_text())
        config.pop("chat_template", None)
        (ckpt / name).write_text(json.dumps(config))
    adapter = load_adapter(ckpt, "mllm")
    out = adapter.encode_images(adapter.preprocess(images(2)))
    reference = load_adapter(family_checkpoints["qwen2_vl"], "mllm")
    torch.testing.assert_close(out["llm.last"], reference.encode_images(reference.preprocess(images(2)))["llm.last"])
    with pytest.raises(FgvrError, match="no chat template"):
        adapter.chat_batch(["Which bird?"], images(1))
