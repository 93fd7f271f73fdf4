"""Checkers for notebook 06 (DAgger and GAIL): the β schedule and GAIL's reward.

DAgger: Ross, Gordon & Bagnell 2011, arXiv 1011.0686. GAIL: Ho & Ermon 2016, arXiv 1606.03476.
"""

from __future__ import annotations

import numpy as np

from illab.course import solutions
from illab.course.exercise import Attempt


def check_beta_schedule(fn, reference=solutions.beta):
    """Check ``fn(i, p) -> float``: DAgger's exponential schedule ``β_i = p ** i`` (round ``i`` from 0).

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (rounds counted from 1, decay the wrong way, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    for i, p in ((0, 0.5), (1, 0.5), (3, 0.5), (2, 0.9), (4, 0.0), (0, 0.0)):
        got = attempt(i, p)
        want = p ** i
        if not np.isclose(float(got), want):
            if np.isclose(float(got), p ** (i + 1)):
                raise attempt.fail("count rounds from 0: β_0 must be 1 (the first round is pure expert play)")
            if np.isclose(float(got), 1 - p ** i):
                raise attempt.fail("β is the probability that the *expert* acts; it starts at 1 and decays")
            raise attempt.fail(f"β_{i} with p={p} should be {want}, got {got}")
    return attempt.done("the expert acts in every step of round 0 and ever less after.")


def check_gail_reward(fn, reference=solutions.gail_reward):
    """Check ``fn(d) -> array``: GAIL's reward ``−log(1 − D(s, a))`` for discriminator outputs
    ``d`` ``(n,)`` in (0, 1) (the probability that the pair is the expert's).

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (sign, log D instead of log(1 − D), ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    d = np.array([0.01, 0.2, 0.5, 0.8, 0.99])
    got = attempt(d.copy())
    got = np.asarray(got, dtype=np.float64)
    want = -np.log1p(-d)
    if got.shape != d.shape:
        raise attempt.fail(f"return one reward per pair: shape {d.shape}, got {got.shape}")
    if np.allclose(got, np.log(d)):
        raise attempt.fail("log D is negative and punishes every step; GAIL's reward is −log(1 − D)")
    if np.allclose(got, np.log1p(-d)):
        raise attempt.fail("the sign is wrong: the reward must grow as D (looks like the expert) grows")
    if not np.all(np.diff(got) > 0):
        raise attempt.fail("the reward must increase with D: fooling the discriminator is what is rewarded")
    if not np.allclose(got, want, atol=1e-6):
        raise attempt.fail(f"for D = {d.tolist()} expected {np.round(want, 4).tolist()}, got {np.round(got, 4).tolist()}")
    return attempt.done("positive, and larger the more the pair looks like the expert's.")
