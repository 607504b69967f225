"""Figures: t-SNE in the style of the paper's Figure 2, and summary bars of probes / alignment.

Every figure's data is also returned as a DataFrame so the workflow saves it as CSV beside it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from .alignment import normalise  # noqa: E402
from .io import FgvrError, atomic_path  # noqa: E402
from .store import Store, read_store  # noqa: E402

DEMO_NOTE = "demo models: tiny, random weights; the numbers say nothing about real models"


def pick_classes(categories: Store, k: int, seed: int, names: list[str] | None = None) -> list[int]:
    """Labels of the classes to show: ``names`` if given, else ``k`` drawn with ``seed``."""
    by_name = dict(zip(categories.ids, categories.labels))
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise FgvrError(f"analysis.tsne.class_names: {unknown} not among the classes of {categories.path}")
        return [int(by_name[n]) for n in names]
    if k > len(categories.labels):
        raise FgvrError(f"analysis.tsne.classes: {k} asked, {categories.path} has {len(categories.labels)}")
    rng = np.random.default_rng(seed)
    return sorted(int(x) for x in rng.choice(categories.labels, size=k, replace=False))


def tsne_panel(objects: Store, categories: Store, key: str, labels: list[int], perplexity: float,
               seed: int) -> pd.DataFrame:
    """Joint 2-D t-SNE of the chosen classes' objects and their category names in ``key``."""
    if key not in objects.groups.get("objects", {}) or key not in categories.groups.get("names", {}):
        raise FgvrError(f"t-SNE: representation {key!r} missing from {objects.path} or {categories.path}")
    keep = np.isin(objects.labels, labels)
    names = np.isin(categories.labels, labels)
    x = np.concatenate([objects.groups["objects"][key][keep], categories.groups["names"][key][names]])
    n = len(x)
    emb = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed,
               max_iter=1000).fit_transform(normalise(x))
    class_of = dict(zip(categories.labels.tolist(), categories.ids.tolist()))
    point_labels = np.concatenate([objects.labels[keep], categories.labels[names]])
    return pd.DataFrame({"kind": ["object"] * int(keep.sum()) + ["category name"] * int(names.sum()),
                         "label": point_labels, "class_name": [class_of[int(l)] for l in point_labels],
                         "x": emb[:, 0], "y": emb[:, 1], "representation": key})


def representation_for(kind: str, pooling: str) -> str:
    """The space where objects meet category names: the LLM's for an MLLM, the joint one for a VLM."""
    return f"llm.{pooling}" if kind == "mllm" else "embed"


def tsne_figure_frame(models: list[tuple[str, str]], objects: list[str], categories: list[str], pooling: str,
                      opts: dict) -> pd.DataFrame:
    """The points of every panel: ``models`` are (name, kind) pairs, aligned with the file lists."""
    frames, labels = [], None
    for (name, kind), obj_path, cat_path in zip(models, objects, categories):
        obj, cat = read_store(obj_path), read_store(cat_path)
        if labels is None:  # the same classes in every panel
            labels = pick_classes(cat, opts["classes"], opts["seed"], opts.get("class_names"))
        key = representation_for(kind, pooling)
        frame = tsne_panel(obj, cat, key, labels, opts["perplexity"], opts["seed"])
        frame.insert(0, "panel", f"{name} ({kind.upper()}, {key})")
        frame.insert(1, "model", name)
        frame["demo"] = bool(obj.attrs.get("demo", False))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def tsne_title(dataset: str, frame: pd.DataFrame, split: str) -> str:
    note = f"\n{DEMO_NOTE}" if frame["demo"].any() else ""
    return f"{dataset} ({split}): objects (dots) and category names (stars){note}"


def plot_tsne(frame: pd.DataFrame, out: str, title: str) -> None:
    """One panel per model: objects as dots, category names as large stars, colour = class."""
    panels = list(dict.fromkeys(frame["panel"]))
    classes = sorted(frame["class_name"].unique())
    palette = dict(zip(classes, sns.color_palette("tab10", len(classes))))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        sub = frame[frame["panel"] == panel]
        objs, names = sub[sub["kind"] == "object"], sub[sub["kind"] == "category name"]
        sns.scatterplot(data=objs, x="x", y="y", hue="class_name", hue_order=classes, palette=palette, s=28,
                        alpha=0.75, ax=ax, legend=False)
        sns.scatterplot(data=names, x="x", y="y", hue="class_name", hue_order=classes, palette=palette,
                        marker="*", s=520, edgecolor="black", linewidth=0.8, ax=ax, legend=False)
        ax.set(title=panel, xticks=[], yticks=[], xlabel="", ylabel="")
    handles = [plt.Line2D([], [], marker="o", ls="", color=palette[c], label=c) for c in classes]
    handles.append(plt.Line2D([], [], marker="*", ls="", color="grey", markeredgecolor="black", markersize=14,
                              label="category name"))
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * (len(handles) // 5), 1, 1))
    _save(fig, out)


def summary_frame(dataset: str, probes: dict[str, dict], alignments: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, analysis, group, representation, metric) from the per-model JSONs."""
    rows = []
    for analysis, per_model in (("probe", probes), ("alignment", alignments)):
        for model, result in per_model.items():
            for group, per_key in result["results"].items():
                for key, metrics in per_key.items():
                    for metric, value in metrics.items():
                        if isinstance(value, (int, float)):
                            rows.append({"dataset": dataset, "model": model, "demo": result.get("demo", False),
                                         "analysis": analysis, "group": group, "representation": key,
                                         "metric": metric, "value": value})
    return pd.DataFrame(rows)


def plot_bars(summary: pd.DataFrame, analysis: str, out: str, title: str) -> None:
    """Accuracy per representation, one facet per model, chance as a dashed line."""
    acc = summary[(summary["analysis"] == analysis) & (summary["metric"] == "accuracy")]
    if acc.empty:
        raise FgvrError(f"no {analysis} accuracies to plot for {out}")
    chance = summary[(summary["analysis"] == analysis) & (summary["metric"] == "chance")]["value"].max()
    hue_order = [g for g in ("objects", "descriptions", "names") if g in set(acc["group"])]
    grid = sns.catplot(data=acc, kind="bar", x="representation", y="value", hue="group", hue_order=hue_order, col="model",
                       sharex=False, height=3.6, aspect=1.1, palette="Set2")
    for ax in grid.axes.flat:
        ax.axhline(chance, ls="--", color="grey", lw=1)
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", rotation=30)
    grid.set_axis_labels("", "accuracy")
    grid.figure.suptitle(title, fontsize=10)
    grid.figure.tight_layout()
    _save(grid.figure, out)


def _save(fig, out: str) -> None:
    with atomic_path(out, suffix=".partial.png") as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)
