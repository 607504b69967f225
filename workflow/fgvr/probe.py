"""Linear probes (paper Table 1): how much class information a representation holds.

The paper does not publish its probe settings; ours, documented and seeded:

- features are L2-normalised per row, then standardised with the mean and deviation of the
  rows the model is fit on;
- the model is an L2-regularised multinomial logistic regression with scikit-learn's objective,
  ``C * sum_i log_loss_i + 0.5 * ||W||^2`` (intercept unpenalised), so a ``C`` here means what it
  means for ``sklearn.linear_model.LogisticRegression``; it is minimised by full-batch L-BFGS
  in torch (float32; the GPU when there is one), stopping when the largest gradient entry of
  the objective divided by ``C * n`` falls below ``tol`` (sklearn's lbfgs criterion);
- ``C`` is chosen over a grid by accuracy on validation data: the data set's official ``val``
  split where it has one, else a seeded, stratified ``val_fraction`` of train. Ties go to the
  smaller C (stronger regularisation). The grid is walked from small to large C, each fit
  starting from the previous solution. The model is then refit at the chosen C on train + val
  and scored once on test.

Deterministic: no random initialisation (fits start at zero), the held-out split is seeded, and
the same machine gives the same numbers.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .io import FgvrError
from .store import Store

DEFAULT_CS = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
FEATURES = "L2-normalised, standardised on the rows fit"


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


SMALL_WORK = 5e7  # rows x features x classes below which one thread is faster (no OpenMP hand-offs)


@contextmanager
def _threads(work: float, device: str):
    """One CPU thread for small problems: on a busy machine, OpenMP's waiting threads make a
    tiny matmul a hundred times slower; large ones keep torch's thread count."""
    import torch

    before = torch.get_num_threads()
    if device == "cpu" and work < SMALL_WORK:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified split of row indices into (kept, held out): about ``fraction`` of
    every class is held out (rounded, at least one row of a class with two or more, never a
    class's last row). Sorted indices; the same labels, fraction and seed give the same split."""
    if not 0 < fraction < 1:
        raise FgvrError(f"linear probe: val_fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):  # sorted: the draw order does not depend on row order
        rows = np.flatnonzero(labels == c)
        if len(rows) < 2:
            continue
        k = min(len(rows) - 1, max(1, int(np.floor(fraction * len(rows) + 0.5))))
        held.append(rng.permutation(rows)[:k])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=int)
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held


class Standardiser:
    """Row L2 normalisation, then per-feature standardisation with statistics of the fit rows."""

    def __init__(self, x: np.ndarray):
        z = self._normalise(x)
        self.mean = z.mean(0)
        std = z.std(0)
        self.scale = np.where(std > 0, std, 1.0)  # a constant feature stays zero, as in sklearn

    @staticmethod
    def _normalise(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norm > 0, norm, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((self._normalise(x) - self.mean) / self.scale).astype(np.float32)


@dataclass
class Fit:
    """A fitted multinomial logistic regression: logits = x @ coef + intercept."""

    classes: np.ndarray
    coef: np.ndarray        # (D, K)
    intercept: np.ndarray   # (K,)
    C: float
    converged: bool
    n_iter: int
    grad_max: float         # largest |gradient| entry of the objective / (C n) at the end

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32) @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(self.decision_function(x), axis=1)]

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())


def fit_logistic(x: np.ndarray, y: np.ndarray, C: float, max_iter: int = 2000, tol: float = 1e-4,
                 init: Fit | None = None, device: str = "auto") -> Fit:
    """Minimise ``C * sum_i log_loss_i + 0.5 ||W||^2`` (intercept free) on already standardised
    ``x`` by full-batch L-BFGS; ``init`` warm-starts from another fit with the same classes."""
    return fit_path(x, y, [C], max_iter, tol, init, device)[0]


