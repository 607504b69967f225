"""Did the recipe help this model? Each fine-tuned twin beside its base: alignment (object ->
name accuracy and cosine gap), linear-probe accuracy and every evaluation both ran, with the
difference twin - base. One CSV (results/summary/twins.csv), a section of benchmark.md and one
figure (results/summary/twins.png).

Measures read ``REPRESENTATION`` (``llm.last``, the paper's EOS state: what stage 1 aligns).
Accuracies are in percent; the cosine gap (matched - unmatched name similarity) is a cosine.
Every accuracy has its 95% Wilson interval (``base_lo``, ``base_hi``, ``twin_lo``, ``twin_hi``);
an evaluation, whose rows both models answered image by image, also the paired comparison of
fgvr.compare: ``difference_lo``, ``difference_hi`` (Newcombe), ``won``, ``lost``, ``both_right``,
``both_wrong`` (twin against base) and ``p_mcnemar`` (exact). Per class (``classes``): each
class's accuracy under base and twin, and whether the twin gained or lost it
(results/summary/twins_classes.csv and .png).
"""
from __future__ import annotations

import pandas as pd

from . import stats
from .compare import interval, metric_keys, p_value, paired_values
from .io import FgvrError, atomic_path, read_json, read_jsonl, write_csv
from .stats import percent

REPRESENTATION = "llm.last"
PAIRED = ["difference_lo", "difference_hi", "won", "lost", "both_right", "both_wrong", "p_mcnemar"]
COLUMNS = ["dataset", "base", "twin", "measure", "base_value", "twin_value", "difference", "base_lo", "base_hi",
           "twin_lo", "twin_hi", *PAIRED, "demo", "note"]
CLASS_COLUMNS = ["dataset", "base", "twin", "protocol", "label", "class_name", "n", "base_accuracy",
                 "twin_accuracy", "difference", "change"]


def measures(kind: str, result: dict, protocol: str | None = None) -> dict[str, tuple[float | None, str]]:
    """measure -> (value, note) of one result JSON (probe, alignment or evaluation)."""
    from .benchmark import metrics_of

    if kind == "eval":
        return {f"{protocol} {metric}": (value, "") for metric, value in metrics_of(result)}
    group = "objects" if kind == "probe" else "names"
    found = result["results"].get(group, {}).get(REPRESENTATION)
    if found is None:
        raise FgvrError(f"{kind} results hold no {group}/{REPRESENTATION}")
    if kind == "probe":
        return {"probe accuracy": (percent(found["accuracy"]), f"C chosen on {found['selection']['val_source']}")}
    return {"alignment accuracy": (percent(found["accuracy"]), "object -> name, all classes"),
            "cosine gap": (round(found["gap"], 4), "matched - unmatched name cosine")}


def intervals(kind: str, result: dict) -> list[tuple[float | None, float | None]]:
    """The 95% Wilson interval (in %) of each accuracy ``measures`` gives, in its order (None for
    the cosine gap, and for an evaluation JSON made before intervals were recorded)."""
    def pct(pair):
        return tuple(percent(v) for v in pair)

    if kind == "eval":
        keys = {"exact match": "accuracy_ci", "fuzzy match": "accuracy_fuzzy_ci",
                "all-class accuracy": "accuracy_all_ci"}
        return [pct(result.get(keys.get(metric, "accuracy_ci")) or (None, None))
                for metric, _ in metric_keys(result["protocol"])]
    group = "objects" if kind == "probe" else "names"
    found = result["results"][group][REPRESENTATION]
    n = found.get("n_test") if kind == "probe" else result.get("n_objects")
    ci = pct(stats.wilson(round(found["accuracy"] * n), n)) if n else (None, None)
    return [ci] if kind == "probe" else [ci, (None, None)]


