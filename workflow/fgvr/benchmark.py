"""The benchmark table: every evaluation's accuracy, one row per model, protocol and metric, one
column per data set plus the average, beside the published numbers (the Finedefics and FOCI papers).

Columns of benchmark.csv: ``model, protocol, metric, source, demo, reference``, then one per data
set (the paper's six first, as registry names; then the others evaluated) and ``avg``, then this
run's 95% Wilson intervals, ``{data set}_lo`` and ``{data set}_hi`` (benchmark.md shows
``acc [lo, hi]``, benchmark.png error bars). Values are accuracies in percent on the test split. ``source`` is ``this run``, ``paper`` (a published
table) or ``released`` (the official repository's own prediction files); ``reference`` cites
where a published number comes from. ``avg`` is the mean over the paper's six data sets, given
only for a row that has all six (as the paper's Avg).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import plan
from .io import atomic_path, write_csv
from .stats import percent

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
    return [(metric, value) for metric, value, _ in metrics_with_intervals(result)]


def metrics_with_intervals(result: dict) -> list[tuple[str, float | None, tuple]]:
    """(metric name, accuracy in %, its 95% interval in % or (None, None)) of one evaluation JSON."""
    def ci(key):
        return tuple(percent(v) for v in (result.get(key) or (None, None)))

    if plan.sighted(result["protocol"]) == "open":
        return [("exact match", percent(result["accuracy"]), ci("accuracy_ci")),
                ("fuzzy match", percent(result["accuracy_fuzzy"]), ci("accuracy_fuzzy_ci"))]
    if result["protocol"] == "zeroshot":
        return [("4-way accuracy", percent(result["accuracy"]), ci("accuracy_ci")),
                ("all-class accuracy", percent(result["accuracy_all"]), ci("accuracy_all_ci"))]
    return [(f"4-way accuracy ({result.get('scoring', 'letters')})", percent(result["accuracy"]), ci("accuracy_ci"))]


def interval_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.endswith(("_lo", "_hi"))]


def table(results: list[dict]) -> pd.DataFrame:
    """This run's rows (in the order given), then the paper's."""
    others = list(dict.fromkeys(r["dataset"] for r in results if r["dataset"] not in PAPER_DATASETS))
    columns = _P + others
    rows: dict[tuple, dict] = {}
    for r in results:
        for metric, value, (lo, hi) in metrics_with_intervals(r):
            key = (r["model"], r["protocol"], metric)
            row = rows.setdefault(key, {"model": r["model"], "protocol": r["protocol"], "metric": metric,
                                        "source": "this run", "demo": False, "reference": ""})
            row["demo"] = row["demo"] or bool(r.get("demo", False))
            row[r["dataset"]] = value
            row[f"{r['dataset']}_lo"], row[f"{r['dataset']}_hi"] = lo, hi
    out = list(rows.values())
    for model, protocol, metric, source, reference, values, avg in PAPER_ROWS:
        out.append({"model": model, "protocol": protocol, "metric": metric, "source": source, "demo": False,
                    "reference": reference, **dict(zip(_P, values)), "avg": avg})
    evaluated = list(dict.fromkeys(r["dataset"] for r in results))
    bounds = [f"{d}_{end}" for d in [c for c in columns if c in evaluated] for end in ("lo", "hi")]
    frame = pd.DataFrame(out, columns=META + columns + ["avg"] + bounds)
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
    columns = [c for c in frame.columns if c not in META and c not in interval_columns(frame)]
    head = ["model", "protocol", "metric"] + [PAPER_DATASETS.get(c, c) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    cite = citations(frame)

    def cell(row, c):
        if pd.isna(row[c]):
            return "-"
        lo, hi = row.get(f"{c}_lo"), row.get(f"{c}_hi")
        if lo is None or pd.isna(lo):
            return f"{float(row[c]):.2f}"
        return f"{float(row[c]):.2f} [{float(lo):.1f}, {float(hi):.1f}]"

    for _, row in frame.iterrows():
        cells = [row_label(row, cite), row["protocol"], row["metric"]] + [cell(row, c) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Accuracy (%) on each data set's test split; this run's with its 95% Wilson interval "
             "[lo, hi] over the test images. Rows marked (paper) are published numbers, "
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

    bounds = interval_columns(frame)
    columns = [c for c in frame.columns if c not in META + bounds and c != "avg" and frame[c].notna().any()]
    cite = citations(frame)
    labels = [f"{row_label(row, cite)} {row['protocol']} {row['metric']}" for _, row in frame.iterrows()]
    width = 0.8 / max(1, len(frame))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) + 2), 4.5 + 0.18 * len(frame)))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(2, len(frame))))
    for i, (row, label) in enumerate(zip(frame.itertuples(index=False), labels)):
        values = [np.nan if pd.isna(frame.iloc[i][c]) else float(frame.iloc[i][c]) for c in columns]
        x = np.arange(len(columns)) + (i - (len(frame) - 1) / 2) * width
        # this run's 95% intervals as error bars (published numbers have none)
        lo = [frame.iloc[i].get(f"{c}_lo", np.nan) for c in columns]
        hi = [frame.iloc[i].get(f"{c}_hi", np.nan) for c in columns]
        err = np.array([[0 if pd.isna(v) or pd.isna(l) else v - float(l) for v, l in zip(values, lo)],
                        [0 if pd.isna(v) or pd.isna(h) else float(h) - v for v, h in zip(values, hi)]])
        ax.bar(x, values, width, label=label, color=colors[i], yerr=err if err.any() else None, capsize=2,
               error_kw={"lw": 0.8},
               hatch="//" if row.source in REFERENCE_SOURCES else None, edgecolor="black", linewidth=0.3)
    ax.set_xticks(np.arange(len(columns)), [PAPER_DATASETS.get(c, c) for c in columns])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    title = "Benchmark: this run (bars: 95% Wilson intervals) beside the published numbers (hatched)"
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


# ---- letter bias and option orders (fgvr.stats)

LETTER_COLUMNS = (["dataset", "model", "protocol", "option_seed", "n"] + [f"share_{x}" for x in "ABCD"]
                  + [f"answers_{x}" for x in "ABCD"] + [f"accuracy_{x}" for x in "ABCD"])


def letter_bias(results: list[dict], option_seed: int) -> pd.DataFrame:
    """Per multiple-choice evaluation (each option order): the share of predictions per letter
    (``share_X``), how many answers are at each letter (``answers_X``) and the accuracy (%) on
    them (``accuracy_X``). ``option_seed``: the options file's own (options.seed)."""
    out = []
    for r in results:
        if "letter_share" not in r:
            continue
        row = {"dataset": r["dataset"], "model": r["model"], "protocol": r["protocol"],
               "option_seed": option_seed if r.get("option_seed") is None else r["option_seed"], "n": r["n"]}
        for x in "ABCD":
            share, acc = r["letter_share"].get(x), r["accuracy_by_position"].get(x)
            row |= {f"share_{x}": None if share is None else round(share, 4), f"answers_{x}": r["answer_positions"][x],
                    f"accuracy_{x}": percent(acc)}
        out.append(row)
    return pd.DataFrame(out, columns=LETTER_COLUMNS)


