"""Augmented behavioural cloning from observation, ABCO.

Monteiro, Gavenski, Granada, Meneguzzi & Barros 2020, "Augmented Behavioral Cloning from
Observation", IJCNN, arXiv 2004.13529.

ABCO is BCO(α) (:mod:`illab.methods.bco`) with a different rule for what the inverse dynamics
model (IDM) learns from. BCO(α) *appends* every post-demonstration transition of the agent to
the IDM's data, whatever the agent did; when the agent is still bad its transitions are as far
from the expert's states as random play, and when it is good they are drowned in the random
``I_pre`` data. ABCO's **goal-aware sampling** lets the agent's own performance decide:

1. play the current policy; measure its performance ratio ``r ∈ [0, 1]`` (here: the mean over
   its episodes of the normalized return ``clip((G − G_random) / (G_expert − G_random), 0, 1)``,
   with ``G_random`` the mean return of the pre-demonstration random play and ``G_expert`` the
   demonstrations' mean return; the paper uses the fraction of episodes that reach the goal);
2. the new IDM data keeps a uniformly drawn ``(1 − r)`` fraction of the current IDM data and adds
   a uniformly drawn ``r`` fraction of the agent's new transitions. ``r = 0``: nothing changes
   (a failing agent's transitions would not help); ``r → 1``: the IDM data becomes the agent's
   own, near-expert transitions, exactly the states where the demonstrations need labels;
3. retrain the IDM, relabel the demonstrations, retrain the policy (as in BCO).

The paper's networks add a self-attention layer (SAGAN-style) for image observations. On vector
observations such a layer sees one position, the softmax over one key is 1, and it reduces to a
zero-initialised residual linear map; illab keeps the plain MLPs of BCO for vectors and its CNN
encoder for images (IL-Datasets' ``MlpWithAttention`` is that degenerate case).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from illab.demonstrations import Demonstrations
from illab.methods.base import Env
from illab.methods.bco import BCO, BCOConfig
from illab.methods.networks import fit_supervised
from illab.policy import RandomPolicy
from illab.seeds import torch_seed


@dataclass
class ABCOConfig(BCOConfig):
    """Hyperparameters of :class:`ABCO` (BCO's, plus the goal-aware sampling budget)."""

    post_iterations: int = 10
    """Rounds of play → goal-aware sampling → IDM → relabel → policy (each evaluated on validation)."""
    agent_steps: int = 5000
    """Environment steps of the agent's own play per round (whole episodes, cut to this length);
    the pool that the goal-aware sampling draws ``r · agent_steps`` transitions from."""
    epochs: int = 10
    """Policy epochs per round (the policy keeps its weights between rounds)."""
    idm_epochs: int = 10
    """IDM epochs per round (the IDM keeps its weights between rounds)."""
    expert_return: float | None = None
    """``G_expert`` of the performance ratio; ``None``: the demonstrations' mean episode return
    (demonstrations without rewards and no value here: ``r = 1``, i.e. BCO(α)'s append-everything)."""
    explore_epsilon: float = 0.0
    """Probability that each action of the agent's own play is replaced by a uniformly random one
    (0: ABCO's greedy play; IUPE: its sampled play). Greedy play makes the action a function of the state, so an IDM trained
    mostly on it can predict the policy's own action from ``s`` alone and never learns to read
    ``s'`` — it then copies the policy's mistakes onto the demonstrations (on Acrobot the labels of
    the expert's transitions stall at 91 % correct although every transition is identifiable).
    Random actions at the agent's own states break that shortcut."""
    selection_episodes: int = 0
    """Validation-stream episodes of each round's evaluation, i.e. of the model selection among the
    ``post_iterations + 1`` rounds (0: ``fit``'s ``eval_episodes``; ``fit(eval_episodes=0)`` still
    turns evaluation off). On Acrobot an imitator loses its AER in a few long episodes (5–9 in 100
    run past 120 steps), which 10 validation episodes rarely contain, so selecting the best of 11
    rounds on 10 episodes is close to picking a round at random."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("agent_steps")
        if not 0.0 <= self.explore_epsilon <= 1.0:
            raise ValueError(f"ABCOConfig.explore_epsilon must be in [0, 1], got {self.explore_epsilon}")
        if self.selection_episodes < 0:
            raise ValueError(f"ABCOConfig.selection_episodes must be >= 0 (0: fit's eval_episodes), "
                             f"got {self.selection_episodes}")
        if self.expert_return is not None and not np.isfinite(self.expert_return):
            raise ValueError(f"ABCOConfig.expert_return must be a finite number or None, got {self.expert_return!r}")


def goal_aware_ratio(returns: np.ndarray, random_return: float, expert_return: float) -> float:
    """ABCO's performance ratio ``r``: mean of ``clip((G − random) / (expert − random), 0, 1)``.

    Args:
        returns: ``(E,)`` undiscounted returns of the agent's episodes.
        random_return, expert_return: reference returns (``expert_return > random_return``).

    Returns:
        ``r`` in [0, 1] (0 for an empty ``returns``).

    Raises:
        ValueError: ``expert_return <= random_return`` (the expert must beat random play).

    Source: Monteiro et al. 2020 (ABCO, arXiv 2004.13529), goal-aware sampling; the normalized
    return is IL-Datasets' performance metric (arXiv 2403.00550) clipped to [0, 1].
    """
    if not expert_return > random_return:
        raise ValueError(f"expert_return ({expert_return}) must exceed random_return ({random_return})")
    g = np.asarray(returns, dtype=np.float64).reshape(-1)
    if g.size == 0:
        return 0.0
    return float(np.mean(np.clip((g - random_return) / (expert_return - random_return), 0.0, 1.0)))


def goal_aware_mix(idm_data: dict[str, np.ndarray], new: dict[str, np.ndarray], ratio: float,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The next IDM data set: a ``(1 − ratio)`` uniform subsample of ``idm_data`` plus a ``ratio``
    uniform subsample of ``new`` (sizes rounded down; drawn without replacement by ``rng``).

    Args:
        idm_data, new: dicts of equal-length arrays (``obs``, ``actions``, ``next_obs``).
        ratio: the performance ratio in [0, 1] (:func:`goal_aware_ratio`).

    Raises:
        ValueError: ``ratio`` outside [0, 1] or mismatched keys.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    if set(idm_data) != set(new):
        raise ValueError(f"idm_data keys {sorted(idm_data)} and new keys {sorted(new)} differ")
    n_old, n_new = len(idm_data["obs"]), len(new["obs"])
    keep = np.sort(rng.choice(n_old, int(n_old * (1.0 - ratio)), replace=False))
    take = np.sort(rng.choice(n_new, int(n_new * ratio), replace=False))
    return {k: np.concatenate([idm_data[k][keep], new[k][take]]) for k in idm_data}


class _EpsilonRandom:
    """A behaviour policy with ε-random actions: ``policy``'s action (greedy or sampled, per
    ``deterministic``), replaced with probability ``epsilon`` (independently per step) by a uniform
    draw from ``action_space``."""

    def __init__(self, policy, action_space: gym.Space, epsilon: float, rng: np.random.Generator,
                 deterministic: bool = True):
        self.policy, self.space, self.epsilon, self.rng = policy, action_space, epsilon, rng
        self.deterministic = deterministic

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        actions, state = self.policy.predict(obs, state, episode_start, deterministic=self.deterministic)
        actions = np.array(actions)
        single_ndim = len(self.space.shape or ())
        n = actions.shape[0] if actions.ndim > single_ndim else None
        if isinstance(self.space, gym.spaces.Discrete):
            random = self.rng.integers(self.space.start, self.space.start + self.space.n, size=n).astype(np.int64)
        else:
            shape = self.space.shape if n is None else (n, *self.space.shape)
            random = self.rng.uniform(self.space.low, self.space.high, size=shape).astype(np.float32)
        swap = self.rng.random(n) < self.epsilon
        if n is not None:
            swap = swap.reshape((n,) + (1,) * single_ndim)
        return np.where(swap, random, actions).astype(actions.dtype), state


class ABCO(BCO):
    """Augmented behavioural cloning from observation (Monteiro et al. 2020, arXiv 2004.13529).

    BCO(α) with goal-aware sampling of the IDM's data (see the module docstring). Trains on
    state-only demonstrations (``obs``/``next_obs`` ``(T, *obs_shape)``); ``Discrete`` and ``Box``
    actions. The demonstrations' ``rewards`` (if any) give ``G_expert`` for the ratio only.

    Logs, per round: ``ratio`` (r), ``agent_return`` (mean return of the agent's play),
    ``idm_size``, ``idm_accuracy_on_policy`` (IDM on the agent's new transitions, before training
    on them), ``idm_accuracy`` (on the IDM's data), ``inferred_accuracy`` (on the demonstrations,
    only when they carry actions), ``eval_*`` (``eval_step`` = environment steps used).
    """

    name = "abco"
    config_class = ABCOConfig

    def _build(self) -> None:
        super()._build()
        self._draws: dict[str, int] = {}

    def _rng(self, purpose: str) -> np.random.Generator:
        n = self._draws.get(purpose, 0)
        self._draws[purpose] = n + 1  # a fresh, reproducible stream per draw
        return np.random.default_rng([torch_seed(self.seed, f"{self.name}-{purpose}"), n])

    # -- hooks IUPE overrides -------------------------------------------------------------------------
    def _behaviour(self):
        """(policy, deterministic) the agent plays with while collecting its own transitions: greedy
        (with ``explore_epsilon`` random actions)."""
        return self._with_epsilon(self, True)

    def _with_epsilon(self, policy, deterministic: bool):
        """``(behaviour, deterministic)`` for :meth:`interact`: ``policy`` with ``explore_epsilon``
        random actions (unchanged when it is 0)."""
        eps = self.config.explore_epsilon
        if eps > 0:
            return _EpsilonRandom(policy, self.action_space, eps, self._rng("epsilon"), deterministic), True
        return policy, deterministic

    def _fit_policy(self, demos: Demonstrations, idm_gen: torch.Generator, pol_gen: torch.Generator,
                    progress: bool, round_: int) -> None:
        """Label the demonstrations with the IDM's most likely actions and fit the policy (BCO's step 3)."""
        cfg = self.config
        labels = self.infer_actions(demos.obs, demos.next_obs)
        losses = fit_supervised(self.net, self.codec, demos.obs, labels, epochs=cfg.epochs,
                                batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                weight_decay=cfg.weight_decay, generator=pol_gen, progress=progress,
                                desc=f"{self.name} policy {round_}")
        self.history.setdefault("loss", []).extend(losses)

    # -- the method -------------------------------------------------------------------------------------
    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        """Random play, IDM, labels, policy; then ``post_iterations`` goal-aware rounds (see class doc)."""
        cfg = self.config
        if cfg.selection_episodes and self._eval_episodes:  # set by ILMethod.fit for this fit
            self._eval_episodes = cfg.selection_episodes
        idm_gen = torch.Generator().manual_seed(torch_seed(self.seed, f"{self.name}-idm-batches"))
        pol_gen = torch.Generator().manual_seed(torch_seed(self.seed, f"{self.name}-batches"))
        rng = np.random.default_rng(torch_seed(self.seed, f"{self.name}-goal-aware"))
        random = RandomPolicy(self.action_space, seed=torch_seed(self.seed, f"{self.name}-random"),
                              observation_space=self.observation_space)
        data = self.interact(random, cfg.pre_demo_steps, env.id, env.kwargs)  # I_pre
        random_return = float(np.mean(self.last_episode_returns))
        expert_return = cfg.expert_return
        if expert_return is None and demos.episode_returns is not None:
            expert_return = float(np.mean(demos.episode_returns))
        if expert_return is not None and not expert_return > random_return:
            warnings.warn(f"{type(self).__name__}: the expert's return {expert_return:.2f} does not beat random "
                          f"play's {random_return:.2f}; the goal-aware ratio is 1 (BCO(α)'s rule)", stacklevel=3)
            expert_return = None
        elif expert_return is None:
            warnings.warn(f"{type(self).__name__}: the demonstrations carry no rewards and config.expert_return is "
                          "None; the goal-aware ratio is 1 (BCO(α)'s rule)", stacklevel=3)
        self._idm_data = data
        for it in range(cfg.post_iterations + 1):
            if it > 0:  # play, measure r, goal-aware sampling of the IDM data
                policy, deterministic = self._behaviour()
                new = self.interact(policy, cfg.agent_steps, env.id, env.kwargs, deterministic=deterministic)
                returns = np.asarray(self.last_episode_returns)
                ratio = 1.0 if expert_return is None else goal_aware_ratio(returns, random_return, expert_return)
                self._log(ratio=ratio, agent_return=float(returns.mean()),
                          idm_accuracy_on_policy=self.idm_accuracy(new["obs"], new["actions"], new["next_obs"]))
                if ratio > 0:
                    data = goal_aware_mix(data, new, ratio, rng)
                    self._idm_data = data
            self._log(idm_size=len(data["obs"]))
            self._train_idm(data, idm_gen, progress)
            self._log(idm_accuracy=self.idm_accuracy(data["obs"], data["actions"], data["next_obs"]))
            if demos.has_actions:
                self._log(inferred_accuracy=self.idm_accuracy(demos.obs, demos.actions, demos.next_obs))
            self._fit_policy(demos, idm_gen, pol_gen, progress, it)
            self._evaluate(self.interaction_steps)
        return self.interaction_steps


QUICK_CONFIG: dict[str, Any] = {"pre_demo_steps": 2000, "agent_steps": 1000, "post_iterations": 2,
                                "epochs": 10, "idm_epochs": 10}
"""``ABCOConfig`` overrides for the benchmark's ``--quick`` mode (CartPole, tiny budgets)."""

BENCHMARK_CONFIGS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {"post_iterations": 3},  # every round already scores 500 on validation; saves ~2/3 of the time
    # ε-random play keeps the IDM reading s' (labels of the expert's transitions 0.92 -> 0.99 correct, seed 0);
    # a 256x256 policy and 200 selection episodes: chosen on 300 held-out validation episodes (docs/methods.md)
    "Acrobot-v1": {"explore_epsilon": 0.2, "selection_episodes": 200, "hidden_sizes": (256, 256)},
    # both landers (one id): ε-random play, chosen on 100 held-out validation episodes; continuous 0.72 -> 0.96 (ABCO)
    "LunarLander-v3": {"explore_epsilon": 0.2},
}
"""``ABCOConfig`` overrides per environment id for the published table (missing: the defaults)."""
