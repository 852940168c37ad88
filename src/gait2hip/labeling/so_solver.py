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

The cost is a sum over actuators, so the problem splits exactly into independent blocks: the
connected components of "actuator acts on coordinate": in Hamner's running model each leg,
the trunk, and each coordinate only its reserve acts on; in Rajagopal's the two legs form one
block, joined through the pelvis by the gastrocnemii (their paths over two wrap objects apply
a net generalized force to the pelvis in OpenSim's dynamics). Each block is solved on its own:
the Newton systems shrink with the square of the block's rows, and a hard frame in one leg
does not keep the other iterating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

#: An entry of ``A`` at most this fraction of its row's largest couples nothing: rounding, e.g.
#: a muscle's generalized force on a pelvis coordinate (~1e-17 N·m per N of tension, against
#: a reserve's 1 to 1000 N·m). The residual is still checked on the whole ``A``.
NEGLIGIBLE = 1e-12


@dataclass(frozen=True)
class SOSolution:
    """Controls ``x`` (frames, actuators) and how well each frame was solved."""

    x: np.ndarray
    residual: np.ndarray  # (frames,) max |A x - tau| (generalized-force units)
    iterations: int  # Newton iterations of the hardest block
    converged: np.ndarray  # (frames,) bool
    blocks: int  # independent sub-problems solved apart (see the module docstring)


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
    B, n = A.shape[0], A.shape[2]
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (B, n))
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (B, n))
    if np.any(lower > upper):
        raise ValueError("a lower bound exceeds its upper bound")
    x = np.clip(np.zeros((B, n)), lower, upper)  # an actuator acting on no row stays here
    iterations = 0
    blocks = _blocks(A)
    for rows, cols in blocks:
        if len(rows) == 1 and len(cols) == 1:  # a row met by one actuator (a lone reserve)
            a = A[:, rows[0], cols[0]]
            x[:, cols[0]] = np.clip(
                np.divide(tau[:, rows[0]], a, out=np.zeros_like(a), where=a != 0),
                lower[:, cols[0]],
                upper[:, cols[0]],
            )
        else:
            sub = np.ix_(np.arange(B), rows, cols)
            x[:, cols], it = _solve_coupled(
                A[sub], tau[:, rows], lower[:, cols], upper[:, cols], tol, max_iter
            )
            iterations = max(iterations, it)
    r = tau - (A @ x[..., None])[..., 0]
    res = np.abs(r).max(axis=1)
    return SOSolution(
        x=x,
        residual=res,
        iterations=iterations,
        converged=res <= max(tol, 1e-6),
        blocks=len(blocks),
    )


def _blocks(A: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, actuators) of each independent block with at least one actuator: the connected
    components of the graph linking a row to every actuator that acts on it at some frame
    (above :data:`NEGLIGIBLE`)."""
    m, n = A.shape[1:]
    reach = np.abs(A).max(axis=0)  # (m, n)
    acts = reach > NEGLIGIBLE * reach.max(axis=1, keepdims=True)
    r, c = np.nonzero(acts)
    graph = coo_array((np.ones(len(r)), (r, m + c)), shape=(m + n, m + n))
    _, label = connected_components(graph, directed=False)
    out = []
    for k in np.unique(label[m:]):
        rows, cols = np.nonzero(label[:m] == k)[0], np.nonzero(label[m:] == k)[0]
        if len(rows):
            out.append((rows, cols))
    return out


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
