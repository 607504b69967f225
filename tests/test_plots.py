import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fgvr import plots
from fgvr.io import FgvrError
from fgvr.store import Store, read_store


def stores(classes=5, per_class=8, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    names = np.array([f"Class {chr(65 + i)}" for i in range(classes)])
    obj = Store("obj.h5", labels, np.array([f"i{i}" for i in range(len(labels))]),
                {"objects": {"embed": rng.normal(size=(len(labels), dim))}}, {"demo": True})
    cat = Store("cat.h5", np.arange(classes), names, {"names": {"embed": rng.normal(size=(classes, dim))}})
    return obj, cat


def test_pick_classes_is_seeded_and_honours_names():
    _, cat = stores()
    assert plots.pick_classes(cat, 3, seed=1) == plots.pick_classes(cat, 3, seed=1)
    assert len(set(plots.pick_classes(cat, 3, seed=1))) == 3
    assert plots.pick_classes(cat, 3, seed=0, names=["Class C", "Class A"]) == [2, 0]
    with pytest.raises(FgvrError, match="Class Z"):
        plots.pick_classes(cat, 3, seed=0, names=["Class Z"])


def test_tsne_panel_holds_objects_and_stars_of_the_chosen_classes():
    obj, cat = stores()
    frame = plots.tsne_panel(obj, cat, "embed", [0, 3], perplexity=10, seed=0)
    assert (frame["what"] == "object").sum() == 16 and (frame["what"] == "name").sum() == 2
    assert set(frame["label"]) == {0, 3} and np.isfinite(frame[["x", "y"]].to_numpy()).all()
    again = plots.tsne_panel(obj, cat, "embed", [0, 3], perplexity=10, seed=0)
    np.testing.assert_allclose(frame[["x", "y"]], again[["x", "y"]])


def write_model(folder, kind, classes=5, per_class=8, seed=0):
    """{split}.h5 and categories.h5 of one model, in the workflow's format: objects of a class
    scattered around a class centre, each name near its centre plus an offset (the gap)."""
    rng = np.random.default_rng(seed)
    keys = ["embed"] if kind == "vlm" else ["llm.last", "llm.mean"]
    labels = np.repeat(np.arange(classes), per_class)
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "test.h5", "w") as obj, h5py.File(folder / "categories.h5", "w") as cat:
        obj["labels"], cat["labels"] = labels, np.arange(classes)
        obj["image_ids"] = np.array([f"img{i:03d}" for i in range(len(labels))], dtype=object)
        cat["class_names"] = np.array([f"Class {chr(65 + i)}" for i in range(classes)], dtype=object)
        obj.attrs["demo"] = True
        for key in keys:
            centres = rng.normal(size=(classes, 16))
            obj[f"objects/{key}"] = centres[labels] + 0.3 * rng.normal(size=(len(labels), 16))
            cat[f"names/{key}"] = centres + 1.0 + 0.3 * rng.normal(size=(classes, 16))
    return str(folder / "test.h5"), str(folder / "categories.h5")


MODELS = [("vis", "vlm"), ("llm", "mllm")]
OPTS = {"classes": 3, "perplexity": 10, "seed": 0, "split": "test"}


@pytest.fixture
def files(tmp_path):
    (vo, vc), (mo, mc) = write_model(tmp_path / "vis", "vlm", seed=1), write_model(tmp_path / "llm", "mllm", seed=2)
    return [vo, mo], [vc, mc]


def figure_frame(files, pooling="last", **opts):
    return plots.tsne_figure_frame(MODELS, *files, pooling, {**OPTS, **opts})


def test_figure_2_has_six_panels_with_the_right_points(files):
    frame = figure_frame(files)
    assert list(dict.fromkeys(frame["panel"])) == list("abcdef")
    chosen = plots.pick_classes(read_store(files[1][0]), 3, seed=0)
    by = {p: sub for p, sub in frame.groupby("panel")}
    for letter, model, kind, key in (("abc", "vis", "vlm", "embed"), ("def", "llm", "mllm", "llm.last")):
        for p in letter:
            assert set(by[p]["model"]) == {model} and set(by[p]["kind"]) == {kind}
            assert set(by[p]["representation"]) == {key}
        objects, names, joint = (by[p] for p in letter)
        # objects: the 8 test images of each chosen class, no names
        assert (objects["what"] == "object").all() and len(objects) == 3 * 8
        assert sorted(objects["label"].unique()) == chosen
        # names: one star per chosen class (the other classes' names only as context)
        stars = names[names["chosen"]]
        assert (names["what"] == "name").all() and sorted(stars["label"]) == chosen and len(names) == 5
        # joint: both, in one t-SNE
        assert (joint["what"] == "object").sum() == 24 and sorted(joint.loc[joint["what"] == "name", "label"]) == chosen
        assert joint["chosen"].all()
    assert {"panel", "model", "kind", "what", "label", "class_name", "x", "y"} <= set(frame.columns)
    assert frame.groupby("panel").apply(lambda f: frozenset(f.loc[f["chosen"], "class_name"])).nunique() == 1
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()


