"""The benchmark table: every evaluation's accuracy, one row per model, protocol and metric, one
column per data set plus the average, beside the paper's numbers (REFERENCE.md section 5).

Columns of benchmark.csv: ``model, protocol, metric, source, demo, unverified``, then one per data
set (the paper's six first, as registry names; then the others evaluated) and ``avg``. Values
are accuracies in percent on the test split. ``source`` is ``this run`` or ``paper``; paper rows
list in ``unverified`` the data sets whose number REFERENCE.md marks [?]. ``avg`` is the mean over
the paper's six data sets, given only for a row that has all six (as the paper's Avg).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import plan
from .io import atomic_path, write_csv

PAPER_DATASETS = {"cub200": "Bird-200", "cars196": "Car-196", "dogs120": "Dog-120", "flowers102": "Flower-102",
                  "pets37": "Pet-37", "aircraft100": "Aircraft"}
_P = list(PAPER_DATASETS)

# REFERENCE.md section 5: 4-way multiple-choice accuracy (%); None where the paper gives none.
# (model, protocol, metric, values in PAPER_DATASETS order, avg as printed, data sets marked [?])
PAPER_ROWS = [
    ("Finedefics", "mc4-foci", "4-way accuracy", [57.61, 84.67, 72.86, 89.88, 92.18, 63.82], 76.84,
     ["cub200", "dogs120", "flowers102", "pets37", "aircraft100", "avg"]),
    ("Idefics2-8B", "mc4-foci", "4-way accuracy", [None, 80.25, None, 72.78, 81.28, 56.23], None, []),
    ("Qwen-VL-Chat", "mc4-foci", "4-way accuracy", [None, 76.23, None, 75.95, 87.82, 45.96], None, []),
    ("LLaVA-1.5-7B", "mc4-foci", "4-way accuracy", [None, 46.92, None, 51.37, 52.25, 34.71], None, []),
    ("SigLIP-so400m", "zeroshot", "4-way accuracy", [None, 93.15, None, 93.69, 95.64, 69.10], None, []),
]
META = ["model", "protocol", "metric", "source", "demo", "unverified"]
DEMO_NOTE = "demo rows: tiny random-init models; their numbers say nothing about real models"


def metrics_of(result: dict) -> list[tuple[str, float | None]]:
    """(metric name, accuracy in %) rows of one evaluation JSON."""
    def pct(x):
        return None if x is None else round(100 * x, 2)

    if plan.sighted(result["protocol"]) == "open":
        return [("exact match", pct(result["accuracy"])), ("fuzzy match", pct(result["accuracy_fuzzy"]))]
    if result["protocol"] == "zeroshot":
        return [("4-way accuracy", pct(result["accuracy"])), ("all-class accuracy", pct(result["accuracy_all"]))]
    return [(f"4-way accuracy ({result.get('scoring', 'letters')})", pct(result["accuracy"]))]


def table(results: list[dict]) -> pd.DataFrame:
    """This run's rows (in the order given), then the paper's."""
    others = list(dict.fromkeys(r["dataset"] for r in results if r["dataset"] not in PAPER_DATASETS))
    columns = _P + others
    rows: dict[tuple, dict] = {}
    for r in results:
        for metric, value in metrics_of(r):
            key = (r["model"], r["protocol"], metric)
            row = rows.setdefault(key, {"model": r["model"], "protocol": r["protocol"], "metric": metric,
                                        "source": "this run", "demo": False, "unverified": ""})
            row["demo"] = row["demo"] or bool(r.get("demo", False))
            row[r["dataset"]] = value
    out = list(rows.values())
    for model, protocol, metric, values, avg, unverified in PAPER_ROWS:
        row = {"model": model, "protocol": protocol, "metric": metric, "source": "paper", "demo": False,
               "unverified": ";".join(unverified), **dict(zip(_P, values)), "avg": avg}
        out.append(row)
    frame = pd.DataFrame(out, columns=META + columns + ["avg"])
    complete = frame[_P].notna().all(axis=1) & frame["avg"].isna()
    frame.loc[complete, "avg"] = frame.loc[complete, _P].astype(float).mean(axis=1).round(2)
    return frame


def markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown: paper rows marked (paper) with [?] on unverified numbers, demo rows
    marked (demo), '-' where there is no number."""
    columns = [c for c in frame.columns if c not in META]
    head = ["model", "protocol", "metric"] + [PAPER_DATASETS.get(c, c) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for _, row in frame.iterrows():
        unverified = set(filter(None, row["unverified"].split(";")))
        mark = " (paper)" if row["source"] == "paper" else " (demo)" if row["demo"] else ""
        cells = [f"{row['model']}{mark}", row["protocol"], row["metric"]]
        for c in columns:
            value = row[c]
            cells.append("-" if pd.isna(value) else f"{float(value):.2f}" + (" [?]" if c in unverified else ""))
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Accuracy (%) on each data set's test split. Rows marked (paper) are the paper's numbers "
             "(REFERENCE.md section 5; [?]: unverified there); the others are this run's. avg: mean over the "
             "paper's six data sets, only for rows that have all six."]
    if frame["demo"].any():
        notes.append(f"(demo) {DEMO_NOTE}.")
    return "\n".join(lines + notes) + "\n"


def plot(frame: pd.DataFrame, out: str) -> None:
    """Grouped bars: one group per data set with a number, one bar per row; paper rows hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in frame.columns if c not in META and c != "avg" and frame[c].notna().any()]
    labels = [f"{r.model} {r.protocol} {r.metric}" + (" (paper)" if r.source == "paper" else " (demo)" if r.demo else "")
              for r in frame.itertuples()]
    width = 0.8 / max(1, len(frame))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) + 2), 4.5 + 0.18 * len(frame)))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(2, len(frame))))
    for i, (row, label) in enumerate(zip(frame.itertuples(index=False), labels)):
        values = [frame.iloc[i][c] for c in columns]
        x = np.arange(len(columns)) + (i - (len(frame) - 1) / 2) * width
        ax.bar(x, [np.nan if pd.isna(v) else float(v) for v in values], width, label=label, color=colors[i],
               hatch="//" if row.source == "paper" else None, edgecolor="black", linewidth=0.3)
    ax.set_xticks(np.arange(len(columns)), [PAPER_DATASETS.get(c, c) for c in columns])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    title = "Benchmark: this run beside the paper's numbers (hatched)"
    if frame["demo"].any():
        title += f"\n{DEMO_NOTE}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.tight_layout()
    with atomic_path(out, suffix=".partial.png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write(frame: pd.DataFrame, csv: str, md: str, png: str) -> None:
    write_csv(csv, frame)
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(frame))
    plot(frame, png)
