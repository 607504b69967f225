"""Two models that answered the same items, compared item by item (fgvr.stats.paired): per
evaluation and metric, how many items b won and lost against a, both right, both wrong; the
difference of accuracies b - a (percentage points) with Newcombe's paired 95% interval, and the
exact McNemar p-value. Used by the base / twin table (fgvr.twins) and for the pairs a user names
(``evaluation.compare``: results/summary/compare.csv and .md).
"""
from __future__ import annotations

import pandas as pd

from . import stats
from .io import atomic_path, read_jsonl, write_csv
from .plan import sighted
from .stats import percent

COLUMNS = ["dataset", "protocol", "metric", "a", "b", "n", "a_value", "a_lo", "a_hi", "b_value", "b_lo", "b_hi",
           "difference", "difference_lo", "difference_hi", "won", "lost", "both_right", "both_wrong", "p_mcnemar"]


def metric_keys(protocol: str) -> list[tuple[str, str]]:
    """(metric, the rows' key that says whether an item is right) of a protocol, in the order
    fgvr.benchmark.metrics_of lists its metrics."""
    if sighted(protocol) == "open":
        return [("exact match", "correct"), ("fuzzy match", "fuzzy_correct")]
    if protocol == "zeroshot":
        return [("4-way accuracy", "correct"), ("all-class accuracy", "correct_all")]
    return [("4-way accuracy", "correct")]


def paired_values(rows_a: list[dict], rows_b: list[dict], key: str) -> dict:
    """stats.paired in percent, with each side's own Wilson interval."""
    got = stats.paired(rows_a, rows_b, key)
    n = got["n"]
    a_k, b_k = got["both_right"] + got["lost"], got["both_right"] + got["won"]
    out = {"n": n, "won": got["won"], "lost": got["lost"], "both_right": got["both_right"],
           "both_wrong": got["both_wrong"], "p_mcnemar": got["p_mcnemar"]}
    for side, k in (("a", a_k), ("b", b_k)):
        lo, hi = stats.wilson(k, n)
        out |= {f"{side}_value": percent(k / n if n else None), f"{side}_lo": percent(lo), f"{side}_hi": percent(hi)}
    out |= {k: percent(got.get(k)) for k in ("difference", "difference_lo", "difference_hi")}
    return out


def compare(jobs: list[dict]) -> pd.DataFrame:
    """``jobs``: {dataset, protocol, a, b, a_rows, b_rows} (fgvr.plan.compare_jobs); one row per
    metric of each."""
    out = []
    for job in jobs:
        rows_a, rows_b = read_jsonl(job["a_rows"]), read_jsonl(job["b_rows"])
        for metric, key in metric_keys(job["protocol"]):
            out.append({"dataset": job["dataset"], "protocol": job["protocol"], "metric": metric, "a": job["a"],
                        "b": job["b"], **paired_values(rows_a, rows_b, key)})
    return pd.DataFrame(out, columns=COLUMNS)


def markdown(frame: pd.DataFrame) -> str:
    lines = ["# Paired comparisons", "",
             "Each pair of models on the items both answered: accuracy (%) with its 95% Wilson interval, the "
             "difference b - a (points) with Newcombe's paired 95% interval, the items b won and lost against a "
             "(both right, both wrong), and the exact McNemar p-value of the won / lost split.", "",
             "| data set | protocol | metric | a | b | n | a | b | b - a [95%] | won / lost | both right / wrong | "
             "McNemar p |", "|" + " --- |" * 12]
    for _, r in frame.iterrows():
        lines.append(f"| {r['dataset']} | {r['protocol']} | {r['metric']} | {r['a']} | {r['b']} | {r['n']} | "
                     f"{interval(r['a_value'], r['a_lo'], r['a_hi'])} | {interval(r['b_value'], r['b_lo'], r['b_hi'])} | "
                     f"{interval(r['difference'], r['difference_lo'], r['difference_hi'], sign=True)} | "
                     f"{r['won']} / {r['lost']} | {r['both_right']} / {r['both_wrong']} | {p_value(r['p_mcnemar'])} |")
    return "\n".join(lines) + "\n"


def interval(value, lo, hi, sign: bool = False) -> str:
    """``57.50 [48.56, 66.02]``; '-' without a value."""
    if value is None or pd.isna(value):
        return "-"
    fmt = "+.2f" if sign else ".2f"
    if lo is None or pd.isna(lo):
        return f"{float(value):{fmt}}"
    return f"{float(value):{fmt}} [{float(lo):{fmt}}, {float(hi):{fmt}}]"


def p_value(p) -> str:
    if p is None or pd.isna(p):
        return "-"
    return f"{float(p):.3g}" if p >= 1e-4 else f"{float(p):.1e}"


def write(frame: pd.DataFrame, csv: str, md: str) -> None:
    write_csv(csv, frame)
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(frame))
