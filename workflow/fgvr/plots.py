"""Figures: t-SNE in the style of the paper's Figure 2, and summary bars of probes / alignment.

Every figure's data is also returned as a DataFrame so the workflow saves it as CSV beside it.
"""
from __future__ import annotations

import textwrap

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


def tsne_2d(x: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """Seeded 2-D t-SNE of L2-normalised rows; perplexity capped below what few points allow.
    Exact gradients up to 500 points (Barnes-Hut is slower on so few, and an approximation)."""
    if len(x) < 2:
        raise FgvrError(f"t-SNE needs at least 2 points, got {len(x)}")
    return TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed,
                max_iter=1000, method="exact" if len(x) <= 500 else "barnes_hut").fit_transform(normalise(x))


def _array(store: Store, group: str, key: str) -> np.ndarray:
    if key not in store.groups.get(group, {}):
        raise FgvrError(f"t-SNE: {group}/{key} missing from {store.path} (has {store.keys(group)})")
    return store.groups[group][key]


def tsne_panel(objects: Store, categories: Store, key: str, labels: list[int], perplexity: float,
               seed: int) -> pd.DataFrame:
    """Joint 2-D t-SNE of the chosen classes' objects and their category names in ``key`` (panels c, f)."""
    keep = np.isin(objects.labels, labels)
    names = np.isin(categories.labels, labels)
    x = np.concatenate([_array(objects, "objects", key)[keep], _array(categories, "names", key)[names]])
    emb = tsne_2d(x, perplexity, seed)
    class_of = dict(zip(categories.labels.tolist(), categories.ids.tolist()))
    point_labels = np.concatenate([objects.labels[keep], categories.labels[names]])
    return pd.DataFrame({"what": ["object"] * int(keep.sum()) + ["name"] * int(names.sum()),
                         "chosen": True, "label": point_labels,
                         "class_name": [class_of[int(l)] for l in point_labels],
                         "image_id": list(objects.ids[keep]) + [""] * int(names.sum()),
                         "x": emb[:, 0], "y": emb[:, 1]})


def objects_panel(objects: Store, categories: Store, key: str, labels: list[int], perplexity: float,
                  seed: int) -> pd.DataFrame:
    """t-SNE of the chosen classes' objects alone (panels a, d)."""
    keep = np.isin(objects.labels, labels)
    emb = tsne_2d(_array(objects, "objects", key)[keep], perplexity, seed)
    class_of = dict(zip(categories.labels.tolist(), categories.ids.tolist()))
    return pd.DataFrame({"what": "object", "chosen": True, "label": objects.labels[keep],
                         "class_name": [class_of[int(l)] for l in objects.labels[keep]],
                         "image_id": objects.ids[keep], "x": emb[:, 0], "y": emb[:, 1]})


def names_panel(categories: Store, key: str, labels: list[int], perplexity: float, seed: int) -> pd.DataFrame:
    """t-SNE of the category names (panels b, e). A t-SNE of the few chosen names alone is
    degenerate (three points may land on one spot), so every class's name is embedded; the
    chosen ones are marked ``chosen`` and drawn as stars, the others as grey context."""
    emb = tsne_2d(_array(categories, "names", key), perplexity, seed)
    return pd.DataFrame({"what": "name", "chosen": np.isin(categories.labels, labels),
                         "label": categories.labels, "class_name": categories.ids, "image_id": "",
                         "x": emb[:, 0], "y": emb[:, 1]})


def representation_for(kind: str, pooling: str) -> str:
    """The space where objects meet category names: the LLM's for an MLLM, the joint one for a VLM."""
    return f"llm.{pooling}" if kind == "mllm" else "embed"


PANELS = (("objects", "objects"), ("names", "category names"), ("joint", "objects + names"))


def _check_same_classes(labels: list[int], stores: list[tuple[str, Store, Store]]) -> None:
    """Every model must know the chosen classes by the same names and hold objects of each."""
    first = None
    for name, obj, cat in stores:
        class_of = dict(zip(cat.labels.tolist(), cat.ids.tolist()))
        missing = [l for l in labels if l not in class_of]
        if missing:
            raise FgvrError(f"t-SNE: {cat.path} lacks labels {missing}")
        names = [class_of[l] for l in labels]
        if first is not None and names != first[1]:
            raise FgvrError(f"t-SNE: {name} names the chosen classes {names}, {first[0]} {first[1]}")
        first = first or (name, names)
        empty = [class_of[l] for l in labels if not np.isin(l, obj.labels)]
        if empty:
            raise FgvrError(f"t-SNE: {obj.path} has no objects of {empty}")


