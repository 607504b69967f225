import h5py
import pandas as pd
import numpy as np
import pytest
import shutil

from fgvr.datasets.manifest import read_classes, read_descriptions, read_manifest
from fgvr.extract import extract_categories, extract_split
from fgvr.io import FgvrError
from fgvr.store import read_store


def run(adapter, dataset, out, **kw):
    manifest = read_manifest(dataset / "manifest.csv", "train")
    return extract_split(adapter, manifest, out, "demo", read_descriptions(dataset / "ground_truth.csv"),
                         batch_size=8, progress=False, **kw)


@pytest.mark.parametrize("kind", ["mllm", "vlm"])
def test_split_file_contract(adapters, small_dataset, tmp_path, kind):
    adapter = adapters[kind]
    store = read_store(run(adapter, small_dataset, tmp_path / "train.h5"))
    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    assert store.ids.tolist() == manifest["image_id"].tolist()
    assert store.labels.tolist() == manifest["label"].tolist()
    for key, size in adapter.hidden_sizes().items():
        assert store.groups["objects"][key].shape == (len(manifest), size)
        assert np.isfinite(store.groups["objects"][key]).all()
    assert store.keys("descriptions") == sorted(adapter.text_keys)
    assert store.attrs["model"] == "demo" and store.attrs["demo"] and store.attrs["dtype"] == "float32"
    assert not (tmp_path / "train.h5.partial").exists()


