"""Pictures for the course: episode GIFs (imageio) and return plots (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from illab.policy import Policy
from illab.rollout import make_env


def record_gif(policy: Policy, env_id: str, path: str | os.PathLike, seed: int = 0, env_kwargs: dict | None = None,
               max_steps: int = 300, every: int = 2, fps: int = 25) -> Path:
    """Play one seeded episode (at most ``max_steps`` steps) and save it as an animated GIF.

    Args:
        policy: any :class:`~illab.policy.Policy` (deterministic actions).
        env_id, env_kwargs: the gymnasium task (must support ``render_mode="rgb_array"``).
        path: destination ``.gif``; seed: the reset seed.
        every: keep one frame in ``every`` (smaller files); fps: playback frames per second.

    Returns:
        ``path`` as a :class:`~pathlib.Path`; the episode return is in ``record_gif.last_return``.
    """
    import imageio.v2 as imageio

    env = make_env(env_id, env_kwargs, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=int(seed))
        frames, total = [env.render()], 0.0
        for _ in range(max_steps):
            obs, reward, terminated, truncated, _ = env.step(policy.predict(obs)[0])
            total += float(reward)
            frames.append(env.render())
            if terminated or truncated:
                break
    finally:
        env.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames[::every], duration=1000 / fps, loop=0)
    record_gif.last_return = total
    return path


def plot_returns(returns: dict[str, np.ndarray], ax=None, title: str | None = None):
    """Box plot of episode returns per policy (``{"expert": array, "BC": array, ...}``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3))[1]
    ax.boxplot([np.asarray(v) for v in returns.values()], tick_labels=list(returns))
    ax.set_ylabel("episode return (sum of rewards)")
    if title:
        ax.set_title(title)
    return ax
