"""Checkers for notebook 03 (datasets, splits and validation).

Each ``check_*`` follows :mod:`illab.course.exercise`: "not attempted yet" (and the reference solution)
for a stub, "correct" for a right answer, ``AssertionError`` with a hint for a wrong one.
"""

from __future__ import annotations

import numpy as np

from illab.course import solutions
from illab.course.exercise import Attempt


def check_split_sizes(fn, dataset_path, reference=solutions.split_sizes):
    """Check ``fn(episode_lengths, n_episodes) -> (n_train, n_eval)`` transition counts of the splits.

    ``episode_lengths``: ``(E,)`` int64 array; train = episodes ``[0, N)``, eval = ``[N, E)``.
    Checked against :class:`~illab.data.BaselineDataset` on ``dataset_path`` for N = 1 and 3.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: the counts differ, with a hint.
    """
    from illab.data import BaselineDataset

    lengths = np.asarray(BaselineDataset(dataset_path).episode_lengths)
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    for n in sorted({1, max(1, min(3, len(lengths) - 1))}):
        got = attempt(lengths.copy(), n)
        try:
            got = tuple(int(x) for x in got)
        except (TypeError, ValueError):
            raise attempt.fail(f"return two integers (n_train, n_eval), got {got!r}") from None
        train = len(BaselineDataset(dataset_path, n_episodes=n))
        want = (train, int(lengths.sum()) - train)
        if got == (n, len(lengths) - n):
            raise attempt.fail(f"for N = {n} you returned episode counts {got}; count *transitions*: sum the "
                               "lengths of episodes [0, N) and [N, E)")
        if got != want:
            raise attempt.fail(f"for N = {n} got {got}, expected {want}: splits are by episode, so sum the lengths "
                               "of episodes [0, N) and of [N, E) (hint: np.sum of a slice)")
    return attempt.done(f"for N = 3, {int(lengths[:3].sum())} training and {int(lengths[3:].sum())} held-out transitions.")
