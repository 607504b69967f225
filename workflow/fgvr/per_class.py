"""Which classes a model gets right, and which it takes for which: per evaluation (the options
file's order), the accuracy per true class with its 95% Wilson interval
(results/summary/per_class.csv) and the ``TOP`` most frequent (true class, chosen class) pairs of
wrong answers (results/summary/confusions.csv). Open answers count by exact match (the class they
name, when they name one); zeroshot by its 4-way choice.
"""
from __future__ import annotations

import pandas as pd

from . import stats
from .datasets.manifest import read_classes
from .io import read_jsonl

TOP = 20  # confused pairs kept per evaluation
KEYS = ["dataset", "model", "protocol"]


def tables(jobs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``jobs``: {dataset, model, protocol, rows, classes} (fgvr.plan.per_class_jobs)."""
    accuracy, confused, classes = [], [], {}
    for job in jobs:
        if job["classes"] not in classes:
            classes[job["classes"]] = read_classes(job["classes"])
        rows, names = read_jsonl(job["rows"]), classes[job["classes"]]
        head = {k: job[k] for k in KEYS}
        accuracy.append(stats.per_class(rows, names).assign(**head))
        pairs = stats.confusions(rows, names).head(TOP)
        confused.append(pairs.assign(rank=range(1, len(pairs) + 1), **head))
    acc = pd.concat(accuracy, ignore_index=True) if accuracy else pd.DataFrame()
    conf = pd.concat(confused, ignore_index=True) if confused else pd.DataFrame()
    return _first(acc), _first(conf)


def _first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in KEYS if c in frame] + [c for c in frame if c not in KEYS]]