def fit_path(x: np.ndarray, y: np.ndarray, Cs, max_iter: int = 2000, tol: float = 1e-4, init: Fit | None = None,
             device: str = "auto", history: int = 10) -> list[Fit]:
    """One fit per C of ``Cs``, in the given order, each starting from the one before (from
    ``init``, or zero, for the first); see ``fit_logistic``.

    Each L-BFGS iteration costs two products with ``x``: ``x @ direction`` once, so that the
    line search moves along cached logits (its trial points cost a softmax, not a pass over the
    features), and ``x.T @ residual`` for the new gradient. A warm start on the same ``x``
    reuses the logits and the data part of the gradient: moving to the next C costs nothing."""
    import torch

    device = pick_device(device)
    classes, yi = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise FgvrError("linear probe: the training split holds fewer than two classes")
    if init is not None and not np.array_equal(init.classes, classes):
        init = None
    n, d, k = len(yi), np.shape(x)[1], len(classes)
    fits, state = [], None
    with _threads(n * d * k, device), torch.no_grad():
        X = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)
        Y = torch.as_tensor(yi, dtype=torch.long, device=device)
        theta = torch.zeros(d * k + k, device=device)  # W (d, k) row-major, then b (k,)
        if init is not None:
            theta[:d * k] = torch.as_tensor(init.coef.reshape(-1), device=device)
            theta[d * k:] = torch.as_tensor(init.intercept, device=device)
        for i, C in enumerate(Cs):
            result, state = _lbfgs(X, Y, theta, d, k, 1.0 / (C * n), max_iter, tol, history, state,
                                   warm=i > 0 or init is not None)
            fits.append(Fit(classes, theta[:d * k].view(d, k).cpu().numpy().copy(),
                            theta[d * k:].cpu().numpy().copy(), float(C), **result))
    return fits


WARM_REDUCTION = 1e-2


def _lbfgs(X, Y, theta, d: int, k: int, lam: float, max_iter: int, tol: float, history: int, state=None,
           warm: bool = False):
    """L-BFGS on f(W, b) = mean_i log_loss(x_i W + b, y_i) + lam/2 ||W||^2, in place on
    ``theta``; stops when max |grad f| <= tol (scipy's pgtol, as sklearn's lbfgs uses it).
    ``state``: the logits and the data part of the gradient at ``theta``, if known. Returns
    the solver's record and that state at the end."""
    import torch

    n = X.shape[0]
    rows = torch.arange(n, device=X.device)

    def split(v):
        return v[:d * k].view(d, k), v[d * k:]

    def value(Z, W):
        return float((torch.logsumexp(Z, 1) - Z[rows, Y]).mean() + 0.5 * lam * W.pow(2).sum())

    def data_gradient(Z):
        R = torch.softmax(Z, 1)
        R[rows, Y] -= 1
        R /= n
        return torch.cat([(X.T @ R).reshape(-1), R.sum(0)])

    def gradient(W):  # from the data part in state[1]
        g = state[1].clone()
        g[:d * k] += lam * W.reshape(-1)
        return g

    W, b = split(theta)
    if state is None:
        Z = X @ W + b
        state = [Z, data_gradient(Z)]
    Z = state[0]
    f, g = value(Z, W), gradient(W)
    S, Yd, rho = [], [], []
    it, gmax = 0, float(g.abs().max())
    # A warm start (the previous C's optimum) can meet ``tol`` at once when C grows, scoring the
    # new C as the old one: there, also cut the starting gradient a hundredfold.
    goal = min(tol, WARM_REDUCTION * gmax) if warm else tol
    while gmax > goal and it < max_iter:
        q = -g  # two-loop recursion: q = -H g
        alphas = []
        for s, yv, r in zip(reversed(S), reversed(Yd), reversed(rho)):
            a = r * float(s @ q)
            q -= a * yv
            alphas.append(a)
        q *= float(S[-1] @ Yd[-1]) / float(Yd[-1] @ Yd[-1]) if S else min(1.0, 1.0 / float(g.abs().sum()))
        for (s, yv, r), a in zip(zip(S, Yd, rho), reversed(alphas)):
            q += (a - r * float(yv @ q)) * s
        dW, db = split(q)
        slope = float(g @ q)
        if slope >= 0:  # not a descent direction (rounding): restart from the gradient
            S, Yd, rho = [], [], []
            q = -g / float(g.abs().sum())
            dW, db = split(q)
            slope = float(g @ q)
        XD = X @ dW + db
        t, f_new = _wolfe(lambda t: _phi(Z + t * XD, XD, Y, rows, W, dW, lam, t), f, slope)
        if t == 0.0:  # no decrease along the direction: as far as float32 goes
            break
        theta += t * q
        Z = Z + t * XD
        state = [Z, data_gradient(Z)]
        g_new = gradient(W)
        s, yv = t * q, g_new - g
        sy = float(s @ yv)
        if sy > 1e-10 * float(yv @ yv):
            S.append(s)
            Yd.append(yv)
            rho.append(1.0 / sy)
            if len(S) > history:
                S.pop(0), Yd.pop(0), rho.pop(0)
        f, g = f_new, g_new
        gmax = float(g.abs().max())
        it += 1
    return {"converged": gmax <= goal, "n_iter": it, "grad_max": gmax}, state


