"""Helpers and checkers for notebook 08 (inverse reinforcement learning).

The checkers follow the course's one exercise pattern (:mod:`illab.course.exercise`): a stub is reported as
not attempted yet and the reference (:mod:`illab.course.solutions`) is used; a right answer is called correct
and returned; a wrong one raises ``AssertionError`` with a hint.
Sources: apprenticeship learning, Abbeel & Ng 2004 (ICML); AIRL, Fu, Luo & Levine 2018, arXiv 1710.11248;
reward shaping, Ng, Harada & Russell 1999 (ICML).
"""

from __future__ import annotations

import numpy as np

from illab.course import solutions
from illab.course.exercise import Attempt


# ------------------------------------------------------------------------------------ ill-posedness
def chain_mdp(n_states: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic chain: actions 0 = left, 1 = right; the last state is absorbing.

    Returns:
        ``P`` ``(2, n, n)`` transition matrices and ``R`` ``(n,)`` the true reward (1 in the last
        state, 0 elsewhere).
    """
    P = np.zeros((2, n_states, n_states))
    for s in range(n_states):
        P[0, s, max(s - 1, 0)] = 1.0
        P[1, s, min(s + 1, n_states - 1)] = 1.0
    P[:, -1, :] = 0.0
    P[:, -1, -1] = 1.0
    R = np.zeros(n_states)
    R[-1] = 1.0
    return P, R


def optimal_q(P: np.ndarray, R: np.ndarray, gamma: float = 0.9, iters: int = 500) -> np.ndarray:
    """Q-values ``(n, n_actions)`` of a reward ``R`` ``(n,)`` (state reward) or ``(n, n_actions, n)``
    (transition reward ``r(s, a, s′)``) by value iteration."""
    n_a, n = P.shape[0], P.shape[1]
    r = np.broadcast_to(R[:, None, None], (n, n_a, n)) if R.ndim == 1 else R
    V = np.zeros(n)
    for _ in range(iters):
        Q = np.einsum("asn,san->sa", P, r + gamma * V[None, None, :])
        V = Q.max(1)
    return Q


def shaped(R: np.ndarray, potential: np.ndarray, gamma: float = 0.9) -> np.ndarray:
    """``r(s, a, s′) = R(s) + γ Φ(s′) − Φ(s)`` as an ``(n, 2, n)`` array (Ng, Harada & Russell 1999)."""
    n = len(R)
    return np.broadcast_to((R[:, None] + gamma * potential[None, :] - potential[:, None])[:, None, :], (n, 2, n))


# ---------------------------------------------------------------------------------------- pendulum
def pendulum_grid(n: int = 41) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid over Pendulum's state: angle θ ∈ [−π, π] (0 = upright) × angular velocity ∈ [−8, 8].

    Returns:
        ``theta`` ``(n,)``, ``thetadot`` ``(n,)`` and the observations ``(n*n, 3)`` float32
        ``(cos θ, sin θ, θ̇)`` in row-major order (velocity along rows).
    """
    theta, thetadot = np.linspace(-np.pi, np.pi, n), np.linspace(-8.0, 8.0, n)
    th, td = np.meshgrid(theta, thetadot)
    obs = np.stack([np.cos(th), np.sin(th), td], -1).reshape(-1, 3).astype(np.float32)
    return theta, thetadot, obs


def pendulum_true_reward(obs: np.ndarray) -> np.ndarray:
    """Pendulum-v1's reward with zero torque, ``−(θ² + 0.1 θ̇²)`` (θ normalised to [−π, π]), ``(n,)``."""
    theta = np.arctan2(obs[:, 1], obs[:, 0])
    return -(theta ** 2 + 0.1 * obs[:, 2] ** 2)


# --------------------------------------------------------------------------------------- checkers
def check_projection_step(fn, reference=solutions.projection_step):
    """Check ``fn(mu_bar, mu, mu_expert) -> (d,)``: Abbeel & Ng's projection update

    ``μ̄_new = μ̄ + [(μ − μ̄)·(μ_E − μ̄) / ‖μ − μ̄‖²] (μ − μ̄)``

    (the point on the line through ``μ̄`` and ``μ`` closest to ``μ_E``), for ``(d,)`` float arrays.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (wrong direction, missing normalisation, projecting onto μ_E, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    rng = np.random.default_rng(0)
    for d in (2, 3, 8):
        mu_bar, mu, mu_e = rng.normal(size=d), rng.normal(size=d), rng.normal(size=d)
        got = np.asarray(attempt(mu_bar.copy(), mu.copy(), mu_e.copy()), dtype=float)
        if got.shape != (d,):
            raise attempt.fail(f"return a vector of shape ({d},) like the inputs, got {got.shape}")
        step = mu - mu_bar
        want = mu_bar + (step @ (mu_e - mu_bar)) / (step @ step) * step
        if np.allclose(got, want, atol=1e-8):
            continue
        if np.allclose(got, mu_bar + (step @ (mu_e - mu_bar)) * step):
            raise attempt.fail("divide the coefficient by ‖μ − μ̄‖² (the squared length of the step direction)")
        if np.allclose(got, mu_bar + (step @ (mu_e - mu_bar)) / np.linalg.norm(step) * step):
            raise attempt.fail("divide by the *squared* norm ‖μ − μ̄‖², not the norm")
        if np.allclose(got, mu_e - want + mu_bar) or np.allclose(got, mu_bar - (want - mu_bar)):
            raise attempt.fail("wrong sign: move from μ̄ towards μ by the projection coefficient")
        raise attempt.fail("not the projection: μ̄ + [(μ − μ̄)·(μ_E − μ̄) / ‖μ − μ̄‖²](μ − μ̄); check that the dot "
                           "product uses μ_E − μ̄ (the gap to the expert) and the direction μ − μ̄")
    return attempt.done("the new μ̄ is the point of the line through μ̄ and μ closest to μ_E.")


def check_airl_logit(fn, reference=solutions.airl_logit):
    """Check ``fn(g_s, h_s, h_next, terminated, log_pi, gamma) -> (n,)``: AIRL's discriminator logit

    ``f(s, a, s′) − log π(a|s)`` with ``f = g(s) + γ h(s′)(1 − terminated) − h(s)``,

    for ``(n,)`` float arrays (``terminated`` 0/1) and a float ``gamma``.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (missing −log π, unmasked terminal potential, γ on the wrong term, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    rng = np.random.default_rng(1)
    n = 12
    g, h, h2, lp = (rng.normal(size=n) for _ in range(4))
    term = (rng.random(n) < 0.3).astype(float)
    term[0], term[1] = 1.0, 0.0
    gamma = 0.9
    got = np.asarray(attempt(g.copy(), h.copy(), h2.copy(), term.copy(), lp.copy(), gamma), dtype=float)
    if got.shape != (n,):
        raise attempt.fail(f"return one logit per transition, shape ({n},), got {got.shape}")
    want = g + gamma * h2 * (1.0 - term) - h - lp
    if np.allclose(got, want):
        return attempt.done("f(s, a, s′) − log π(a|s) with the terminal potential masked.")
    if np.allclose(got, want + lp):
        raise attempt.fail("subtract log π(a|s): D = exp f / (exp f + π), so logit D = f − log π")
    if np.allclose(got, want + 2 * lp):
        raise attempt.fail("the sign of log π is wrong: the logit is f − log π")
    if np.allclose(got, g + gamma * h2 - h - lp):
        raise attempt.fail("mask the next state's potential at termination: γ h(s′)(1 − terminated)")
    if np.allclose(got, g + h2 * (1 - term) - gamma * h - lp) or np.allclose(got, g + h2 * (1 - term) - h - lp):
        raise attempt.fail("the discount γ multiplies h(s′), the potential of the *next* state")
    if np.allclose(got, g - gamma * h2 * (1 - term) + h - lp):
        raise attempt.fail("shaping is γ h(s′) − h(s) (next minus current), not the reverse")
    raise attempt.fail("not AIRL's logit: g(s) + γ h(s′)(1 − terminated) − h(s) − log π(a|s)")
