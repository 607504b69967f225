"""How far to trust a number: intervals for accuracies, paired comparisons of two models on the
same items, letter (answer position) bias and per-class accuracies, all from the per-image rows.

- ``wilson``: the 95% Wilson score interval of a proportion k / n (no continuity correction).
- ``paired``: two models' rows joined on image_id: won (b right, a wrong), lost (b wrong, a
  right), both right, both wrong; the difference of accuracies b - a with Newcombe's paired
  interval (1998, method 10: the two Wilson intervals combined with the phi correlation of the
  2x2 table, phi 0 where a margin is empty) and the exact McNemar p-value (two-sided binomial
  test of the discordant pairs: min(1, 2 P[X <= min(won, lost)]), X ~ Binomial(won + lost, 1/2);
  1 when there are none).
- ``position_bias``: per letter (option position) the share of predictions that chose it, the
  number of items whose answer is there and the accuracy on them.
- ``per_class``: per true class the items, how many were right and the accuracy (Wilson interval);
  ``confusions``: (true class, chosen class, count) of every wrong answer that named a class.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

LEVEL = 0.95
Z = float(norm.ppf(1 - (1 - LEVEL) / 2))  # 1.95996...
CI_METHOD = "Wilson score interval, 95%"
PAIRED_METHOD = "Newcombe's paired interval (method 10), 95%; exact McNemar test"
LETTERS = "ABCD"


def percent(x: float | None) -> float | None:
    """A proportion in percent, 2 decimals (None stays None): how the tables show accuracies."""
    return None if x is None else round(100 * x, 2)


def wilson(k: int, n: int, z: float = Z) -> tuple[float | None, float | None]:
    """The Wilson score interval of ``k`` successes in ``n`` trials; (None, None) when n is 0."""
    if not n:
        return None, None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(won: int, lost: int) -> float:
    """Two-sided exact McNemar p-value of ``won`` and ``lost`` discordant pairs."""
    m = won + lost
    if m == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(won, lost), m, 0.5)))


def newcombe_paired(both: int, won: int, lost: int, neither: int, z: float = Z) -> tuple[float, float, float]:
    """(difference, lo, hi) of accuracy b - accuracy a over n = both + won + lost + neither paired
    items: ``both`` right, ``won`` (b right, a wrong), ``lost`` (b wrong, a right), ``neither``."""
    n = both + won + lost + neither
    p_b, p_a = (both + won) / n, (both + lost) / n
    l_b, u_b = wilson(both + won, n, z)
    l_a, u_a = wilson(both + lost, n, z)
    # the 2x2 table of b (rows: right, wrong) against a (columns: right, wrong)
    margins = (both + won) * (lost + neither) * (both + lost) * (won + neither)
    phi = (both * neither - won * lost) / math.sqrt(margins) if margins else 0.0
    diff = p_b - p_a
    lo = diff - math.sqrt(max(0.0, (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2))
    hi = diff + math.sqrt(max(0.0, (u_b - p_b) ** 2 - 2 * phi * (u_b - p_b) * (p_a - l_a) + (p_a - l_a) ** 2))
    return diff, max(-1.0, lo), min(1.0, hi)


def paired(rows_a: list[dict], rows_b: list[dict], key: str = "correct") -> dict:
    """Model a's and model b's rows of the same items (joined on image_id; items only one of them
    answered are left out and counted) compared on ``key``: counts, accuracies, the difference
    b - a with its paired interval and the exact McNemar p-value."""
    a = {r["image_id"]: bool(r[key]) for r in rows_a}
    b = {r["image_id"]: bool(r[key]) for r in rows_b}
    shared = [i for i in a if i in b]
    both = sum(a[i] and b[i] for i in shared)
    won = sum(b[i] and not a[i] for i in shared)
    lost = sum(a[i] and not b[i] for i in shared)
    neither = len(shared) - both - won - lost
    out = {"n": len(shared), "unpaired": len(a) + len(b) - 2 * len(shared), "both_right": both, "won": won,
           "lost": lost, "both_wrong": neither, "p_mcnemar": mcnemar_exact(won, lost)}
    if shared:
        diff, lo, hi = newcombe_paired(both, won, lost, neither)
        out |= {"accuracy_a": (both + lost) / len(shared), "accuracy_b": (both + won) / len(shared),
                "difference": diff, "difference_lo": lo, "difference_hi": hi}
    return out


def option_position(row: dict, pick: str = "prediction") -> int | None:
    """The position (0 = A) of the option a row's ``pick`` names; None when it names none."""
    value = row.get(pick)
    options = row.get("options")
    if value is None or not options or value not in options:
        return None
    return options.index(value)


def position_bias(rows: list[dict]) -> dict:
    """Letter bias of multiple-choice rows: ``letter_share`` (share of all rows whose prediction is
    the option at each letter; answers that name no option count in no letter),
    ``answer_positions`` (rows whose true option is at each letter) and ``accuracy_by_position``
    (accuracy on those rows; None where there are none)."""
    n = len(rows)
    picks = [option_position(r) for r in rows]
    out = {"letter_share": {}, "answer_positions": {}, "accuracy_by_position": {}}
    for j, letter in enumerate(LETTERS):
        at = [r for r in rows if r.get("answer") == j]
        out["letter_share"][letter] = sum(p == j for p in picks) / n if n else None
        out["answer_positions"][letter] = len(at)
        out["accuracy_by_position"][letter] = sum(bool(r["correct"]) for r in at) / len(at) if at else None
    return out


def per_class(rows: list[dict], classes: pd.DataFrame, key: str = "correct") -> pd.DataFrame:
    """One row per class of ``classes`` (label order): label, class_name, n (items of that class),
    correct, accuracy and its Wilson interval (accuracy_lo, accuracy_hi; empty for a class with
    no items)."""
    names = dict(zip(classes["label"].astype(int), classes["class_name"]))
    out = []
    for label in sorted(names):
        mine = [r for r in rows if int(r["label"]) == label]
        k, n = sum(bool(r[key]) for r in mine), len(mine)
        lo, hi = wilson(k, n)
        out.append({"label": label, "class_name": names[label], "n": n, "correct": k,
                    "accuracy": k / n if n else None, "accuracy_lo": lo, "accuracy_hi": hi})
    return pd.DataFrame(out)


def confusions(rows: list[dict], classes: pd.DataFrame, pick: str = "prediction") -> pd.DataFrame:
    """Every (true class, chosen class) pair of wrong answers that named a class, with its count,
    most frequent first (ties by true, then chosen label)."""
    names = dict(zip(classes["label"].astype(int), classes["class_name"]))
    counts: dict[tuple[int, int], int] = {}
    for r in rows:
        chosen = r.get(pick)
        if chosen is not None and int(chosen) != int(r["label"]):
            counts[(int(r["label"]), int(chosen))] = counts.get((int(r["label"]), int(chosen)), 0) + 1
    frame = pd.DataFrame([{"label": t, "class_name": names.get(t, str(t)), "chosen_label": c,
                           "chosen_name": names.get(c, str(c)), "count": k} for (t, c), k in counts.items()],
                         columns=["label", "class_name", "chosen_label", "chosen_name", "count"])
    return frame.sort_values(["count", "label", "chosen_label"], ascending=[False, True, True], ignore_index=True)


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (ddof 1; None for one value), min and max of ``values``."""
    x = np.asarray(values, dtype=float)
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else None,
            "min": float(x.min()), "max": float(x.max()), "n_seeds": int(len(x))}
