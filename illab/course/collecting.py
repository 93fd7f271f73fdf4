"""Checkers for notebook 02 (collecting demonstrations with the Controller)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from illab import datafile
from illab.seeds import episode_seed


def reference_enjoy(path, context, expert) -> bool:
    """Solution: play one episode from ``context.seed``, save it, keep it if it reaches the threshold."""
    from illab.recording import save_episodes
    from illab.rollout import run_episodes
    (episode,) = run_episodes(expert, context.env_id, [context.seed], n_envs=1, env_kwargs=context.env_kwargs)
    save_episodes(path, [episode], attempts=[context.attempt])
    return bool(episode.ret >= context.threshold)


def check_custom_enjoy(enjoy, episodes: int = 3, seed: int = 0) -> None:
    """Run the Controller with the learner's ``enjoy(path, context, expert) -> bool`` and check the result.

    Checks: the dataset holds ``episodes`` episodes, each reset from
    ``episode_seed(seed, i, "demonstrations", attempt)``, each at or above the expert's threshold.
    While ``enjoy`` raises ``NotImplementedError`` the reference solution is checked instead.
    """
    from illab.controller import Controller
    from illab.recording import Context, baseline_collate
    from illab import experts

    try:
        probe = Path(tempfile.mkdtemp()) / "probe.npz"
        ctx = Context(index=0, attempt=0, seed=episode_seed(seed, 0), env_id="CartPole-v1", threshold=475.0)
        result = enjoy(str(probe), ctx, experts.load("cartpole"))
    except NotImplementedError:
        print("(your enjoy is still a stub — checking the reference solution instead)")
        enjoy, result, probe = reference_enjoy, True, None
    if probe is not None:
        assert isinstance(result, (bool, np.bool_)), f"enjoy must return a bool (keep the episode?), got {result!r}"
        assert probe.exists(), ("enjoy did not write the episode to `path`: save it with "
                                "illab.recording.save_episodes(path, [episode])")
        first = datafile.read(probe)
        assert first["obs"][0].tolist() == __import__("gymnasium").make("CartPole-v1").reset(
            seed=ctx.seed)[0].tolist(), "the episode did not start from reset(seed=context.seed)"
    folder = Path(tempfile.mkdtemp(prefix="illab-check-"))
    ctl = Controller(enjoy, baseline_collate, episodes=episodes, seed=seed, path=folder, progress=False)
    arrays = datafile.read(ctl.start({"game": "cartpole", "mode": "all"}))
    assert len(arrays["episode_returns"]) == episodes, f"expected {episodes} episodes, got {len(arrays['episode_returns'])}"
    assert np.all(arrays["episode_returns"] >= 475), "an episode below the threshold was kept: return False for it"
    for i, s in enumerate(arrays["episode_seeds"]):
        assert any(s == episode_seed(seed, i, "demonstrations", k) for k in range(10)), (
            f"episode {i} did not use context.seed")
    print(f"correct: {episodes} episodes, seeds from the demonstrations stream, all above the threshold")


def check_episode_seed(fn) -> None:
    """Check ``fn(base_seed, index) -> int`` reproduces the Controller's seed of episode ``index``."""
    try:
        got = [fn(7, i) for i in range(5)]
    except NotImplementedError:
        raise AssertionError("replace the body of your function with your answer "
                             "(hint: illab.seeds.episode_seed)") from None
    want = [episode_seed(7, i, "demonstrations") for i in range(5)]
    assert got == want, (f"got {got}, expected {want}: the Controller uses the 'demonstrations' stream and "
                         "attempt 0 for the first try")
    print("correct: an episode's seed depends only on the base seed and its index")
