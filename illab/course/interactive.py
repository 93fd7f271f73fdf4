"""Checkers for notebook 06 (DAgger and GAIL): the β schedule and GAIL's reward.

DAgger: Ross, Gordon & Bagnell 2011, arXiv 1011.0686. GAIL: Ho & Ermon 2016, arXiv 1606.03476.
"""

from __future__ import annotations

import numpy as np

from illab.course.cloning import _attempt


def check_beta_schedule(fn, reference=None) -> None:
    """Check ``fn(i, p) -> float``: DAgger's exponential schedule ``β_i = p ** i`` (round ``i`` from 0).

    Raises:
        AssertionError: with a hint (rounds counted from 1, decay the wrong way, ...).
    """
    for i, p in ((0, 0.5), (1, 0.5), (3, 0.5), (2, 0.9), (4, 0.0), (0, 0.0)):
        got, _ = _attempt(fn, reference, i, p)
        want = p ** i
        if not np.isclose(float(got), want):
            if np.isclose(float(got), p ** (i + 1)):
                raise AssertionError("count rounds from 0: β_0 must be 1 (the first round is pure expert play)")
            if np.isclose(float(got), 1 - p ** i):
                raise AssertionError("β is the probability that the *expert* acts; it starts at 1 and decays")
            raise AssertionError(f"β_{i} with p={p} should be {want}, got {got}")
    print("β schedule: correct — the expert acts in every step of round 0 and ever less after.")


def check_gail_reward(fn, reference=None) -> None:
    """Check ``fn(d) -> array``: GAIL's reward ``−log(1 − D(s, a))`` for discriminator outputs
    ``d`` ``(n,)`` in (0, 1) (the probability that the pair is the expert's).

    Raises:
        AssertionError: with a hint (sign, log D instead of log(1 − D), ...).
    """
    d = np.array([0.01, 0.2, 0.5, 0.8, 0.99])
    got, _ = _attempt(fn, reference, d.copy())
    got = np.asarray(got, dtype=np.float64)
    want = -np.log1p(-d)
    if got.shape != d.shape:
        raise AssertionError(f"return one reward per pair: shape {d.shape}, got {got.shape}")
    if np.allclose(got, np.log(d)):
        raise AssertionError("log D is negative and punishes every step; GAIL's reward is −log(1 − D)")
    if np.allclose(got, np.log1p(-d)):
        raise AssertionError("the sign is wrong: the reward must grow as D (looks like the expert) grows")
    if not np.all(np.diff(got) > 0):
        raise AssertionError("the reward must increase with D: fooling the discriminator is what is rewarded")
    if not np.allclose(got, want, atol=1e-6):
        raise AssertionError(f"for D = {d.tolist()} expected {np.round(want, 4).tolist()}, got {np.round(got, 4).tolist()}")
    print("GAIL reward: correct — positive, and larger the more the pair looks like the expert's.")