def _phi(Z, XD, Y, rows, W, dW, lam, t):
    """f and df/dt at W + t dW, b + t db, from the logits Z there and XD = x dW + db."""
    import torch

    lse = torch.logsumexp(Z, 1)
    f = (lse - Z[rows, Y]).mean() + 0.5 * lam * (W + t * dW).pow(2).sum()
    P = torch.exp(Z - lse[:, None])
    df = ((P * XD).sum(1) - XD[rows, Y]).mean() + lam * ((W * dW).sum() + t * dW.pow(2).sum())
    return float(f), float(df)


def _wolfe(phi, f0: float, slope: float, c1: float = 1e-4, c2: float = 0.9, steps: int = 30) -> tuple[float, float]:
    """A step t > 0 meeting the strong Wolfe conditions for phi(t) = (f, f'), starting at t = 1
    (bracketing by doubling, then bisection); (0, f0) if none decreases f. The decrease test
    allows float32 rounding of f (1e-6 relative), so that near the optimum the slope, which
    float32 resolves better than f, still guides the step (as Hager and Zhang's approximate
    Wolfe conditions do)."""
    slack = 1e-6 * abs(f0)
    lo, f_lo, hi, t = 0.0, f0, None, 1.0
    best = (0.0, f0)
    for _ in range(steps):
        f, df = phi(t)
        if f > f0 + c1 * t * slope + slack or (lo > 0 and f > f_lo + slack):
            hi = t
        else:
            if abs(df) <= -c2 * slope:
                return t, f
            if f < best[1] or not best[0]:
                best = (t, f)
            if (df >= 0) if hi is None else (df * (hi - lo) >= 0):
                hi = lo
            lo, f_lo = t, f
        t = 2 * t if hi is None else 0.5 * (lo + hi)
    return best


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 val_x: np.ndarray | None = None, val_y: np.ndarray | None = None, Cs=DEFAULT_CS,
                 val_fraction: float = 0.15, seed: int = 0, max_iter: int = 2000, tol: float = 1e-4,
                 device: str = "auto") -> dict:
    """Choose C on validation data, refit on train + val, score on test.

    With ``val_x``/``val_y`` (the official val split) those are the validation data; without,
    a seeded, stratified ``val_fraction`` of train is held out for the choice (and returned to
    the final fit). Returns test accuracy, chance, the chosen C, every grid point's validation
    accuracy and solver state, the row counts and where the validation data came from."""
    train_x, train_y, test_y = np.asarray(train_x), np.asarray(train_y), np.asarray(test_y)
    if len(np.unique(train_y)) < 2:
        raise FgvrError("linear probe: the training split holds fewer than two classes")
    Cs = sorted(float(c) for c in Cs)
    if not Cs or min(Cs) <= 0:
        raise FgvrError(f"linear probe: the C grid must hold positive numbers, got {Cs}")
    if val_x is not None:
        fit_x, fit_y, sel_x, sel_y = np.asarray(train_x), train_y, np.asarray(val_x), np.asarray(val_y)
        source = "official val split"
    elif len(Cs) > 1:
        kept, held = holdout(train_y, val_fraction, seed)
        if not len(held):
            raise FgvrError("linear probe: too few training images to hold out a validation set; give one C")
        fit_x, fit_y, sel_x, sel_y = train_x[kept], train_y[kept], train_x[held], train_y[held]
        source = f"stratified {val_fraction:g} of train, seed {seed}"
    else:  # one C: nothing to choose
        fit_x, fit_y, sel_x, sel_y = np.asarray(train_x), train_y, None, None
        source = "none (one C)"

    grid, best = [], None
    if sel_x is not None:
        scale = Standardiser(fit_x)
        zf, zs = scale(fit_x), scale(sel_x)
        for fit in fit_path(zf, fit_y, Cs, max_iter, tol, device=device):  # small C to large: warm starts
            grid.append({"C": fit.C, "val_accuracy": fit.accuracy(zs, sel_y), "converged": fit.converged,
                         "n_iter": fit.n_iter})
            if best is None or grid[-1]["val_accuracy"] > best[1]["val_accuracy"]:
                best = (fit, grid[-1])
        chosen, init = best[1]["C"], best[0]
        all_x, all_y = np.concatenate([fit_x, sel_x]), np.concatenate([fit_y, sel_y])
    else:
        chosen, init, all_x, all_y = Cs[0], None, fit_x, fit_y

    scale = Standardiser(all_x)
    final = fit_logistic(scale(all_x), all_y, chosen, max_iter, tol, init=init, device=device)
    pred = final.predict(scale(test_x))
    per_class = {int(c): float((pred[test_y == c] == c).mean()) for c in np.unique(test_y)}
    return {"accuracy": float((pred == test_y).mean()), "chance": 1.0 / len(np.unique(train_y)),
            "C": chosen, "n_train": int(len(fit_y)), "n_val": 0 if sel_y is None else int(len(sel_y)),
            "n_test": int(len(test_y)),
            "selection": {"val_source": source, "grid": grid,
                          "rule": "highest val accuracy; ties to the smaller C; refit on train + val"},
            "solver": {"converged": final.converged, "n_iter": final.n_iter, "grad_max": final.grad_max},
            "per_class_accuracy": per_class}