SEED_COLUMNS = ["dataset", "model", "protocol", "metric", "option_seed", "n", "accuracy", "accuracy_lo", "accuracy_hi",
                "mean", "sd", "min", "max", "n_seeds"]


def option_orders(results: list[dict], option_seed: int) -> pd.DataFrame:
    """Each (blind-)mc4 evaluation under every option order: one row per seed (accuracy in % with
    its Wilson interval), then a row ``option_seed = all`` with the mean, the sample standard
    deviation, min and max across the seeds (in points)."""
    from . import stats

    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if plan.mc4_source(r["protocol"]) is not None:
            groups.setdefault((r["dataset"], r["model"], r["protocol"]), []).append(r)
    out = []
    for (ds, model, protocol), found in groups.items():
        found = sorted(found, key=lambda r: (r.get("option_seed") is not None, r.get("option_seed") or 0))
        metric = metrics_of(found[0])[0][0]
        for r in found:
            lo, hi = (r.get("accuracy_ci") or (None, None))
            out.append({"dataset": ds, "model": model, "protocol": protocol, "metric": metric,
                        "option_seed": str(option_seed if r.get("option_seed") is None else r["option_seed"]),
                        "n": r["n"], "accuracy": percent(r["accuracy"]), "accuracy_lo": percent(lo),
                        "accuracy_hi": percent(hi)})
        spread = stats.spread([100 * r["accuracy"] for r in found])
        out.append({"dataset": ds, "model": model, "protocol": protocol, "metric": metric, "option_seed": "all",
                    "n": found[0]["n"], "accuracy": round(spread["mean"], 2),
                    **{k: None if v is None else round(v, 2) for k, v in spread.items() if k != "n_seeds"},
                    "n_seeds": spread["n_seeds"]})
    return pd.DataFrame(out, columns=SEED_COLUMNS).astype({"n_seeds": "Int64"})


