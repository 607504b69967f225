"""fgvr.stats against independent recomputations: statsmodels' Wilson interval, scipy's exact
binomial test for McNemar, Newcombe's paired interval written out here with numpy's correlation
as phi, and letter shares and per-class accuracies counted by hand on rows whose answers are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from fgvr import stats


@pytest.mark.parametrize("k, n", [(0, 10), (10, 10), (57, 120), (1, 3), (4998, 5794)])
def test_wilson_is_statsmodels_wilson(k, n):
    assert stats.wilson(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-12)
    assert stats.wilson(0, 0) == (None, None)


@pytest.mark.parametrize("won, lost", [(0, 0), (5, 0), (12, 7), (30, 31), (3, 40)])
def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_pairs(won, lost):
    expected = 1.0 if won + lost == 0 else binomtest(won, won + lost, 0.5).pvalue
    assert stats.mcnemar_exact(won, lost) == pytest.approx(expected, rel=1e-12)


def newcombe_by_hand(a: np.ndarray, b: np.ndarray):
    """Newcombe (1998) method 10 for b - a, written out with statsmodels' Wilson and numpy's phi."""
    n = len(a)
    pa, pb = a.mean(), b.mean()
    la, ua = proportion_confint(a.sum(), n, method="wilson")
    lb, ub = proportion_confint(b.sum(), n, method="wilson")
    phi = 0.0 if a.std() == 0 or b.std() == 0 else np.corrcoef(b, a)[0, 1]
    lo = pb - pa - np.sqrt((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    hi = pb - pa + np.sqrt((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    return pb - pa, lo, hi


def test_paired_comparison_of_hand_made_rows():
    rng = np.random.default_rng(0)
    a = rng.random(200) < 0.55
    b = np.where(rng.random(200) < 0.7, a, rng.random(200) < 0.75)
    rows_a = [{"image_id": str(i), "correct": bool(x)} for i, x in enumerate(a)]
    rows_b = [{"image_id": str(i), "correct": bool(x)} for i, x in reversed(list(enumerate(b)))]  # order is free
    rows_b.append({"image_id": "only-b", "correct": True})
    got = stats.paired(rows_a, rows_b)
    won, lost = int((b & ~a).sum()), int((a & ~b).sum())
    assert (got["won"], got["lost"], got["both_right"], got["both_wrong"]) == (won, lost, int((a & b).sum()),
                                                                               int((~a & ~b).sum()))
    assert got["n"] == 200 and got["unpaired"] == 1
    assert got["p_mcnemar"] == pytest.approx(binomtest(won, won + lost, 0.5).pvalue, rel=1e-12)
    diff, lo, hi = newcombe_by_hand(a.astype(float), b.astype(float))
    assert (got["difference"], got["difference_lo"], got["difference_hi"]) == pytest.approx((diff, lo, hi), abs=1e-12)
    assert lo < diff < hi


def test_paired_interval_of_identical_and_opposite_answers():
    same = [{"image_id": str(i), "correct": i % 3 == 0} for i in range(30)]
    got = stats.paired(same, same)
    assert got["difference"] == 0 and got["p_mcnemar"] == 1.0 and got["won"] == got["lost"] == 0
    assert got["difference_lo"] < 0 < got["difference_hi"]  # the margins' own uncertainty
    all_right = [{"image_id": str(i), "correct": True} for i in range(30)]
    all_wrong = [{"image_id": str(i), "correct": False} for i in range(30)]
    got = stats.paired(all_wrong, all_right)
    assert got["difference"] == 1 and got["won"] == 30 and got["difference_hi"] == 1.0
    assert got["p_mcnemar"] == pytest.approx(2 * 0.5 ** 30)


# rows whose answers are known: 8 items, answers at A, B, C, D twice each; the model always says A
KNOWN = [{"image_id": str(i), "label": y, "options": opts, "answer": a, "prediction": opts[0], "correct": a == 0}
         for i, (y, opts, a) in enumerate([(0, [0, 1, 2, 3], 0), (1, [2, 1, 0, 3], 1), (2, [0, 1, 2, 3], 2),
                                           (3, [2, 1, 0, 3], 3), (0, [0, 3, 2, 1], 0), (1, [3, 1, 2, 0], 1),
                                           (2, [1, 0, 2, 3], 2), (3, [0, 1, 2, 3], 3)])]


def test_letter_bias_of_a_model_that_always_says_a():
    bias = stats.position_bias(KNOWN)
    assert bias["letter_share"] == {"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0}
    assert bias["answer_positions"] == {"A": 2, "B": 2, "C": 2, "D": 2}
    assert bias["accuracy_by_position"] == {"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0}
    unanswered = [dict(KNOWN[0], prediction=None, correct=False)] + KNOWN[1:]
    assert stats.position_bias(unanswered)["letter_share"]["A"] == 7 / 8


def test_per_class_accuracy_and_confusions_by_hand():
    classes = pd.DataFrame({"label": [0, 1, 2, 3, 4], "class_name": ["a", "b", "c", "d", "e"]})
    table = stats.per_class(KNOWN, classes).set_index("label")
    # class 0: both right (answer at A); class 1: chose 2 and 3; class 2: chose 0 and 1; class 3: chose 2 and 0
    assert table["n"].tolist() == [2, 2, 2, 2, 0] and table["correct"].tolist() == [2, 0, 0, 0, 0]
    assert table.loc[0, "accuracy"] == 1.0 and pd.isna(table.loc[4, "accuracy"])
    assert (table.loc[0, "accuracy_lo"], table.loc[0, "accuracy_hi"]) == pytest.approx(
        proportion_confint(2, 2, method="wilson"))
    pairs = stats.confusions(KNOWN, classes)
    assert sorted(zip(pairs["label"], pairs["chosen_label"], pairs["count"])) == [
        (1, 2, 1), (1, 3, 1), (2, 0, 1), (2, 1, 1), (3, 0, 1), (3, 2, 1)]
    assert pairs["count"].sum() == sum(not r["correct"] for r in KNOWN)


def test_spread_across_seeds():
    got = stats.spread([0.5, 0.6, 0.7])
    assert got["mean"] == pytest.approx(0.6) and got["sd"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
    assert (got["min"], got["max"], got["n_seeds"]) == (0.5, 0.7, 3) and stats.spread([0.4])["sd"] is None


def write_rows(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_compare_table_of_a_hand_made_rows_file(tmp_path):
    """fgvr.compare on two rows files whose answers are known: a always right on the first half,
    b on items 0-3 and 10-13 (of 16), open protocol with fuzzy matches apart."""
    from fgvr import compare

    a = [{"image_id": str(i), "correct": i < 8, "fuzzy_correct": True} for i in range(16)]
    b = [{"image_id": str(i), "correct": i % 10 < 4, "fuzzy_correct": i != 3} for i in range(16)]
    job = {"dataset": "d", "protocol": "open", "a": "m1", "b": "m2", "a_rows": write_rows(tmp_path / "a.jsonl", a),
           "b_rows": write_rows(tmp_path / "b.jsonl", b)}
    frame = compare.compare([job]).set_index("metric")
    exact = frame.loc["exact match"]
    # b right on 0-3 (a right too) and 10-13 (a wrong); a right alone on 4-7
    assert (exact["both_right"], exact["won"], exact["lost"], exact["both_wrong"]) == (4, 4, 4, 4)
    assert exact["p_mcnemar"] == pytest.approx(binomtest(4, 8, 0.5).pvalue) and exact["difference"] == 0
    assert (exact["a_lo"], exact["a_hi"]) == pytest.approx(tuple(round(100 * v, 2) for v in
                                                                 proportion_confint(8, 16, method="wilson")))
    fuzzy = frame.loc["fuzzy match"]
    assert (fuzzy["won"], fuzzy["lost"], fuzzy["b_value"]) == (0, 1, 93.75)
    assert fuzzy["p_mcnemar"] == 1.0 and fuzzy["difference"] == -6.25
    md = compare.markdown(compare.compare([job]))
    assert "| d | open | exact match | m1 | m2 | 16 |" in md and "4 / 4" in md


def test_per_class_tables_of_a_hand_made_rows_file(tmp_path):
    from fgvr import per_class

    classes = tmp_path / "classes.csv"
    pd.DataFrame({"label": [0, 1, 2, 3], "class_name": list("abcd"), "raw_name": list("abcd")}).to_csv(classes,
                                                                                                   index=False)
    job = {"dataset": "d", "model": "m", "protocol": "mc4-x", "rows": write_rows(tmp_path / "r.jsonl", KNOWN),
           "classes": str(classes)}
    accuracy, confused = per_class.tables([job])
    assert accuracy["accuracy"].tolist() == [1.0, 0.0, 0.0, 0.0] and set(accuracy["model"]) == {"m"}
    assert confused["count"].sum() == 6 and confused["rank"].tolist() == list(range(1, 7))


def test_a_torn_rows_file_is_named_with_its_line(tmp_path):
    """The tables read every evaluation's JSONL rows (fgvr.io.read_jsonl): a line that is not JSON
    (a file edited or cut by hand) stops the job naming the file and the line."""
    from fgvr.io import FgvrError, read_jsonl

    path = tmp_path / "mc4-x.jsonl"
    path.write_text('{"image_id": "a", "correct": true}\n\n{"image_id": "b", "corr\n')
    with pytest.raises(FgvrError, match=r"mc4-x.jsonl: line 3 is not JSON"):
        read_jsonl(path)
    path.write_text('{"image_id": "a", "correct": true}\n\n{"image_id": "b", "correct": false}\n')
    assert [r["image_id"] for r in read_jsonl(path)] == ["a", "b"]
