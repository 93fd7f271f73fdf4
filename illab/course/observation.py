"""Checkers for notebook 05 (learning from observation): training pairs of an inverse dynamics model.

BCO: Torabi, Warnell & Stone 2018, arXiv 1805.01954.
"""

from __future__ import annotations

import numpy as np

from illab.course import solutions
from illab.course.exercise import Attempt
from illab.methods.abco import goal_aware_ratio


def check_idm_pairs(fn, reference=solutions.idm_pairs):
    """Check ``fn(states, actions) -> (inputs, targets)`` for an inverse dynamics model.

    ``states``: ``(T + 1, d)`` float32, the observations of one episode of the agent's own play
    (``states[0]`` after reset, ``states[t + 1]`` after action ``t``); ``actions``: ``(T,)`` int64.
    The answer: ``inputs`` ``(T, 2d)`` rows ``[s_t, s_{t+1}]`` and ``targets`` ``(T,)`` = ``a_t`` —
    the action that *caused* the step from ``s_t`` to ``s_{t+1}``.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (off-by-one, wrong order, wrong axis, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    rng = np.random.default_rng(0)
    for T, d in ((6, 4), (3, 2), (1, 3)):
        states = rng.normal(size=(T + 1, d)).astype(np.float32)
        actions = rng.integers(0, 3, size=T)
        x, y = attempt(states.copy(), actions.copy())
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != (T, 2 * d):
            raise attempt.fail(f"inputs for {T + 1} states of size {d} should have shape {(T, 2 * d)} (one row per "
                                 f"transition, s_t and s_t+1 side by side), got {x.shape}")
        if y.shape != (T,):
            raise attempt.fail(f"targets should have shape {(T,)}, got {y.shape}")
        if np.array_equal(x[:, :d], states[1:]) and np.array_equal(x[:, d:], states[:-1]):
            raise attempt.fail("s_t and s_t+1 are swapped: put the state before the action first")
        if T > 1 and np.array_equal(x[:, :d], states[:-1]) and np.array_equal(x[:, d:], states[1:]) \
                and np.array_equal(y[1:], actions[:-1]):
            raise attempt.fail("off by one: the target of row t is actions[t], the action taken in s_t")
        if not (np.array_equal(x[:, :d], states[:-1]) and np.array_equal(x[:, d:], states[1:])):
            raise attempt.fail("row t must be [states[t], states[t + 1]] (concatenate along axis 1)")
        if not np.array_equal(y, actions):
            raise attempt.fail("the target of row t is actions[t], the action that led from s_t to s_t+1")
    return attempt.done("(s_t, s_t+1) → a_t for every step of the agent's own play.")


def check_success_ratio(fn, reference=goal_aware_ratio):
    """Check ``fn(returns, random_return, expert_return) -> float``: ABCO's goal-aware sampling ratio.

    ``returns``: ``(E,)`` float64 undiscounted returns of the agent's episodes; the answer is
    ``mean_e clip((G_e − random) / (expert − random), 0, 1)`` in [0, 1], 0.0 for no episodes
    (Monteiro et al. 2020, ABCO, arXiv 2004.13529; normalization as in IL-Datasets, arXiv 2403.00550).

    Returns:
        ``fn`` if it is right; ``reference`` (illab's ``goal_aware_ratio``, with a "not attempted
        yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (no clipping, clipping after averaging, random not subtracted, ...).
    """
    cases = [  # (returns, random, expert, answer, hint if wrong)
        ([500.0, 9.8], 9.8, 500.0, 0.5, "normalize each return: (G − random) / (expert − random)"),
        ([9.8], 9.8, 500.0, 0.0, "a random-level episode scores 0: subtract random_return before dividing"),
        ([-200.0, -100.0], -200.0, -100.0, 0.5, "negative returns (MountainCar): (G − random) / (expert − random)"),
        ([600.0], 9.8, 500.0, 1.0, "an episode better than the expert counts as 1: clip each episode to [0, 1]"),
        ([-50.0], 9.8, 500.0, 0.0, "an episode worse than random counts as 0: clip each episode to [0, 1]"),
        ([990.2, 9.8], 9.8, 500.0, 0.5, "clip each episode *before* averaging (a great episode must not "
                                         "make up for a failed one)"),
        ([], 9.8, 500.0, 0.0, "no episodes: return 0.0"),
    ]
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    for returns, lo, hi, want, hint in cases:
        got = attempt(np.asarray(returns, dtype=np.float64), lo, hi)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise attempt.fail(f"return one number (a float), got {type(got).__name__}") from None
        if not np.isfinite(got) or abs(got - want) > 1e-6:
            raise attempt.fail(f"returns {returns}, random {lo}, expert {hi}: expected {want}, got {got:.4f}. {hint}")
    return attempt.done("r = mean of clipped normalized returns; ABCO mixes r of the agent's play into the IDM's data.")
