"""Checkers for notebook 07 (benchmarking): normalized performance, the IQM, a leak-free split.

Each ``check_*`` raises ``AssertionError`` saying what is wrong and hinting at the fix, and
prints a confirmation when the answer is right.
"""

from __future__ import annotations

import numpy as np

from illab.course import solutions
from illab.course.exercise import Attempt
from illab.evaluate import interquartile_mean, normalized_performance


def check_normalized_performance(fn, reference=solutions.my_normalized):
    """Check ``fn(returns, random_return, expert_return) -> array`` against the definition.

    The definition (IL-Datasets, arXiv 2403.00550): per episode ``(X − random) / (expert − random)``,
    so 0 = random play, 1 = expert level; negative or > 1 values are allowed.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (wrong shape, clipped values, swapped references, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    cases = [(np.array([500.0, 23.23, 261.6]), 23.23, 500.0),
             (np.array([-100.0, -200.0, -150.0, -90.0]), -200.0, -100.0),   # negative rewards (MountainCar)
             (np.array([-1500.0, -140.0]), -1245.3, -144.8)]                 # below random, above expert
    for returns, rnd, exp in cases:
        got = attempt(returns.copy(), rnd, exp)
        want = normalized_performance(returns, rnd, exp)
        got = np.asarray(got, dtype=np.float64)
        if got.shape != want.shape:
            raise attempt.fail(f"for {len(returns)} episode returns you gave shape {got.shape}; normalize every "
                                 "episode separately (one score per episode), do not average first")
        if np.allclose(got, 1.0 - want):
            raise attempt.fail("random and expert are swapped: random play must score 0 and the expert 1")
        if np.allclose(got, np.clip(want, 0, 1)) and not np.allclose(got, want):
            raise attempt.fail("do not clip to [0, 1]: a learner can be worse than random (< 0) or better "
                                 "than the expert (> 1), and the mean must see that")
        if not np.allclose(got, want):
            raise attempt.fail(f"returns {returns.tolist()} with random={rnd}, expert={exp}: expected "
                                 f"{np.round(want, 4).tolist()}, got {np.round(got, 4).tolist()}. "
                                 "Subtract the random return, then divide by (expert − random)")
    return attempt.done("0 is random play, 1 is the expert, per episode.")


def check_iqm(fn, reference=solutions.my_iqm):
    """Check ``fn(scores) -> float``, the interquartile mean (Agarwal et al. 2021, arXiv 2108.13264).

    Sort, drop ``floor(n / 4)`` scores from each end, average the rest (fewer than 4 scores: the mean).

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (not sorted, wrong cut, median instead of mean, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    cases = [[0.9, 1.0, 0.2, 0.95, 0.97, 1.01, 0.99, 0.4],     # n = 8: drop 2 each side
             [5.0, -3.0, 1.0, 2.0, 100.0, 4.0],                 # n = 6: drop 1 each side (unsorted)
             [1.0, 0.0, 0.5],                                    # n = 3: nothing dropped
             [0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 3.0, -2.0]]  # n = 10: drop 2 each side
    for scores in cases:
        want = interquartile_mean(scores)
        got = attempt(list(scores))
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise attempt.fail(f"return one number (a float), got {got!r}") from None
        if np.isclose(got, want):
            continue
        x = np.asarray(scores, dtype=np.float64)
        cut = len(x) // 4
        if np.isclose(got, x[cut:len(x) - cut].mean()):
            raise attempt.fail("you dropped the right number of scores but did not sort them first: "
                                 "the quartiles are about the *smallest* and *largest* scores")
        if np.isclose(got, np.median(x)):
            raise attempt.fail("that is the median; the IQM averages the middle 50 % of the sorted scores")
        if np.isclose(got, x.mean()):
            raise attempt.fail(f"that is the plain mean of {len(x)} scores; drop floor({len(x)}/4) = {cut} "
                                 "from each end of the sorted scores first")
        raise attempt.fail(f"IQM of {scores}: expected {want:.4f}, got {got:.4f}. Sort, drop floor(n/4) = "
                             f"{cut} from each end, average what is left")
    return attempt.done("the IQM is robust to one catastrophic or lucky run, unlike the mean.")


def check_leak_free(train_starts, test_starts, atol: float = 1e-6) -> None:
    """Check that no test start state lies within ``atol`` of a training start state.

    Args:
        train_starts, test_starts: ``(N, *obs_shape)``, ``(M, *obs_shape)`` start observations.

    Raises:
        AssertionError: names the first leaking pair and how to fix the split.
    """
    from illab.evaluate import LeakageError, check_leakage
    if len(test_starts) == 0:
        raise AssertionError("the test split is empty: a leak-free split still needs test episodes")
    try:
        check_leakage(train_starts, test_starts, atol=atol)
    except LeakageError as err:
        raise AssertionError(f"your split leaks: {err}") from None
    print(f"leak-free: none of {len(test_starts)} test start states is within {atol} of the "
          f"{len(train_starts)} training start states.")
