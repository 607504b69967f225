"""Did the recipe help this model? Each fine-tuned twin beside its base: alignment (object ->
name accuracy and cosine gap), linear-probe accuracy and every evaluation both ran, with the
difference twin - base. One CSV (results/summary/twins.csv), a section of benchmark.md and one
figure (results/summary/twins.png).

Measures read ``REPRESENTATION`` (``llm.last``, the paper's EOS state: what stage 1 aligns).
Accuracies are in percent; the cosine gap (matched - unmatched name similarity) is a cosine.
"""
from __future__ import annotations

import pandas as pd

from .io import FgvrError, atomic_path, read_json, write_csv

REPRESENTATION = "llm.last"
COLUMNS = ["dataset", "base", "twin", "measure", "base_value", "twin_value", "difference", "demo", "note"]


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


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
        return {"probe accuracy": (_pct(found["accuracy"]), f"C chosen on {found['selection']['val_source']}")}
    return {"alignment accuracy": (_pct(found["accuracy"]), "object -> name, all classes"),
            "cosine gap": (round(found["gap"], 4), "matched - unmatched name cosine")}


def compare(jobs: list[dict]) -> pd.DataFrame:
    """``jobs``: {dataset, base, twin, kind (probe | alignment | eval), protocol, base_file,
    twin_file}; one row per measure."""
    rows = []
    for job in jobs:
        base, twin = read_json(job["base_file"]), read_json(job["twin_file"])
        ours, theirs = measures(job["kind"], base, job.get("protocol")), measures(job["kind"], twin, job.get("protocol"))
        for measure, (b, note) in ours.items():
            t, twin_note = theirs.get(measure, (None, ""))
            if note != twin_note:
                note = f"base: {note}; twin: {twin_note}"
            rows.append({"dataset": job["dataset"], "base": job["base"], "twin": job["twin"], "measure": measure,
                         "base_value": b, "twin_value": t,
                         "difference": None if b is None or t is None else round(t - b, 4),
                         "demo": bool(base.get("demo", False) or twin.get("demo", False)), "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown(frame: pd.DataFrame) -> str:
    """The comparison as a Markdown section (benchmark.md ends with it)."""
    if frame.empty:
        return ""
    intro = (f"Each model fine-tuned with Finedefics' recipe beside the model it started from ({REPRESENTATION} "
             "for the analyses). difference: twin - base; accuracies in %, the cosine gap a cosine.")
    lines = ["", "## Base and fine-tuned twin", "", intro, "",
             "| data set | base | twin | measure | base | twin | difference | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(value):
        return "-" if pd.isna(value) else f"{float(value):.4g}"

    for _, r in frame.iterrows():
        diff = "-" if pd.isna(r["difference"]) else f"{float(r['difference']):+.4g}"
        lines.append(f"| {r['dataset']} | {r['base']} | {r['twin']} | {r['measure']} | {cell(r['base_value'])} | "
                     f"{cell(r['twin_value'])} | {diff} | {r['note']} |")
    return "\n".join(lines) + "\n"


def plot(frame: pd.DataFrame, out: str) -> None:
    """One figure: per measure (a panel), base and twin side by side per data set, one colour
    pair per twin; the difference written over each twin's bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    long = pd.concat([frame.assign(model=frame["base"] + " (base)", value=frame["base_value"]),
                      frame.assign(model=frame["twin"] + " (twin)", value=frame["twin_value"])], ignore_index=True)
    long = long.dropna(subset=["value"])
    if long.empty:
        raise FgvrError(f"no base / twin values to plot for {out}")
    order = list(dict.fromkeys(m for pair in zip(frame["base"] + " (base)", frame["twin"] + " (twin)") for m in pair))
    measures_, datasets = list(dict.fromkeys(long["measure"])), list(dict.fromkeys(long["dataset"]))
    grid = sns.catplot(data=long, kind="bar", x="dataset", y="value", hue="model", hue_order=order, order=datasets,
                       col="measure", col_order=measures_, col_wrap=min(3, len(measures_)), sharey=False, height=3.0,
                       aspect=1.2, palette="Paired")
    for ax, measure in zip(grid.axes.flat, measures_):
        ax.set_title(measure, fontsize=9)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("")
        part = frame[frame["measure"] == measure]
        for _, r in part.dropna(subset=["difference"]).iterrows():
            ax.annotate(f"{r['difference']:+.3g}", xy=(datasets.index(r["dataset"]),
                                                       max(r["base_value"], r["twin_value"])),
                        ha="center", va="bottom", fontsize=7)
    title = "Did the recipe help? Each fine-tuned twin beside its base (difference: twin - base)"
    if frame["demo"].any():
        from .benchmark import DEMO_NOTE

        title += f"\n{DEMO_NOTE}"
    grid.figure.suptitle(title, fontsize=9)
    grid.figure.tight_layout()
    with atomic_path(out, suffix=".partial.png") as tmp:
        grid.figure.savefig(tmp, dpi=120)
    plt.close(grid.figure)


def write(frame: pd.DataFrame, csv: str, png: str) -> None:
    write_csv(csv, frame)
    plot(frame, png)
