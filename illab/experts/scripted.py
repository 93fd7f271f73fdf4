"""Scripted experts: examples of custom, non-learned policies in the registry.

* ``lunarlander-heuristic`` — gymnasium's hand-written LunarLander-v3 controller
  (``gymnasium.envs.box2d.lunar_lander.heuristic``).
* ``mountaincar-energy`` — energy pumping for MountainCar-v0: push in the direction of the
  velocity (right when moving right or at rest, else left), which adds energy every step.
"""

from __future__ import annotations

import numpy as np

from illab.policy import FunctionPolicy


def mountaincar_energy(obs: np.ndarray) -> np.ndarray:
    """Batched energy-pumping rule. ``obs``: ``(n, 2)`` [position, velocity] → ``(n,)`` int64 in {0, 2}."""
    return np.where(obs[:, 1] >= 0, 2, 0).astype(np.int64)


def _mountaincar_policy():
    import gymnasium as gym
    env = gym.make("MountainCar-v0")
    return FunctionPolicy(mountaincar_energy, env.observation_space, env.action_space, batched=True)


def _lunarlander_policy(continuous: bool = False):
    import gymnasium as gym
    from gymnasium.envs.box2d.lunar_lander import heuristic
    env = gym.make("LunarLander-v3", continuous=continuous)
    return FunctionPolicy(lambda o: heuristic(env.unwrapped, o), env.observation_space, env.action_space)


# (random, expert) reference returns, (mean, std) over 100 test-stream episodes with base seed 0,
# measured by :func:`measure` (re-run it after changing a rule).
REFERENCE_RETURNS = {
    "mountaincar-energy": ((-200.0, 0.0), (-118.94, 3.8)),
    "lunarlander-heuristic": ((-165.58, 91.25), (229.47, 118.5)),
}


def measure(expert_id: str, n_episodes: int = 100, seed: int = 0) -> tuple[tuple[float, float], tuple[float, float]]:
    """Measure ``((random mean, std), (expert mean, std))`` of a registered scripted expert."""
    from illab import experts
    from illab.evaluate import reference_returns
    e = experts.get(expert_id)
    rand, expert = reference_returns(experts.load(expert_id), e.env_id, n_episodes, seed, e.env_kwargs)
    return (round(rand.mean, 2), round(rand.std, 2)), (round(expert.mean, 2), round(expert.std, 2))


def register_all(register, Expert) -> None:
    """Register the scripted examples (called once by :mod:`illab.experts`)."""
    for expert_id, env_id, threshold, factory in (
            ("mountaincar-energy", "MountainCar-v0", -200.0, _mountaincar_policy),
            ("lunarlander-heuristic", "LunarLander-v3", 200.0, _lunarlander_policy)):
        rand, expert = REFERENCE_RETURNS[expert_id]
        register(expert_id, Expert(expert_id, env_id, "scripted", threshold=threshold, factory=factory,
                                   random_return=rand, expert_return=expert))
