"""Seed streams: every random choice in illab flows from one explicit base seed.

An episode's reset seed depends only on ``(base_seed, stream, index, attempt)`` — never on
which worker ran it or when — so datasets and evaluations are identical whatever the
scheduling. Seeds are drawn with :class:`numpy.random.SeedSequence` (hash-based, so nearby
base seeds give unrelated streams) and the low two bits of every seed encode its stream,
which makes the three streams disjoint *by construction*:

* ``"demonstrations"`` — reset seeds of collected expert episodes,
* ``"validation"`` — checkpoint / early-stopping selection,
* ``"test"`` — the reported score.

Disjoint seeds are necessary but not sufficient for a leakage-free protocol (two seeds can
still give the same start state); :func:`illab.evaluate.check_leakage` checks start states.
"""

from __future__ import annotations

import numpy as np

STREAMS: dict[str, int] = {"demonstrations": 0, "validation": 1, "test": 2}
"""Stream name → stream id (stored in the low two bits of each seed)."""


def _stream_id(stream: str) -> int:
    try:
        return STREAMS[stream]
    except KeyError:
        raise ValueError(f"unknown seed stream {stream!r}; use one of {sorted(STREAMS)}") from None


def episode_seed(base_seed: int, index: int, stream: str = "demonstrations", attempt: int = 0) -> int:
    """Reset seed of episode ``index`` (retry ``attempt``) in ``stream``.

    Args:
        base_seed: non-negative int, the run's base seed.
        index: non-negative episode index.
        stream: one of :data:`STREAMS`.
        attempt: 0 for the first try; a rejected episode is replaced by ``attempt + 1``.

    Returns:
        A Python ``int`` in ``[0, 2**31)`` whose low two bits equal the stream id.

    Raises:
        ValueError: negative ``base_seed``/``index``/``attempt`` or an unknown stream.
    """
    sid = _stream_id(stream)
    for name, value in (("base_seed", base_seed), ("index", index), ("attempt", attempt)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    state = np.random.SeedSequence(int(base_seed), spawn_key=(sid, int(index), int(attempt))).generate_state(1)
    return int((int(state[0]) & 0x7FFFFFFC) | sid)


def episode_seeds(base_seed: int, n: int, stream: str = "demonstrations", start: int = 0) -> np.ndarray:
    """Seeds of episodes ``start .. start + n - 1`` (first attempts), shape ``(n,)`` int64."""
    return np.array([episode_seed(base_seed, i, stream) for i in range(start, start + n)], dtype=np.int64)


def stream_of(seed: int) -> str:
    """Name of the stream a seed produced by :func:`episode_seed` belongs to."""
    sid = int(seed) & 3
    for name, value in STREAMS.items():
        if value == sid:
            return name
    raise ValueError(f"seed {seed} was not produced by illab.seeds (stream id {sid})")


def torch_seed(base_seed: int, purpose: str) -> int:
    """A seed for a named purpose (network init, minibatch order, ...), derived from ``base_seed``.

    Returns an int in ``[0, 2**32)``; different ``purpose`` strings give independent seeds.
    """
    key = tuple(purpose.encode())
    return int(np.random.SeedSequence(int(base_seed), spawn_key=(3,) + key).generate_state(1)[0])
