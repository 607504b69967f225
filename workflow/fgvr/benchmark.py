"""The benchmark table: every evaluation's accuracy, one row per model, protocol and metric, one
column per data set plus the average, beside the published numbers (the Finedefics and FOCI papers).

Columns of benchmark.csv: ``model, protocol, metric, source, demo, reference``, then one per data
set (the paper's six first, as registry names; then the others evaluated) and ``avg``. Values
are accuracies in percent on the test split. ``source`` is ``this run``, ``paper`` (a published
table) or ``released`` (the official repository's own prediction files); ``reference`` cites
where a published number comes from. ``avg`` is the mean over the paper's six data sets, given
only for a row that has all six (as the paper's Avg).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import plan
from .io import atomic_path, write_csv

PAPER_DATASETS = {"cub200": "Bird-200", "cars196": "Car-196", "dogs120": "Dog-120", "flowers102": "Flower-102",
                  "pets37": "Pet-37", "aircraft100": "Aircraft"}
_P = list(PAPER_DATASETS)

FINEDEFICS = ("He, Li, Geng, Xu, Peng: Analyzing and Boosting the Power of Fine-Grained Visual Recognition for "
              "Multi-Modal Large Language Models, ICLR 2025 (arXiv 2501.15140), results table")
FOCI = ("Geigle, Timofte, Glavas: African or European Swallow? Benchmarking Large Vision-Language Models for "
        "Fine-Grained Object Classification (FOCI), 2024, results table")
RELEASED = ("Finedefics' released FOCI predictions, FOCI-Benchmark/results/mc/ in github.com/PKU-ICST-MIPL/"
            "Finedefics_ICLR2025; Car-196 there was scored on train images (Stanford Cars' train and test "
            "file names clash), hence 23.87 against the paper's 84.67")
# 4-way multiple-choice accuracy (%), None where the source gives none:
# (model, protocol, metric, source, reference, values in PAPER_DATASETS order, avg as printed)
PAPER_ROWS = [
    ("Finedefics", "mc4-foci", "4-way accuracy", "paper", FINEDEFICS,
     [57.61, 84.67, 72.86, 89.88, 92.18, 63.82], 76.84),
    ("Idefics2-8B", "mc4-foci", "4-way accuracy", "paper", FOCI, [None, 80.25, None, 72.78, 81.28, 56.23], None),
    ("Qwen-VL-Chat", "mc4-foci", "4-way accuracy", "paper", FOCI, [None, 76.23, None, 75.95, 87.82, 45.96], None),
    ("LLaVA-1.5-7B", "mc4-foci", "4-way accuracy", "paper", FOCI, [None, 46.92, None, 51.37, 52.25, 34.71], None),
    ("SigLIP-so400m", "zeroshot", "4-way accuracy", "paper", FOCI, [None, 93.15, None, 93.69, 95.64, 69.10], None),
    ("Finedefics", "mc4-foci", "4-way accuracy", "released", RELEASED, [47.96, 23.87, None, None, None, None], None),
]
META = ["model", "protocol", "metric", "source", "demo", "reference"]
REFERENCE_SOURCES = ("paper", "released")
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
                                        "source": "this run", "demo": False, "reference": ""})
            row["demo"] = row["demo"] or bool(r.get("demo", False))
            row[r["dataset"]] = value
    out = list(rows.values())
    for model, protocol, metric, source, reference, values, avg in PAPER_ROWS:
        out.append({"model": model, "protocol": protocol, "metric": metric, "source": source, "demo": False,
                    "reference": reference, **dict(zip(_P, values)), "avg": avg})
    frame = pd.DataFrame(out, columns=META + columns + ["avg"])
    complete = frame[_P].notna().all(axis=1) & frame["avg"].isna()
    frame.loc[complete, "avg"] = frame.loc[complete, _P].astype(float).mean(axis=1).round(2)
    return frame


def citations(frame: pd.DataFrame) -> dict[str, int]:
    """Each reference the table cites -> its number, in order of first use."""
    cited = [r for r in frame["reference"].fillna("") if r]
    return {r: n for n, r in enumerate(dict.fromkeys(cited), 1)}


def row_label(row, cite: dict[str, int]) -> str:
    """A row's model with its marks: (paper) / (released) and the citation number, or (demo)."""
    if row["source"] in REFERENCE_SOURCES:
        return f"{row['model']} ({row['source']} [{cite[row['reference']]}])"
    return f"{row['model']} (demo)" if row["demo"] else str(row["model"])


def markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown: published rows marked (paper [n]) or (released [n]) with their
    references listed under it, demo rows marked (demo), '-' where there is no number."""
    columns = [c for c in frame.columns if c not in META]
    head = ["model", "protocol", "metric"] + [PAPER_DATASETS.get(c, c) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    cite = citations(frame)
    for _, row in frame.iterrows():
        cells = [row_label(row, cite), row["protocol"], row["metric"]]
        cells += ["-" if pd.isna(row[c]) else f"{float(row[c]):.2f}" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Accuracy (%) on each data set's test split. Rows marked (paper) are published numbers, "
             "(released) the official repository's own prediction files; the others are this run's. Compare a "
             "run's mc4-foci rows (FOCI's protocol, as the paper evaluates) with them. avg: mean over the paper's six "
             "data sets, only for rows that have all six."]
    notes += [""] + [f"[{n}] {reference}" for reference, n in cite.items()]
    if frame["demo"].any():
        notes += ["", f"(demo) {DEMO_NOTE}."]
    return "\n".join(lines + notes) + "\n"


def plot(frame: pd.DataFrame, out: str) -> None:
    """Grouped bars: one group per data set with a number, one bar per row; paper rows hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in frame.columns if c not in META and c != "avg" and frame[c].notna().any()]
    cite = citations(frame)
    labels = [f"{row_label(row, cite)} {row['protocol']} {row['metric']}" for _, row in frame.iterrows()]
    width = 0.8 / max(1, len(frame))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) + 2), 4.5 + 0.18 * len(frame)))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(2, len(frame))))
    for i, (row, label) in enumerate(zip(frame.itertuples(index=False), labels)):
        values = [frame.iloc[i][c] for c in columns]
        x = np.arange(len(columns)) + (i - (len(frame) - 1) / 2) * width
        ax.bar(x, [np.nan if pd.isna(v) else float(v) for v in values], width, label=label, color=colors[i],
               hatch="//" if row.source in REFERENCE_SOURCES else None, edgecolor="black", linewidth=0.3)
    ax.set_xticks(np.arange(len(columns)), [PAPER_DATASETS.get(c, c) for c in columns])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    title = "Benchmark: this run beside the published numbers (hatched)"
    if frame["demo"].any():
        title += f"\n{DEMO_NOTE}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    refs = "\n".join(f"[{n}] {reference}" for reference, n in cite.items())
    fig.text(0.01, 0.005, refs, fontsize=5, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.03 * len(cite), 1, 1))
    with atomic_path(out, suffix=".partial.png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write(frame: pd.DataFrame, csv: str, md: str, png: str, section: str = "") -> None:
    """The table (csv, png) and its markdown, ``section`` (the base / twin comparison) after it."""
    write_csv(csv, frame)
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(frame) + section)
    plot(frame, png)
