"""Checkers for notebook 02 (collecting demonstrations with the Controller).

Each ``check_*`` follows :mod:`illab.course.exercise`: "not attempted yet" (and the reference solution)
for a stub, "correct" for a right answer, ``AssertionError`` with a hint for a wrong one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from illab import datafile
from illab.course import solutions
from illab.course.exercise import Attempt
from illab.seeds import episode_seed

reference_enjoy = solutions.my_enjoy   # kept for old imports


def check_custom_enjoy(enjoy, episodes: int = 3, seed: int = 0, reference=solutions.my_enjoy):
    """Run the Controller with the learner's ``enjoy(path, context, expert) -> bool`` and check the result.

    Checks one direct call first (returns a bool, writes ``path``, resets from ``context.seed``), then a
    Controller run: the dataset holds ``episodes`` episodes, each reset from
    ``episode_seed(seed, i, "demonstrations", attempt)``, each at or above the expert's threshold.

    Returns:
        ``enjoy`` if it is right; ``reference`` (with a "not attempted yet" note) while it is a stub.

    Raises:
        AssertionError: what is wrong, with a hint.
    """
    import gymnasium as gym

    from illab import experts
    from illab.controller import Controller
    from illab.recording import Context, baseline_collate

    attempt = Attempt(enjoy, reference, getattr(enjoy, "__name__", "your enjoy"))
    probe = Path(tempfile.mkdtemp(prefix="illab-check-")) / "probe.npz"
    ctx = Context(index=0, attempt=0, seed=episode_seed(seed, 0), env_id="CartPole-v1", threshold=475.0)
    result = attempt(str(probe), ctx, experts.load("cartpole"))
    if not isinstance(result, (bool, np.bool_)):
        raise attempt.fail(f"return a bool (keep the episode?), got {result!r}")
    if not probe.exists():
        raise attempt.fail("the episode was not written to `path`: save it with "
                           "illab.recording.save_episodes(path, [episode])")
    first = datafile.read(probe)
    if first["obs"][0].tolist() != gym.make("CartPole-v1").reset(seed=ctx.seed)[0].tolist():
        raise attempt.fail("the episode did not start from reset(seed=context.seed): pass [context.seed] to run_episodes")
    use = enjoy if attempt.attempted else reference
    folder = Path(tempfile.mkdtemp(prefix="illab-check-"))
    ctl = Controller(use, baseline_collate, episodes=episodes, seed=seed, path=folder, progress=False)
    arrays = datafile.read(ctl.start({"game": "cartpole", "mode": "all"}))
    if len(arrays["episode_returns"]) != episodes:
        raise attempt.fail(f"expected {episodes} episodes, got {len(arrays['episode_returns'])}")
    if not np.all(arrays["episode_returns"] >= 475):
        raise attempt.fail("an episode below the threshold was kept: return False for it")
    for i, s in enumerate(arrays["episode_seeds"]):
        if not any(s == episode_seed(seed, i, "demonstrations", k) for k in range(10)):
            raise attempt.fail(f"episode {i} did not reset from context.seed")
    return attempt.done(f"{episodes} episodes, seeds from the demonstrations stream, all above the threshold.")


def check_episode_seed(fn, reference=solutions.my_seed):
    """Check ``fn(base_seed, index) -> int`` reproduces the Controller's seed of episode ``index``.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: the seeds differ, with a hint (stream, attempt).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    got = [attempt(7, i) for i in range(5)]
    want = [episode_seed(7, i, "demonstrations") for i in range(5)]
    if [int(g) for g in got] != want:
        raise attempt.fail(f"for base seed 7, episodes 0-4 you gave {got}, the Controller uses {want}: it draws from "
                           "the 'demonstrations' stream with attempt 0 for the first try "
                           "(hint: illab.seeds.episode_seed(base_seed, index, stream))")
    return attempt.done("an episode's seed depends only on the base seed and its index.")
