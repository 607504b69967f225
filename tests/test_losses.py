"""Stage-1 losses against values worked out by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from fgvr.train import losses

E = math.e
T1 = torch.tensor(1.0)


def eye(n):
    return torch.eye(n)


def test_info_nce_by_hand():
    q = eye(2)
    # logits [[1, 0], [0, 1]]: each row -log(e / (e + 1))
    assert losses.info_nce(q, q, T1).item() == pytest.approx(math.log(1 + 1 / E), abs=1e-6)
    # one hard negative each, orthogonal to the query: -log(e / (e + 2))
    extra = torch.stack([eye(2)[1:], eye(2)[:1]])
    assert losses.info_nce(q, q, T1, extra=extra).item() == pytest.approx(math.log(1 + 2 / E), abs=1e-6)
    # temperature 0.5 doubles the logits: -log(e^2 / (e^2 + 1))
    assert losses.info_nce(q, q, torch.tensor(0.5)).item() == pytest.approx(math.log(1 + E ** -2), abs=1e-6)
    # keys gathered from two GPUs: this GPU's rows start at 2
    keys = torch.cat([-eye(2), eye(2)])
    expected = -math.log(E / (E + 1 + 1 + E ** -1))  # logits of row 0: [-1, 0, 1, 0]
    assert losses.info_nce(q, keys, T1, offset=2).item() == pytest.approx(expected, abs=1e-6)


def test_same_class_names_are_not_negatives():
    names = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # two samples of one class: one name twice
    labels = torch.tensor([3, 3])
    descriptions = eye(2)
    # description 0 -> names: [1, 1] but name 1 is the same class: masked, loss -log(1) = 0 there
    value = losses.ac(descriptions, names, labels, T1)
    # d->n: row 0 logits [1, -inf] -> 0; row 1 logits [-inf, 0] -> 0.  n->d: rows [1, 0] and [0, 1]
    # against targets 0 and 1... with the same-class mask on the descriptions too: both 0.
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    unmasked = losses.info_nce(descriptions, names, T1)
    assert unmasked.item() > 0.3


def test_oa_is_symmetric_info_nce_with_hard_negative_descriptions():
    objects, descriptions = eye(2), eye(2)
    negatives = torch.stack([eye(2)[1:], eye(2)[:1]])
    expected = 0.5 * (math.log(1 + 2 / E) + math.log(1 + 1 / E))  # o->d has the negatives, d->o not
    assert losses.oa(objects, descriptions, T1, negatives).item() == pytest.approx(expected, abs=1e-6)


def test_cc_positive_is_its_own_row_unlike_the_official_code():
    names, labels = eye(3), torch.tensor([0, 1, 2])
    none = torch.zeros(3, 0, 3)
    ours = losses.cc(names, labels, T1, none).item()
    official = losses.official_cc(names, T1, none).item()
    assert ours == pytest.approx(math.log(1 + 2 / E), abs=1e-6)  # every row: -log(e / (e + 2))
    # the official target 0 is right for row 0 only: rows 1 and 2 pay -log(1 / (e + 2))
    assert official == pytest.approx((math.log(1 + 2 / E) + 2 * math.log(E + 2)) / 3, abs=1e-6)


def test_temperature_is_clamped_and_learns():
    assert losses.temperature(torch.tensor(math.log(10.0))).item() == pytest.approx(0.5)
    assert losses.temperature(torch.tensor(math.log(1e-5))).item() == pytest.approx(0.001)
    log_t = torch.tensor(math.log(0.07), requires_grad=True)
    losses.info_nce(eye(2), eye(2), losses.temperature(log_t)).backward()
    assert log_t.grad is not None and log_t.grad.item() != 0
    # with same-class entries masked out (as ac and cc do), the gradient stays finite
    log_t.grad = None
    names, labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0, 1])
    losses.cc(names, labels, losses.temperature(log_t), torch.zeros(3, 0, 2)).backward()
    assert torch.isfinite(log_t.grad)


def test_lm_scores_only_labelled_next_tokens():
    # vocab 3; position 0 predicts token 1 (label at position 1); position 1's label is -100
    logits = torch.tensor([[[0.0, 2.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[-100, 1, -100]])
    expected = -math.log(E ** 2 / (E ** 2 + 2))
    assert losses.lm(logits, labels).item() == pytest.approx(expected, abs=1e-6)


def test_gather_is_the_identity_without_distribution():
    x = torch.randn(3, 2)
    gathered, offset = losses.gather(x)
    assert gathered is x and offset == 0


def _ce(logits, target):
    """-log softmax(logits)[target], by hand."""
    return -(logits[target] - torch.logsumexp(logits, 0)).item()


def test_pooled_negatives_are_every_rows_and_mask_the_own_class():
    """The official collator's one flat list: every row scored against all B x K hard negatives
    of the batch; an entry of the row's own class (another row's negative) is not a negative."""
    torch.manual_seed(0)
    b, k, d = 3, 2, 4
    names = torch.nn.functional.normalize(torch.randn(b, d), dim=-1)
    pool = torch.nn.functional.normalize(torch.randn(b * k, d), dim=-1)
    labels = torch.tensor([0, 1, 2])
    pool_labels = torch.tensor([1, 2, 0, 2, 5, 6])  # row 0's class appears as row 1's second negative
    got = losses.cc(names, labels, T1, pool_names=pool, pool_labels=pool_labels, reduction="sum").item()
    expected = 0.0
    for i in range(b):
        row = [names[i] @ names[j] for j in range(b)] + [names[i] @ pool[p] for p in range(b * k)
                                                          if pool_labels[p] != labels[i]]
        expected += _ce(torch.stack(row), i)
    assert got == pytest.approx(expected, abs=1e-5)
    mean = losses.cc(names, labels, T1, pool_names=pool, pool_labels=pool_labels).item()
    assert mean == pytest.approx(expected / b, abs=1e-5)


def test_ac_name_to_description_has_the_negative_descriptions_when_asked():
    torch.manual_seed(1)
    b, k, d = 2, 1, 3
    descriptions = torch.nn.functional.normalize(torch.randn(b, d), dim=-1)
    names = torch.nn.functional.normalize(torch.randn(b, d), dim=-1)
    negative_names = torch.nn.functional.normalize(torch.randn(b, k, d), dim=-1)
    negative_descriptions = torch.nn.functional.normalize(torch.randn(b, k, d), dim=-1)
    labels = torch.tensor([0, 1])
    to_names = sum(_ce(torch.cat([descriptions[i] @ names.T, negative_names[i] @ descriptions[i]]), i) for i in range(b))
    plain = sum(_ce(names[i] @ descriptions.T, i) for i in range(b))
    official = sum(_ce(torch.cat([names[i] @ descriptions.T, negative_descriptions[i] @ names[i]]), i) for i in range(b))
    assert losses.ac(descriptions, names, labels, T1, negative_names).item() == pytest.approx(
        0.5 * (to_names + plain) / b, abs=1e-5)
    assert losses.ac(descriptions, names, labels, T1, negative_names,
                     negative_descriptions=negative_descriptions).item() == pytest.approx(0.5 * (to_names + official) / b,
                                                                                          abs=1e-5)


def test_uneven_gather_pads_and_keeps_only_the_own_rows_differentiable(monkeypatch):
    """gather on a pretend 3-process group holding 2, 1 and 0 rows: rows in rank order, the
    padding dropped, this process's own rows (rank 1) carrying the gradient, the others constant."""
    import torch.distributed as dist

    held = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0, 6.0]]), torch.zeros(0, 2)]
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 3)
    monkeypatch.setattr(dist, "get_rank", lambda group=None: 1)

    def all_gather(out, tensor, group=None):
        if tensor.dtype == torch.long:  # the sizes
            for o, h in zip(out, held):
                o.copy_(torch.tensor([len(h)]))
        else:
            for o, h in zip(out, held):
                o.zero_()
                o[:len(h)] = h

    monkeypatch.setattr(dist, "all_gather", all_gather)
    mine = held[1].clone().requires_grad_(True)
    rows, offset = losses.gather(mine)
    assert offset == 2 and rows.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    rows.sum().backward()
    assert mine.grad.tolist() == [[1.0, 1.0]]
