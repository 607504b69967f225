import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fgvr import plots
from fgvr.io import FgvrError
from fgvr.store import Store


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
    assert (frame["kind"] == "object").sum() == 16 and (frame["kind"] == "category name").sum() == 2
    assert set(frame["label"]) == {0, 3} and np.isfinite(frame[["x", "y"]].to_numpy()).all()
    again = plots.tsne_panel(obj, cat, "embed", [0, 3], perplexity=10, seed=0)
    np.testing.assert_allclose(frame[["x", "y"]], again[["x", "y"]])


def test_tsne_figure_is_drawn(tmp_path):
    obj, cat = stores()
    frame = plots.tsne_panel(obj, cat, "embed", [0, 1, 2], perplexity=10, seed=0)
    frame = pd.concat([frame.assign(panel="a (VLM)"), frame.assign(panel="b (MLLM)")])
    plots.plot_tsne(frame, tmp_path / "t.png", "title")
    with Image.open(tmp_path / "t.png") as im:
        assert im.size[0] > 1.5 * im.size[1]  # two panels side by side
        assert np.asarray(im.convert("L")).std() > 10  # something was drawn


def test_summary_and_bars(tmp_path):
    probe = {"demo": True, "results": {"objects": {"embed": {"accuracy": 0.7, "chance": 0.2, "n_test": 9}}}}
    align = {"demo": True, "results": {"names": {"embed": {"accuracy": 0.3, "chance": 0.2, "gap": 0.1}}}}
    frame = plots.summary_frame("ds", {"m": probe}, {"m": align})
    assert len(frame) == 6
    assert frame.query("analysis == 'probe' and metric == 'accuracy'")["value"].item() == 0.7
    plots.plot_bars(frame, "probe", tmp_path / "p.png", "t")
    assert Image.open(tmp_path / "p.png").size[0] > 100