def tsne_figure_frame(models: list[tuple[str, str]], objects: list[str], categories: list[str], pooling: str,
                      opts: dict) -> pd.DataFrame:
    """Every point of Figure 2, one row of three panels per model (VLMs first, as ``models`` come):
    objects, category names, and both in one t-SNE; letters a, b, c for the first row, d, e, f for
    the next. ``models`` are (name, kind) pairs aligned with the file lists. A VLM's panels use its
    own image and text ``embed``; an MLLM's its LLM representation ``llm.{pooling}`` for both."""
    if not (len(models) == len(objects) == len(categories)) or not models:
        raise FgvrError(f"t-SNE: {len(models)} models, {len(objects)} object files, {len(categories)} category files")
    stores = [(name, read_store(o), read_store(c)) for (name, _), o, c in zip(models, objects, categories)]
    labels = pick_classes(stores[0][2], opts["classes"], opts["seed"], opts.get("class_names"))
    _check_same_classes(labels, stores)
    perplexity, seed = opts["perplexity"], opts["seed"]
    frames = []
    for row, ((name, kind), (_, obj, cat)) in enumerate(zip(models, stores)):
        key = representation_for(kind, pooling)
        parts = {"objects": objects_panel(obj, cat, key, labels, perplexity, seed),
                 "names": names_panel(cat, key, labels, perplexity, seed),
                 "joint": tsne_panel(obj, cat, key, labels, perplexity, seed)}
        for col, (part, what) in enumerate(PANELS):
            frame = parts[part]
            letter = chr(ord("a") + 3 * row + col)
            frame.insert(0, "panel", letter)
            frame.insert(1, "title", f"({letter}) {kind.upper()} {what}")
            frame.insert(2, "model", name)
            frame.insert(3, "kind", kind)
            frame.insert(4, "representation", key)
            frame["demo"] = bool(obj.attrs.get("demo", False))
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def tsne_title(dataset: str, frame: pd.DataFrame, split: str, pooling: str | None = None) -> str:
    """The caption: data set, split, the classes shown and each model's space."""
    chosen = frame[frame["chosen"]].drop_duplicates("label").sort_values("label")["class_name"].tolist()
    spaces = "; ".join(f"{m} ({k.upper()}, {r})" for m, k, r in
                       frame[["model", "kind", "representation"]].drop_duplicates().itertuples(index=False))
    pool = f", MLLM pooling {pooling}" if pooling else ""
    note = f"\n{DEMO_NOTE}" if frame["demo"].any() else ""
    head = textwrap.fill(f"t-SNE on {dataset}, {split} split{pool}, {len(chosen)} classes: {', '.join(chosen)}", 150)
    return f"{head}\n{spaces}; dots: objects, stars: category names{note}"


def plot_tsne(frame: pd.DataFrame, out: str, title: str) -> None:
    """Draw :func:`tsne_figure` to ``out``."""
    _save(tsne_figure(frame, title), out)


