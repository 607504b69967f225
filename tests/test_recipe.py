"""The official recipe's settings (idefics2_fine_tuning.py and train.sh at the pinned commit, the
bundled modeling_idefics2.py), each against an independent expectation: LoRA's gaussian start,
contrastive groups, fixed temperatures, float16 mixed precision and the float32 merge."""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from fgvr.models import load_adapter
from fgvr.train.loop import Settings, _Micro, attach_lora, merge_float32, stage1_loss, train_stage
from test_train import samples  # noqa: F401  (the module's training samples)


def lora_matrices(peft_model, which):
    return [p.detach() for n, p in peft_model.named_parameters() if f"lora_{which}" in n]


@pytest.mark.parametrize("init", ["gaussian", "kaiming"])
def test_lora_starts_as_the_official_script_or_peft(init, demo_checkpoints):
    """gaussian: every A drawn at std 1/r, B zero (peft's init_lora_weights="gaussian", what the
    official script asks); kaiming: peft's default, uniform on +-1/sqrt(fan-in)."""
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
    r = 4
    peft_model = attach_lora(adapter, {"r": r, "alpha": 8, "dropout": 0.0, "init": init}, seed=0)
    a, b = lora_matrices(peft_model, "A"), lora_matrices(peft_model, "B")
    assert len(a) == len(b) > 10 and all(float(m.abs().max()) == 0 for m in b)
    values = torch.cat([m.flatten() for m in a]).double()
    if init == "gaussian":
        assert values.mean().abs() < 0.01 and values.std().item() == pytest.approx(1 / r, rel=0.05)
    else:
        for m in a:  # fan-in = the adapted linear's input width
            bound = 1 / math.sqrt(m.shape[1])
            assert float(m.abs().max()) <= bound and float(m.std()) == pytest.approx(bound / math.sqrt(3), rel=0.3)


def test_contrastive_groups_are_separate_computations(demo_checkpoints, samples):  # noqa: F811
    """One micro-batch of 8 rows in groups of 2 gives the contrastive losses and the gradients of
    four 2-row micro-batches computed alone (each a whole micro-batch, the old path), averaged."""
    rows = samples[0][:8]
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
    peft_model = attach_lora(adapter, {"r": 4, "alpha": 8, "dropout": 0.0, "init": "gaussian"}, seed=0)
    with torch.no_grad():  # B nonzero, so the LoRA gradients are not all alike
        for m in lora_matrices(peft_model, "B"):
            m.copy_(torch.randn_like(m) * 0.05)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    dim = adapter.model.config.text_config.hidden_size
    log_t = torch.full((2,), math.log(0.07))
    weights = {"gen": 0.0, "oa": 0.5, "ac": 0.5, "cc": 0.5}

    def step(micro, group):
        settings = Settings(contrastive_group=group, weights=weights)
        inputs = _Micro(adapter.without_model(), [micro], 1, "sequence")[0][1]
        peft_model.zero_grad()
        out = stage1_loss(adapter, micro, inputs, log_t, settings, len(micro), 1, dim)
        out["loss"].backward()
        return out["log"], [p.grad.detach().clone() for p in params]

    grouped, grouped_grads = step(rows, 2)
    apart = [step(rows[i:i + 2], 0) for i in range(0, 8, 2)]
    for key in ("oa", "ac", "cc", "total"):
        expected = sum(float(parts[key]) for parts, _ in apart) / 4
        assert float(grouped[key]) == pytest.approx(expected, rel=1e-5), key
    for i, grad in enumerate(grouped_grads):  # up to float noise: a batch of 8 runs other matmul shapes
        expected = sum(grads[i] for _, grads in apart) / 4
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    whole, _ = step(rows, 0)  # one group of 8 is another computation: more negatives per row
    assert abs(float(whole["cc"]) - float(grouped["cc"])) > 1e-3


