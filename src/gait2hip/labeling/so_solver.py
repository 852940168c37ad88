"""Batched solver for OpenSim's static-optimization problem (activation exponent 2).

Every frame ``b`` is the quadratic programme OpenSim's ``StaticOptimization`` solves with
IPOPT, one frame at a time::

    minimise   sum_i x_i**2
    subject to A[b] @ x = tau[b]          (one row per free coordinate)
               lower <= x <= upper        (muscle activation bounds; reserves unbounded)

where column ``i`` of ``A`` is the generalized force of actuator ``i`` at unit control
(``moment arm x active force capacity`` for a muscle, the optimal force for a coordinate
actuator). The problem is strictly convex, so its dual is a smooth concave function of one
multiplier per coordinate (a handful of numbers per frame)::

    x(lam) = clip(A.T @ lam, lower, upper),    grad = tau - A @ x(lam)

and a semismooth Newton method on the multipliers with a backtracking line search on the dual
solves all frames at once with small dense ``(m, m)`` systems. It starts from the
unconstrained least-norm solution, which is already optimal whenever no bound is active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SOSolution:
    """Controls ``x`` (frames, actuators) and how well each frame was solved."""

    x: np.ndarray
    residual: np.ndarray  # (frames,) max |A x - tau| (generalized-force units)
    iterations: int
    converged: np.ndarray  # (frames,) bool


def _dual(lam, A, tau, lower, upper):
    v = (lam[:, None, :] @ A)[:, 0]
    x = np.clip(v, lower, upper)
    # g(lam) = lam.tau + min_x (1/2 |x|^2 - v.x) over the box
    g = (lam * tau).sum(axis=1) + (x * (0.5 * x - v)).sum(axis=1)
    return g, v, x


def solve_so(
    A: np.ndarray,
    tau: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    tol: float = 1e-9,
    max_iter: int = 500,
) -> SOSolution:
    """Solve ``min |x|^2  s.t.  A x = tau, lower <= x <= upper`` for every frame at once.

    ``A``: (frames, coordinates, actuators); ``tau``: (frames, coordinates); ``lower`` and
    ``upper``: (actuators,) or (frames, actuators), ``-inf``/``inf`` allowed. ``tol`` is on the
    generalized-force residual (N·m). Frames whose constraints cannot be met within the bounds
    come back with ``converged=False`` and their best effort.
    """
    A = np.asarray(A, dtype=float)
    tau = np.asarray(tau, dtype=float)
    if A.ndim != 3 or tau.shape != A.shape[:2]:
        raise ValueError(f"A must be (frames, m, n), tau (frames, m); got {A.shape}, {tau.shape}")
    B, m, n = A.shape
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (B, n))
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (B, n))
    if np.any(lower > upper):
        raise ValueError("a lower bound exceeds its upper bound")
    # a row met by one actuator that acts on no other row (a reserve on a coordinate no muscle
    # crosses) decouples: its control is tau / a there; the batched QP solves the rest
    acts = np.abs(A).max(axis=0) > 0  # (m, n): actuator acts on the row at some frame
    own = acts & (acts.sum(axis=0) == 1)[None, :]
    alone = np.nonzero((acts.sum(axis=1) == 1) & own.any(axis=1))[0]
    cols = acts[alone].argmax(axis=1)
    x = np.clip(np.zeros((B, n)), lower, upper)
    a = A[:, alone, cols]
    x[:, cols] = np.clip(
        np.divide(tau[:, alone], a, out=np.zeros_like(a), where=a != 0),
        lower[:, cols],
        upper[:, cols],
    )
    rows = np.setdiff1d(np.arange(m), alone)
    rest = np.setdiff1d(np.arange(n), cols)
    iterations = 0
    if len(rows):
        sub = np.ix_(np.arange(B), rows, rest)
        x[:, rest], iterations = _solve_coupled(
            A[sub], tau[:, rows], lower[:, rest], upper[:, rest], tol, max_iter
        )
    r = tau - (A @ x[..., None])[..., 0]
    res = np.abs(r).max(axis=1)
    return SOSolution(x=x, residual=res, iterations=iterations, converged=res <= max(tol, 1e-6))


def _solve_coupled(A, tau, lower, upper, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """The semismooth Newton method of the module docstring on (frames, m, n) problems."""
    m = A.shape[1]
    eye = np.eye(m)
    # start: least-norm solution of A x = tau (ridge-regularised), as multipliers
    At = A.transpose(0, 2, 1)
    gram = A @ At + 1e-12 * eye
    lam = np.linalg.solve(gram, tau[..., None])[..., 0]
    g, v, x = _dual(lam, A, tau, lower, upper)
    iterations = 0
    while iterations < max_iter:
        r = tau - (A @ x[..., None])[..., 0]
        todo = np.nonzero(np.abs(r).max(axis=1) > tol)[0]
        if not len(todo):
            break
        iterations += 1
        # only the frames not yet solved take a step (most frames need a few; a hard one, e.g.
        # with reserves far from their optimal force, may need a hundred)
        Ak, Atk, rk = A[todo], At[todo], r[todo]
        free = ((v[todo] > lower[todo]) & (v[todo] < upper[todo])).astype(float)
        H = (Ak * free[:, None, :]) @ Atk + 1e-12 * eye
        # a frame whose every actuator is at a bound has a singular H: take a gradient step
        step_dir = np.linalg.solve(
            H + 1e-9 * np.trace(gram[todo], axis1=1, axis2=2)[:, None, None] * eye, rk[..., None]
        )[..., 0]
        slope = (rk * step_dir).sum(axis=1)
        args = (Ak, tau[todo], lower[todo], upper[todo])
        t = np.ones(len(todo))
        for _ in range(40):
            g_new = _dual(lam[todo] + t[:, None] * step_dir, *args)[0]
            ok = g_new >= g[todo] + 1e-4 * t * slope - 1e-12 * (1 + np.abs(g[todo]))
            if ok.all():
                break
            t = np.where(ok, t, 0.5 * t)
        lam[todo] += t[:, None] * step_dir
        g[todo], v[todo], x[todo] = _dual(lam[todo], *args)
    return x, iterations