def test_each_row_uses_its_own_model_embeddings(files, tmp_path):
    frame = figure_frame(files)
    vis, cat = read_store(files[0][0]), read_store(files[1][0])
    labels = plots.pick_classes(cat, 3, seed=0)
    keep = np.isin(vis.labels, labels)
    expected = plots.tsne_2d(vis.groups["objects"]["embed"][keep], 10, 0)
    np.testing.assert_allclose(frame.loc[frame["panel"] == "a", ["x", "y"]], expected, rtol=1e-5)
    llm = read_store(files[0][1])
    expected = plots.tsne_2d(llm.groups["objects"]["llm.last"][np.isin(llm.labels, labels)], 10, 0)
    np.testing.assert_allclose(frame.loc[frame["panel"] == "d", ["x", "y"]], expected, rtol=1e-5)
    expected = plots.tsne_2d(read_store(files[1][0]).groups["names"]["embed"], 10, 0)
    np.testing.assert_allclose(frame.loc[frame["panel"] == "b", ["x", "y"]], expected, rtol=1e-5)

    # other VLM embeddings move panels a-c only
    other_vlm, _ = write_model(tmp_path / "vis2", "vlm", seed=7)
    moved = plots.tsne_figure_frame(MODELS, [other_vlm, files[0][1]], [str(tmp_path / "vis2/categories.h5"),
                                                                         files[1][1]], "last", OPTS)
    for p in "abc":
        assert not np.allclose(moved.loc[moved["panel"] == p, ["x", "y"]], frame.loc[frame["panel"] == p, ["x", "y"]])
    for p in "def":
        np.testing.assert_array_equal(moved.loc[moved["panel"] == p, ["x", "y"]], frame.loc[frame["panel"] == p, ["x", "y"]])

    # the pooling picks the MLLM's representation; the VLM has only its own embedding
    mean = figure_frame(files, pooling="mean")
    assert set(mean.loc[mean["kind"] == "mllm", "representation"]) == {"llm.mean"}
    np.testing.assert_array_equal(mean.loc[mean["kind"] == "vlm", ["x", "y"]], frame.loc[frame["kind"] == "vlm", ["x", "y"]])
    assert not np.allclose(mean.loc[mean["panel"] == "d", ["x", "y"]], frame.loc[frame["panel"] == "d", ["x", "y"]])


def test_figure_2_is_deterministic_and_honours_class_names(files):
    pd.testing.assert_frame_equal(figure_frame(files), figure_frame(files))
    named = figure_frame(files, class_names=["Class E", "Class B"])
    assert set(named.loc[named["chosen"], "class_name"]) == {"Class E", "Class B"}
    assert (named.loc[named["panel"] == "a", "label"].isin([1, 4])).all()
    with pytest.raises(FgvrError, match="Class Z"):
        figure_frame(files, class_names=["Class Z"])


def test_figure_2_refuses_models_that_disagree_on_class_names(files, tmp_path):
    write_model(tmp_path / "odd", "mllm", seed=2)
    with h5py.File(tmp_path / "odd/categories.h5", "a") as f:
        del f["class_names"]
        f["class_names"] = np.array([f"Other {i}" for i in range(5)], dtype=object)
    with pytest.raises(FgvrError, match="names the chosen classes"):
        plots.tsne_figure_frame(MODELS, files[0], [files[1][0], str(tmp_path / "odd/categories.h5")], "last", OPTS)


def test_figure_2_is_drawn_with_six_lettered_panels(files, tmp_path):
    frame = figure_frame(files)
    title = plots.tsne_title("dogs120", frame, "test", "last")
    chosen = sorted(set(frame.loc[frame["chosen"], "class_name"]))
    assert "dogs120" in title and "test split" in title and all(c in title for c in chosen)
    fig = plots.tsne_figure(frame, title)
    assert len(fig.axes) == 6
    assert [ax.get_title()[:3] for ax in fig.axes] == [f"({p})" for p in "abcdef"]
    assert "VLM objects" in fig.axes[0].get_title() and "MLLM category names" in fig.axes[4].get_title()
    assert fig.axes[0].get_ylabel().startswith("vis") and fig.axes[3].get_ylabel().startswith("llm")
    plt.close(fig)
    plots.plot_tsne(frame, tmp_path / "t.png", title)
    with Image.open(tmp_path / "t.png") as im:
        assert im.size[1] > 0.8 * im.size[0] / 1.5  # two rows of three
        assert np.asarray(im.convert("L")).std() > 10  # something was drawn


def test_summary_and_bars(tmp_path):
    probe = {"demo": True, "results": {"objects": {"embed": {"accuracy": 0.7, "chance": 0.2, "n_test": 9}}}}
    align = {"demo": True, "results": {"names": {"embed": {"accuracy": 0.3, "chance": 0.2, "gap": 0.1}}}}
    frame = plots.summary_frame("ds", {"m": probe}, {"m": align})
    assert len(frame) == 6
    assert frame.query("analysis == 'probe' and metric == 'accuracy'")["value"].item() == 0.7
    plots.plot_bars(frame, "probe", tmp_path / "p.png", "t")
    assert Image.open(tmp_path / "p.png").size[0] > 100