@pytest.mark.parametrize("learn", [False, True])
def test_fixed_temperatures_stay_exactly_as_written(learn, demo_checkpoints, samples, tmp_path):  # noqa: F811
    """The official ia_temp and ac_temp are written as 0.07 and never trained: after training
    steps both are exactly 0.07 (log and checkpoint); learnt, they move."""
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
    settings = Settings(batch_size=6, micro_batch_size=6, lr=5e-2, warmup_steps=0, epochs=1,
                        learn_temperature=learn, checkpoint_every=1)
    train_stage(adapter, samples[0][:18], 1, settings, {"r": 4, "alpha": 8, "dropout": 0.0}, tmp_path,
                progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert len(log) == 3
    if learn:
        assert (log["temperature"] != 0.07).all() and (log["temperature_ac"] != 0.07).all()
    else:
        assert (log["temperature"] == 0.07).all() and (log["temperature_ac"] == 0.07).all()
        assert torch.equal(saved["log_t"], torch.full((2,), math.log(0.07)))


def test_float16_mixed_precision_trains(demo_checkpoints, samples, tmp_path):  # noqa: F811
    """autocast: float16 (the official Trainer's fp16): both stages take their steps under autocast
    with loss scaling; the losses are finite and go down as in float32, and the scaler's state is
    checkpointed (a resumed run continues its scale)."""
    logs = {}
    for precision in ("float16", "none"):
        adapter = load_adapter(demo_checkpoints["mllm"], "mllm")
        settings = Settings(batch_size=6, micro_batch_size=6, lr=5e-3, warmup_steps=0, epochs=3, autocast=precision)
        peft_model = train_stage(adapter, samples[1][:18], 2, settings, {"r": 4, "alpha": 8, "dropout": 0.0},
                                 tmp_path / precision, progress=False)
        logs[precision] = pd.read_csv(tmp_path / precision / "log.csv")["loss"].to_numpy()
        assert np.isfinite(logs[precision]).all() and logs[precision][-3:].mean() < logs[precision][:3].mean()
        assert any(float(m.abs().max()) > 0 for m in lora_matrices(peft_model, "B"))
    assert torch.load(tmp_path / "float16/checkpoint.pt", weights_only=False)["scaler"]["scale"] > 0
    assert not np.array_equal(logs["float16"], logs["none"])  # float16 matmuls really ran
    np.testing.assert_allclose(logs["float16"][0], logs["none"][0], rtol=2e-2)  # the same loss, rounded


def test_float32_merge_is_nearer_the_unmerged_model(demo_checkpoints):
    """A bfloat16 base with bfloat16 LoRA weights: merged in float32 and rounded once, the weights
    are the nearest bfloat16 of W + B A s, which peft's merge (rounding B A s, then the sum) misses
    more often; the merged model's outputs are nearer the unmerged model's."""
    adapter = load_adapter(demo_checkpoints["mllm"], "mllm", dtype="bfloat16")
    peft_model = attach_lora(adapter, {"r": 8, "alpha": 8, "dropout": 0.0, "init": "gaussian"}, seed=0)
    with torch.no_grad():  # updates as large as the weights: where rounding the update first shows
        for m in lora_matrices(peft_model, "B"):
            m.copy_(torch.randn_like(m) * 0.3)
    # LoRA weights in bfloat16, as a model loaded or cast whole to bf16 holds them (the official
    # run's): peft then rounds B A s to bf16 before adding it (with float32 LoRA weights, as this
    # workflow trains them, peft 0.21 already adds in float32)
    peft_model.to(torch.bfloat16)
    exact = {}  # independent: W + scaling * B @ A in float64
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            w = module.get_base_layer().weight.double()
            exact[name] = w + module.scaling["default"] * (module.lora_B["default"].weight.double()
                                                           @ module.lora_A["default"].weight.double())
    ids = adapter.tokenizer(["a small bird with a forked tail"], return_tensors="pt")
    with torch.no_grad():
        unmerged = peft_model(**ids).logits.double()
    peft_merged = copy.deepcopy(peft_model).merge_and_unload()
    ours = merge_float32(peft_model)
    modules = dict(ours.named_modules())
    theirs = dict(peft_merged.named_modules())
    ours_err = theirs_err = 0.0
    for name, want in exact.items():
        key = name.removeprefix("base_model.model.")
        got = modules[key].weight.detach()
        assert got.dtype == torch.bfloat16
        # the nearest bfloat16 of the exact sum (float32 on the way: a rare tie may round the other way)
        nearest = want.to(torch.bfloat16)
        assert (got != nearest).float().mean() < 1e-3
        torch.testing.assert_close(got, nearest, rtol=2 ** -7, atol=0)
        ours_err += float((got.double() - want).abs().sum())
        theirs_err += float((theirs[key].weight.double() - want).abs().sum())
    assert ours_err < theirs_err
    with torch.no_grad():
        ours_out, theirs_out = ours(**ids).logits.double(), peft_merged(**ids).logits.double()
    assert (ours_out - unmerged).abs().mean() < (theirs_out - unmerged).abs().mean()