def compare(jobs: list[dict]) -> pd.DataFrame:
    """``jobs``: {dataset, base, twin, kind (probe | alignment | eval), protocol, base_file,
    twin_file, and for an evaluation base_rows, twin_rows}; one row per measure."""
    rows = []
    for job in jobs:
        base, twin = read_json(job["base_file"]), read_json(job["twin_file"])
        ours, theirs = measures(job["kind"], base, job.get("protocol")), measures(job["kind"], twin, job.get("protocol"))
        ci_base, ci_twin = intervals(job["kind"], base), intervals(job["kind"], twin)
        pairs = [{}] * len(ours)
        if job["kind"] == "eval" and job.get("base_rows"):
            base_rows, twin_rows = read_jsonl(job["base_rows"]), read_jsonl(job["twin_rows"])
            pairs = [paired_values(base_rows, twin_rows, key) for _, key in metric_keys(job["protocol"])]
        for (measure, (b, note)), lo_hi_b, lo_hi_t, pair in zip(ours.items(), ci_base, ci_twin, pairs):
            t, twin_note = theirs.get(measure, (None, ""))
            if note != twin_note:
                note = f"base: {note}; twin: {twin_note}"
            rows.append({"dataset": job["dataset"], "base": job["base"], "twin": job["twin"], "measure": measure,
                         "base_value": b, "twin_value": t,
                         "difference": None if b is None or t is None else round(t - b, 4),
                         "base_lo": lo_hi_b[0], "base_hi": lo_hi_b[1], "twin_lo": lo_hi_t[0], "twin_hi": lo_hi_t[1],
                         **{k: pair.get(k) for k in PAIRED},
                         "demo": bool(base.get("demo", False) or twin.get("demo", False)), "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)


def class_changes(jobs: list[dict]) -> pd.DataFrame:
    """Per evaluation both ran and each class: its accuracy (%) under base and twin (exact
    match for open) and whether the twin ``gained``, ``lost`` or kept it (``same``)."""
    from .datasets.manifest import read_classes

    out = []
    for job in [j for j in jobs if j["kind"] == "eval" and j.get("base_rows")]:
        classes = read_classes(job["classes"])
        base = stats.per_class(read_jsonl(job["base_rows"]), classes)
        twin = stats.per_class(read_jsonl(job["twin_rows"]), classes)
        for b, t in zip(base.itertuples(index=False), twin.itertuples(index=False)):
            if not b.n:
                continue
            diff = round(100 * (t.accuracy - b.accuracy), 2)
            out.append({"dataset": job["dataset"], "base": job["base"], "twin": job["twin"],
                        "protocol": job["protocol"], "label": b.label, "class_name": b.class_name, "n": b.n,
                        "base_accuracy": round(100 * b.accuracy, 2), "twin_accuracy": round(100 * t.accuracy, 2),
                        "difference": diff, "change": "gained" if diff > 0 else "lost" if diff < 0 else "same"})
    return pd.DataFrame(out, columns=CLASS_COLUMNS)


def markdown(frame: pd.DataFrame) -> str:
    """The comparison as a Markdown section (benchmark.md ends with it)."""
    if frame.empty:
        return ""
    intro = (f"Each model fine-tuned with Finedefics' recipe beside the model it started from ({REPRESENTATION} "
             "for the analyses). difference: twin - base; accuracies in %, the cosine gap a cosine.")
    intro += (" Brackets: 95% intervals (Wilson for an accuracy; for an evaluation's difference Newcombe's "
              "paired interval over the images both answered). won / lost: images the twin got right and the base "
              "wrong / the reverse; p: exact McNemar test of that split.")
    lines = ["", "## Base and fine-tuned twin", "", intro, "",
             "| data set | base | twin | measure | base | twin | difference | won / lost | McNemar p | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(value, lo=None, hi=None):
        if pd.isna(value):
            return "-"
        return f"{float(value):.4g}" if lo is None or pd.isna(lo) else interval(value, lo, hi)

    for _, r in frame.iterrows():
        if pd.isna(r["difference"]):
            diff = "-"
        elif pd.isna(r["difference_lo"]):
            diff = f"{float(r['difference']):+.4g}"
        else:
            diff = interval(r["difference"], r["difference_lo"], r["difference_hi"], sign=True)
        won = "-" if pd.isna(r["won"]) else f"{int(r['won'])} / {int(r['lost'])}"
        lines.append(f"| {r['dataset']} | {r['base']} | {r['twin']} | {r['measure']} | "
                     f"{cell(r['base_value'], r['base_lo'], r['base_hi'])} | "
                     f"{cell(r['twin_value'], r['twin_lo'], r['twin_hi'])} | {diff} | {won} | "
                     f"{p_value(r['p_mcnemar'])} | {r['note']} |")
    return "\n".join(lines) + "\n"


def class_markdown(changes: pd.DataFrame, top: int = 5) -> str:
    """Per evaluation: how many classes the twin gained and lost, and the ``top`` of each."""
    if changes.empty:
        return ""
    lines = ["", "### Classes gained and lost", ""]
    for (ds, base, twin, protocol), part in changes.groupby(["dataset", "base", "twin", "protocol"], sort=False):
        ordered = part.sort_values(["difference", "label"], ascending=[False, True])
        gained, lost = ordered[ordered["change"] == "gained"], ordered[ordered["change"] == "lost"][::-1]

        def names(rows):
            return ", ".join(f"{r.class_name} ({r.difference:+.0f})" for r in rows.head(top).itertuples()) or "none"

        lines.append(f"- {ds}, {protocol}, {base} -> {twin}: {len(gained)} classes gained ({names(gained)}), "
                     f"{len(lost)} lost ({names(lost)}), {int((part['change'] == 'same').sum())} unchanged")
    return "\n".join(lines) + "\n"


def plot(frame: pd.DataFrame, out: str) -> None:
    """One figure: per measure (a panel), base and twin side by side per data set, one colour
    pair per twin; the difference written over each twin's bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    # three rows per bar (value, lo, hi; lo = hi = value without an interval): the median is the
    # value and the 100% percentile interval [lo, hi], which seaborn draws as the error bar
    parts = []
    for role in ("base", "twin"):
        lo = frame[f"{role}_lo"].fillna(frame[f"{role}_value"])
        hi = frame[f"{role}_hi"].fillna(frame[f"{role}_value"])
        for value in (frame[f"{role}_value"], lo, hi):
            parts.append(frame.assign(model=frame[role] + f" ({role})", value=value))
    long = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    if long.empty:
        raise FgvrError(f"no base / twin values to plot for {out}")
    order = list(dict.fromkeys(m for pair in zip(frame["base"] + " (base)", frame["twin"] + " (twin)") for m in pair))
    measures_, datasets = list(dict.fromkeys(long["measure"])), list(dict.fromkeys(long["dataset"]))
    grid = sns.catplot(data=long, kind="bar", x="dataset", y="value", hue="model", hue_order=order, order=datasets,
                       col="measure", col_order=measures_, col_wrap=min(3, len(measures_)), sharey=False, height=3.0,
                       aspect=1.2, palette="Paired", estimator="median", errorbar=("pi", 100))
    for ax, measure in zip(grid.axes.flat, measures_):
        ax.set_title(measure, fontsize=9)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("")
        part = frame[frame["measure"] == measure]
        for _, r in part.dropna(subset=["difference"]).iterrows():
            ax.annotate(f"{r['difference']:+.3g}", xy=(datasets.index(r["dataset"]),
                                                       max(r["base_value"], r["twin_value"])),
                        ha="center", va="bottom", fontsize=7)
    title = "Did the recipe help? Each fine-tuned twin beside its base (difference: twin - base; bars: 95% intervals)"
    if frame["demo"].any():
        from .benchmark import DEMO_NOTE

        title += f"\n{DEMO_NOTE}"
    grid.figure.suptitle(title, fontsize=9)
    grid.figure.tight_layout()
    with atomic_path(out, suffix=".partial.png") as tmp:
        grid.figure.savefig(tmp, dpi=120)
    plt.close(grid.figure)


def plot_classes(changes: pd.DataFrame, out: str, demo: bool = False) -> None:
    """Per-class accuracy, base (x) against twin (y), one point per class, one panel per data set
    and protocol; above the diagonal the twin gained the class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    if changes.empty:  # no evaluation both ran: say so rather than leave no figure
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no evaluation that both a twin and its base ran", ha="center", va="center")
        figure = fig
    else:
        panel = changes.assign(panel=changes["dataset"] + ", " + changes["protocol"] + "\n" + changes["base"] + " -> "
                               + changes["twin"])
        grid = sns.relplot(data=panel, x="base_accuracy", y="twin_accuracy", hue="change",
                           hue_order=["gained", "same", "lost"], palette={"gained": "tab:green", "same": "grey",
                                                                          "lost": "tab:red"},
                           col="panel", col_wrap=min(3, panel["panel"].nunique()), height=3.4, s=40, alpha=0.8)
        for ax in grid.axes.flat:
            ax.plot([0, 100], [0, 100], ls="--", color="grey", lw=0.8)
            ax.set(xlim=(-5, 105), ylim=(-5, 105), xlabel="base accuracy per class (%)",
                   ylabel="twin accuracy per class (%)")
            ax.set_title(ax.get_title().removeprefix("panel = "), fontsize=8)
        figure = grid.figure
        title = "Per-class accuracy, base against fine-tuned twin (one point per class)"
        if demo:
            from .benchmark import DEMO_NOTE

            title += f"\n{DEMO_NOTE}"
        figure.suptitle(title, fontsize=9)
        figure.tight_layout()
    with atomic_path(out, suffix=".partial.png") as tmp:
        figure.savefig(tmp, dpi=120)
    plt.close(figure)


def write(frame: pd.DataFrame, csv: str, png: str, md: str | None = None, changes: pd.DataFrame | None = None,
          classes_csv: str | None = None, classes_png: str | None = None) -> None:
    """The comparison (csv, png; md: its markdown, the per-class gains and losses after it) and the
    per-class changes (csv, png) where given."""
    write_csv(csv, frame)
    plot(frame, png)
    if md is not None:
        with atomic_path(md) as tmp:
            tmp.write_text(markdown(frame).lstrip("\n") + (class_markdown(changes) if changes is not None else ""))
    if changes is not None and classes_csv:
        write_csv(classes_csv, changes)
        plot_classes(changes, classes_png, bool(frame["demo"].any()) if len(frame) else False)