def extra_sections(letters: pd.DataFrame, orders: pd.DataFrame) -> str:
    """benchmark.md's sections on letter bias and option order."""
    lines = ["", "## Letter bias", "",
             "Share of predictions per letter (A-D) and accuracy (%) on the items whose answer is at each letter; "
             "the options are letter-balanced (each letter the answer of a quarter of the items), so a model "
             "without a position preference shares about 0.25 each.", "",
             "| data set | model | protocol | option seed | share A / B / C / D | accuracy at A / B / C / D |",
             "| --- | --- | --- | --- | --- | --- |"]

    def join(row, prefix, fmt):
        return " / ".join("-" if pd.isna(row[f"{prefix}_{x}"]) else format(row[f"{prefix}_{x}"], fmt) for x in "ABCD")

    for _, r in letters.iterrows():
        lines.append(f"| {r['dataset']} | {r['model']} | {r['protocol']} | {r['option_seed']} | "
                     f"{join(r, 'share', '.2f')} | {join(r, 'accuracy', '.1f')} |")
    lines += ["", "## Option order", "",
              "Each multiple-choice evaluation under every option order (evaluation.option_seeds): accuracy (%) "
              "per seed with its 95% Wilson interval, and across the orders their mean, standard deviation and "
              "range.", "",
              "| data set | model | protocol | per seed | mean | sd | min - max |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for (ds, model, protocol), part in orders.groupby(["dataset", "model", "protocol"], sort=False):
        seeds, summary = part[part["option_seed"] != "all"], part[part["option_seed"] == "all"].iloc[0]
        per = "; ".join(f"{r.option_seed}: {r.accuracy:.2f} [{r.accuracy_lo:.1f}, {r.accuracy_hi:.1f}]"
                        if not pd.isna(r.accuracy_lo) else f"{r.option_seed}: {r.accuracy:.2f}"
                        for r in seeds.itertuples())
        sd = "-" if pd.isna(summary["sd"]) else f"{summary['sd']:.2f}"
        lines.append(f"| {ds} | {model} | {protocol} | {per} | {summary['mean']:.2f} | {sd} | "
                     f"{summary['min']:.2f} - {summary['max']:.2f} |")
    return "\n".join(lines) + "\n"


def write(frame: pd.DataFrame, csv: str, md: str, png: str, section: str = "", extra: str = "") -> None:
    """The table (csv, png) and its markdown, ``extra`` (letter bias, option orders) and
    ``section`` (the base / twin comparison) after it."""
    write_csv(csv, frame)
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(frame) + extra + section)
    plot(frame, png)