def probe_stores(train: Store, test: Store, val: Store | None = None, Cs=DEFAULT_CS, val_fraction: float = 0.15,
                 seed: int = 0, max_iter: int = 2000, tol: float = 1e-4, device: str = "auto") -> dict:
    """Probe every representation of every group (objects, descriptions) the files share."""
    results = {}
    settings = dict(Cs=sorted(float(c) for c in Cs), val_fraction=val_fraction, seed=seed, max_iter=max_iter, tol=tol)
    for group in ("objects", "descriptions"):
        keys = set(train.keys(group)) & set(test.keys(group))
        if val is not None:
            keys &= set(val.keys(group))
        if keys:
            results[group] = {
                k: linear_probe(train.groups[group][k], train.labels, test.groups[group][k], test.labels,
                                None if val is None else val.groups[group][k], None if val is None else val.labels,
                                device=device, **settings)
                for k in sorted(keys)}
    if not results:
        raise FgvrError(f"{train.path} and {test.path} share no representation to probe")
    return {"model": test.attrs.get("model", ""), "demo": bool(test.attrs.get("demo", False)),
            "settings": {**settings, "features": FEATURES, "solver": "full-batch L-BFGS (torch, float32)",
                         "objective": "C * sum of log-losses + 0.5 ||W||^2, intercept unpenalised (sklearn's)",
                         "device": pick_device(device)},
            "results": results}