def tsne_figure(frame: pd.DataFrame, title: str):
    """One row of three panels per model: objects, category names, objects with names.
    Colour is the class; names are large black-edged stars, labelled; other classes' names grey."""
    panels = frame.drop_duplicates("panel")[["panel", "title", "model", "representation"]]
    models = list(dict.fromkeys(panels["model"]))
    chosen = frame[frame["chosen"]].drop_duplicates("label").sort_values("label")["class_name"].tolist()
    palette = dict(zip(chosen, sns.color_palette("tab10", len(chosen))))
    fig, axes = plt.subplots(len(models), 3, figsize=(13.5, 4.1 * len(models) + 1.1), squeeze=False)
    for ax, panel in zip(axes.flat, panels.itertuples(index=False)):
        sub = frame[frame["panel"] == panel.panel]
        objs = sub[sub["what"] == "object"]
        names = sub[(sub["what"] == "name") & sub["chosen"]]
        others = sub[(sub["what"] == "name") & ~sub["chosen"]]
        if len(others):
            sns.scatterplot(data=others, x="x", y="y", color="0.75", marker="*", s=140, edgecolor="0.55",
                            linewidth=0.5, ax=ax, legend=False)
        if len(objs):
            sns.scatterplot(data=objs, x="x", y="y", hue="class_name", hue_order=chosen, palette=palette, s=26,
                            alpha=0.75, ax=ax, legend=False)
        if len(names):
            sns.scatterplot(data=names, x="x", y="y", hue="class_name", hue_order=chosen, palette=palette,
                            marker="*", s=520, edgecolor="black", linewidth=0.8, ax=ax, legend=False, zorder=3)
            if len(chosen) <= 6 and len(objs) == 0:  # label the stars of a names panel, inward
                middle = (sub["x"].min() + sub["x"].max()) / 2
                for point in names.itertuples(index=False):
                    right = point.x > middle
                    text = ax.annotate(textwrap.fill(point.class_name, 22), (point.x, point.y), fontsize=7, zorder=4,
                                       xytext=(-9 if right else 9, 6), textcoords="offset points",
                                       ha="right" if right else "left", va="bottom",
                                       bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
                    text.set_in_layout(False)
        ax.set(title=panel.title, xticks=[], yticks=[], xlabel="", ylabel="")
        ax.margins(0.12)
    for row, model in enumerate(models):
        rep = panels[panels["model"] == model]["representation"].iloc[0]
        axes[row, 0].set_ylabel(f"{model}\n{rep}", fontsize=10)
    handles = [plt.Line2D([], [], marker="o", ls="", color=palette[c], label=c) for c in chosen]
    handles.append(plt.Line2D([], [], marker="*", ls="", color="white", markeredgecolor="black", markersize=14,
                              label="category name"))
    if (~frame["chosen"]).any():
        handles.append(plt.Line2D([], [], marker="*", ls="", color="0.75", markeredgecolor="0.55", markersize=10,
                                  label="other classes' names"))
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    legend_rows = -(-len(handles) // 6)
    fig.tight_layout(rect=(0, (0.35 + 0.25 * legend_rows) / fig.get_figheight(), 1, 1))
    return fig


def summary_frame(dataset: str, probes: dict[str, dict], alignments: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, analysis, group, representation, metric) from the per-model JSONs; an
    accuracy's row also holds ``n`` (test images: the probe's n_test, the alignment's objects) and
    its 95% Wilson interval ``lo``, ``hi`` (fgvr.stats.wilson)."""
    from .stats import wilson

    rows = []
    for analysis, per_model in (("probe", probes), ("alignment", alignments)):
        for model, result in per_model.items():
            for group, per_key in result["results"].items():
                for key, metrics in per_key.items():
                    for metric, value in metrics.items():
                        if isinstance(value, (int, float)):
                            row = {"dataset": dataset, "model": model, "demo": result.get("demo", False),
                                   "analysis": analysis, "group": group, "representation": key,
                                   "metric": metric, "value": value, "n": None, "lo": None, "hi": None}
                            n = metrics.get("n_test") if analysis == "probe" else result.get("n_objects")
                            if metric == "accuracy" and n:
                                row["n"] = n
                                row["lo"], row["hi"] = wilson(round(value * n), n)
                            rows.append(row)
    return pd.DataFrame(rows)


def plot_bars(summary: pd.DataFrame, analysis: str, out: str, title: str) -> None:
    """Accuracy per representation, one facet per model, chance as a dashed line."""
    acc = summary[(summary["analysis"] == analysis) & (summary["metric"] == "accuracy")]
    if acc.empty:
        raise FgvrError(f"no {analysis} accuracies to plot for {out}")
    chance = summary[(summary["analysis"] == analysis) & (summary["metric"] == "chance")]["value"].max()
    hue_order = [g for g in ("objects", "descriptions", "names") if g in set(acc["group"])]
    # three rows per bar (value, lo, hi): the median is the value, the 100% percentile interval
    # [lo, hi] its 95% Wilson interval, drawn by seaborn as the error bar
    bars = pd.concat([acc] + [acc.assign(value=acc[end].fillna(acc["value"])) for end in ("lo", "hi") if end in acc],
                     ignore_index=True)
    grid = sns.catplot(data=bars, kind="bar", x="representation", y="value", hue="group", hue_order=hue_order,
                       col="model", sharex=False, height=3.6, aspect=1.1, palette="Set2", estimator="median",
                       errorbar=("pi", 100))
    for ax in grid.axes.flat:
        ax.axhline(chance, ls="--", color="grey", lw=1)
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", rotation=30)
    grid.set_axis_labels("", "accuracy (bars: 95% Wilson intervals)")
    grid.figure.suptitle(title, fontsize=10)
    grid.figure.tight_layout()
    _save(grid.figure, out)


def _save(fig, out: str) -> None:
    with atomic_path(out, suffix=".partial.png") as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)
