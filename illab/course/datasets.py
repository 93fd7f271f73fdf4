"""Checkers for notebook 03 (datasets, splits and validation)."""

from __future__ import annotations

import numpy as np


def check_split_sizes(fn, dataset_path) -> None:
    """Check ``fn(episode_lengths, n_episodes) -> (n_train, n_eval)`` transition counts of the splits.

    ``episode_lengths``: ``(E,)`` int64 array; train = episodes ``[0, N)``, eval = ``[N, E)``.
    """
    from illab.data import BaselineDataset
    train = BaselineDataset(dataset_path, n_episodes=3)
    lengths = np.asarray(BaselineDataset(dataset_path).episode_lengths)
    try:
        got = fn(lengths, 3)
    except NotImplementedError:
        raise AssertionError("replace the body of your function with your answer (hint: np.sum of a slice)") from None
    want = (int(lengths[:3].sum()), int(lengths[3:].sum()))
    assert tuple(int(x) for x in got) == want, (
        f"got {tuple(got)}, expected {want}: splits are by episode, so sum the lengths of episodes [0, N) and [N, E)")
    assert want[0] == len(train)
    print(f"correct: {want[0]} training and {want[1]} held-out transitions")