def test_killed_run_resumes_to_the_same_file(adapters, small_dataset, tmp_path, monkeypatch):
    adapter = adapters["mllm"]
    reference = read_store(run(adapter, small_dataset, tmp_path / "ref.h5"))

    calls, original = {"n": 0}, type(adapter).encode_images

    def dies_on_third_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return original(self, batch)

    monkeypatch.setattr(type(adapter), "encode_images", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run(adapter, small_dataset, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()  # nothing that looks finished
    with h5py.File(tmp_path / "out.h5.partial") as f:
        assert f["done"][:].sum() == 16  # two batches of 8 were written

    monkeypatch.setattr(type(adapter), "encode_images", original)
    computed = []
    monkeypatch.setattr(type(adapter), "encode_images",
                        lambda self, batch: computed.append(len(batch["pixel_values"])) or original(self, batch))
    resumed = read_store(run(adapter, small_dataset, tmp_path / "out.h5"))
    assert sum(computed) == len(reference.labels) - 16  # only the rest was computed
    for group in reference.groups:
        for key in reference.groups[group]:
            np.testing.assert_array_equal(resumed.groups[group][key], reference.groups[group][key])
    assert resumed.ids.tolist() == reference.ids.tolist()


def test_stale_partial_from_other_settings_is_discarded(adapters, small_dataset, tmp_path):
    adapter = adapters["vlm"]
    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    with h5py.File(tmp_path / "out.h5.partial", "w") as f:
        f.attrs["fingerprint"] = "something else"
        f.create_dataset("done", data=np.ones(len(manifest), bool))
    store = read_store(run(adapter, small_dataset, tmp_path / "out.h5"))
    assert np.abs(store.groups["objects"]["embed"]).sum(1).min() > 0  # every row really computed


def test_unreadable_image_is_named(adapters, small_dataset, tmp_path):
    broken = tmp_path / "data"
    shutil.copytree(small_dataset, broken)
    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    victim = manifest["path"].iloc[3]
    manifest["path"] = [p.replace(str(small_dataset), str(broken)) for p in manifest["path"]]
    bad = victim.replace(str(small_dataset), str(broken))
    with open(bad, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(FgvrError, match=f"image {bad}: cannot be read"):
        extract_split(adapters["vlm"], manifest, tmp_path / "x.h5", "demo", batch_size=8, progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_categories_file_contract(adapters, small_dataset, tmp_path):
    classes = read_classes(small_dataset / "classes.csv")
    adapter = adapters["mllm"]
    store = read_store(extract_categories(adapter, classes, tmp_path / "categories.h5", "demo", batch_size=4))
    assert store.ids.tolist() == classes["class_name"].tolist()
    for group in ("names", "descriptions"):
        for key in adapter.text_keys:
            values = store.groups[group][key]
            assert values.shape == (len(classes), adapter.hidden_sizes()[key]) and np.isfinite(values).all()
    # names and descriptions are different texts, so different vectors
    assert not np.allclose(store.groups["names"]["llm.last"], store.groups["descriptions"]["llm.last"])


def test_non_finite_features_are_refused_naming_the_row(tmp_path):
    from fgvr.store import PartialStore

    with PartialStore(tmp_path / "x.h5", 2, "fp", {}, {"labels": np.array([0, 1])}) as store:
        with pytest.raises(FgvrError, match=r"objects/embed is not finite for 'img-b'"):
            store.write(np.array([0, 1]), {"objects/embed": np.array([[1.0, 2.0], [np.nan, 0.0]])}, ["img-a", "img-b"])
    assert not (tmp_path / "x.h5").exists()


def test_batches_group_shapes_and_rows_keep_manifest_order(adapters, tmp_path):
    from PIL import Image

    from fgvr.extract import plan_batches

    sizes = [(32, 32), (48, 32), (32, 32), (48, 32), (32, 32), (48, 32)]
    paths = []
    for i, (w, h) in enumerate(sizes):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (w, h), (30 * i, 100, 50)).save(paths[-1])
    batches = plan_batches(np.array(sizes), 3, group_by_shape=True)
    assert [sorted(b.tolist()) for b in batches] == [[0, 2, 4], [1, 3, 5]]
    assert [b.tolist() for b in plan_batches(np.array(sizes), 3, group_by_shape=False)] == [[0, 1, 2], [3, 4, 5]]
    manifest = pd.DataFrame({"image_id": [f"i{i}" for i in range(6)], "path": paths, "label": [0, 1] * 3,
                             "width": [w for w, _ in sizes], "height": [h for _, h in sizes]})
    grouped, plain = (read_store(extract_split(adapters["vlm"], manifest, tmp_path / f"{g}.h5", "demo",
                                               batch_size=3, group_by_shape=g, progress=False)) for g in (True, False))
    np.testing.assert_allclose(grouped.groups["objects"]["embed"], plain.groups["objects"]["embed"], atol=1e-5)
    assert grouped.ids.tolist() == [f"i{i}" for i in range(6)]


def test_worker_processes_give_the_same_file_and_never_carry_the_model(adapters, small_dataset, tmp_path):
    import pickle

    adapter = adapters["mllm"]
    shipped = pickle.dumps(adapter.without_model().preprocess)
    weights = sum(p.numel() for p in adapter.model.parameters()) * 4
    assert len(shipped) < weights / 4  # processors only, not the weights
    assert adapter.model is not None  # the original keeps its model
    main = read_store(run(adapter, small_dataset, tmp_path / "main.h5"))
    workers = read_store(run(adapter, small_dataset, tmp_path / "workers.h5", num_workers=2))
    for key in main.groups["objects"]:
        np.testing.assert_array_equal(workers.groups["objects"][key], main.groups["objects"][key])


def test_partial_from_other_weights_is_not_resumed(small_dataset, dataset_texts, tmp_path, monkeypatch):
    """Kill, rebuild the checkpoint with another seed, rerun: the stale rows must not survive."""
    from fgvr.models import load_adapter
    from fgvr.models.demo import build_demo

    build_demo("vlm", tmp_path / "m", dataset_texts, 32, seed=0)
    adapter = load_adapter(tmp_path / "m", "vlm")
    original = type(adapter).encode_images
    calls = {"n": 0}

    def dies(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(type(adapter), "encode_images", dies)
    with pytest.raises(KeyboardInterrupt):
        run(adapter, small_dataset, tmp_path / "out.h5")
    monkeypatch.setattr(type(adapter), "encode_images", original)
    shutil.rmtree(tmp_path / "m")
    build_demo("vlm", tmp_path / "m", dataset_texts, 32, seed=1)
    rebuilt = load_adapter(tmp_path / "m", "vlm")
    resumed = read_store(run(rebuilt, small_dataset, tmp_path / "out.h5"))
    fresh = read_store(run(rebuilt, small_dataset, tmp_path / "fresh.h5"))
    np.testing.assert_array_equal(resumed.groups["objects"]["embed"], fresh.groups["objects"]["embed"])


def test_batches_are_planned_from_the_manifest_sizes_not_image_headers(adapters, small_dataset, tmp_path, monkeypatch):
    """Shapes come from the manifest's width,height (read once at prepare): extraction opens
    each image once, to decode it, and groups batches by what the manifest says."""
    import fgvr.extract as extract

    manifest = read_manifest(small_dataset / "manifest.csv", "train")
    manifest["width"] = [32, 48] * (len(manifest) // 2)  # claimed shapes: alternate rows differ
    opened, real_open = [], extract.Image.open

    def counting_open(path, *args, **kw):
        opened.append(str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(extract.Image, "open", counting_open)
    planned, real_plan = [], extract.plan_batches
    monkeypatch.setattr(extract, "plan_batches", lambda *a, **k: planned.append(real_plan(*a, **k)) or planned[-1])
    extract_split(adapters["vlm"], manifest, tmp_path / "x.h5", "demo", batch_size=4, progress=False)
    assert sorted(opened) == sorted(manifest["path"])  # once each: no header pass
    widths = manifest["width"].to_numpy()
    order = np.concatenate(planned[0])
    assert sorted(order) == list(range(len(manifest)))
    assert (np.diff(widths[order]) >= 0).all() and widths[order[0]] != widths[order[-1]]  # grouped by them
    with pytest.raises(FgvrError, match="lacks \\['width', 'height'\\]"):
        extract_split(adapters["vlm"], manifest.drop(columns=["width", "height"]), tmp_path / "y.h5", "demo",
                      progress=False)
    assert not (tmp_path / "y.h5").exists()


def test_weights_load_once_the_workers_run_and_timings_are_reported(demo_checkpoints, adapters, small_dataset,
                                                                   tmp_path, monkeypatch):
    """An adapter without weights gets them after the preprocessing workers have forked (they
    work while the weights load), and gives the same file as a loaded one."""
    import multiprocessing

    from fgvr.models import load_adapter
    from fgvr.models.adapter import Adapter

    lazy = load_adapter(demo_checkpoints["mllm"], "mllm", weights=False)
    assert lazy.model is None and lazy.is_demo and lazy.architecture == "Idefics2ForConditionalGeneration"
    workers_at_load = []
    original = Adapter.load_weights

    def recording(self):
        if self.model is None:
            workers_at_load.append(len(multiprocessing.active_children()))
        return original(self)

    monkeypatch.setattr(Adapter, "load_weights", recording)
    stats = {}
    late = read_store(run(lazy, small_dataset, tmp_path / "lazy.h5", num_workers=2, stats=stats))
    assert workers_at_load == [2] and lazy.model is not None
    loaded = read_store(run(adapters["mllm"], small_dataset, tmp_path / "loaded.h5"))
    for key in loaded.groups["objects"]:
        np.testing.assert_allclose(late.groups["objects"][key], loaded.groups["objects"][key], atol=1e-5)
    assert late.attrs["architecture"] == loaded.attrs["architecture"] and late.attrs["demo"]
    assert stats["images"] == len(late.ids) and stats["first_batch_wait_s"] >= 0 and stats["steady_img_s"] > 0


def test_vlm_categories_carry_the_option_prompt(adapters, small_dataset, tmp_path):
    """A VLM's categories.h5 holds prompts/embed: its text embedding of "an image of a {name}"
    for every class (what fgvr.options mines 4-way options from); an MLLM's has no such group."""
    import torch

    classes = read_classes(small_dataset / "classes.csv")
    vlm = read_store(extract_categories(adapters["vlm"], classes, tmp_path / "vlm.h5", "demo", batch_size=4))
    with torch.inference_mode():
        expected = adapters["vlm"].encode_texts([f"an image of a {n}" for n in classes["class_name"]])["embed"].numpy()
    prompts = vlm.groups["prompts"]["embed"]
    assert prompts.shape == vlm.groups["names"]["embed"].shape == (len(classes), expected.shape[1])
    np.testing.assert_allclose(prompts, expected, atol=1e-5)
    assert not np.allclose(prompts, vlm.groups["names"]["embed"])
    mllm = read_store(extract_categories(adapters["mllm"], classes, tmp_path / "mllm.h5", "demo", batch_size=4))
    assert "prompts" not in mllm.groups and {"names", "descriptions"} <= set(mllm.groups)
