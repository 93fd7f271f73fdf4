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


def register_all(register, Expert) -> None:
    """Register the scripted examples (called once by :mod:`illab.experts`)."""
    register("mountaincar-energy", Expert("mountaincar-energy", "MountainCar-v0", "scripted", threshold=-200.0,
                                          factory=_mountaincar_policy))
    register("lunarlander-heuristic", Expert("lunarlander-heuristic", "LunarLander-v3", "scripted",
                                             threshold=200.0, factory=_lunarlander_policy))
