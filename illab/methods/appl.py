"""AppL: apprenticeship learning via inverse reinforcement learning (the projection algorithm).

Abbeel & Ng 2004, "Apprenticeship Learning via Inverse Reinforcement Learning", ICML.

The reward is assumed linear in state features, ``R(s) = w · φ(s)`` with ``‖w‖ ≤ 1``, so a
policy's value is ``w · μ(π)`` with its *feature expectations* ``μ(π) = E[Σ_t γ^t φ(s_t)]``. A
policy whose ``μ`` is within ε of the expert's ``μ_E`` is within ε of the expert's value for
*every* such reward. The projection algorithm finds one:

1. ``μ̄_0 = μ(π_0)`` for an initial policy, ``w_1 = μ_E − μ̄_0``;
2. RL: ``π_i`` = a policy (near-)optimal for ``R = w_i · φ``; estimate ``μ_i = μ(π_i)`` by rollouts;
3. projection: ``μ̄_i = μ̄_{i−1} + [(μ_i − μ̄_{i−1})·(μ_E − μ̄_{i−1}) / ‖μ_i − μ̄_{i−1}‖²] (μ_i − μ̄_{i−1})``,
   ``w_{i+1} = μ_E − μ̄_i``, margin ``t_{i+1} = ‖μ_E − μ̄_i‖``; repeat until ``t`` is small.

Here step 2 is SB3 PPO (the trainer shared with GAIL, AIRL and GCL,
:mod:`illab.methods.adversarial`), warm-started across iterations: ``rollouts_per_iteration`` PPO
rollouts on the current ``w``, then a projection step. PPO's reward is ``ŵ · φ(s)`` with the unit
vector ``ŵ = w / ‖w‖`` (the same optimal policies; ``‖w‖`` shrinks to 0 as the margin closes, which
would starve PPO of signal). Instead of the paper's mixture of the ``π_i`` (or a manual choice), the
policy kept is the one with the best validation-stream return among the evaluated iterates
(``ILMethod``'s model selection), so the iterates are evaluated after every iteration.

Features ``φ(s)`` (``features``): ``"rbf"`` (default) — Gaussian radial basis functions of the
standardised observation ``z`` around ``n_centers`` demonstration states (seeded choice), width =
``rbf_width`` × the median distance between centres, each in (0, 1]; or ``"raw"`` — ``z`` itself
(clipped to [−5, 5]). The reward is state-only, so it does not care about the action space:
``Discrete`` and ``Box`` actions both work (PPO handles either), unlike ilpyt's AppL (discrete only).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.adversarial import GeneratorConfig, LearnedRewardPPO
from illab.methods.networks import Encoder, as_tensor_obs
from illab.seeds import episode_seeds, torch_seed


@dataclass
class AppLConfig(GeneratorConfig):
    """Hyperparameters of :class:`AppL`; the PPO fields are
    :class:`~illab.methods.adversarial.GeneratorConfig`'s (keep ``eval_every`` =
    ``rollouts_per_iteration``: one evaluation per iteration)."""

    features: str = "rbf"
    """State features ``φ(s)``: ``"rbf"`` or ``"raw"`` (the standardised observation)."""
    n_centers: int = 64
    """RBF centres (demonstration states, chosen with the seed)."""
    rbf_width: float = 0.5
    """RBF width as a fraction of the median distance between centres (standardised units)."""
    rollouts_per_iteration: int = 10
    """PPO rollouts (``n_steps × n_envs`` steps each) per projection iteration."""
    feature_episodes: int = 10
    """Episodes of the current policy (deterministic actions) to estimate ``μ(π_i)``."""
    eval_every: int = 10
    """Evaluate every this many rollouts; keep it equal to ``rollouts_per_iteration`` so that each
    iterate ``π_i`` is evaluated (the projection algorithm's choice among its iterates)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("n_centers", "rbf_width", "rollouts_per_iteration", "feature_episodes")
        if self.features not in ("rbf", "raw"):
            raise ValueError(f"AppLConfig.features must be 'rbf' or 'raw', got {self.features!r}")


class LinearFeatureReward(nn.Module):
    """``R(s) = w · φ(s)``: the features (standardisation, RBF centres and width) and the weights
    ``w`` as buffers, so they are saved with the method."""

    def __init__(self, observation_space: gym.spaces.Box, features: str, n_centers: int):
        super().__init__()
        if len(observation_space.shape) == 3:
            raise TypeError("AppL's features are for vector observations, not images")
        self.encoder = Encoder(observation_space.shape)
        self.features = features
        d = self.encoder.out_dim
        self.dim = n_centers if features == "rbf" else d
        self.register_buffer("centers", torch.zeros(n_centers if features == "rbf" else 0, d))
        self.register_buffer("width", torch.ones(()))
        self.register_buffer("w", torch.zeros(self.dim))

    def fit(self, obs: np.ndarray, rng: np.random.Generator, width_fraction: float) -> None:
        """Standardisation from ``obs`` ``(T, *obs_shape)``; RBF centres: distinct rows of ``obs``."""
        self.encoder.fit_normalization(obs)
        if self.features != "rbf":
            return
        with torch.no_grad():
            z = self.encoder(as_tensor_obs(obs))
        uniq = np.unique(z.numpy(), axis=0)
        pick = rng.choice(len(uniq), size=len(self.centers), replace=len(uniq) < len(self.centers))
        c = torch.as_tensor(uniq[np.sort(pick)])
        self.centers.copy_(c)
        dist = torch.cdist(c, c)
        off = dist[~torch.eye(len(c), dtype=torch.bool)]
        med = float(off[off > 0].median()) if (off > 0).any() else 1.0
        self.width.fill_(max(med * width_fraction, 1e-3))

    def phi(self, obs: torch.Tensor) -> torch.Tensor:
        """Features ``(n, dim)`` of observations ``(n, *obs_shape)``."""
        z = self.encoder(obs)
        if self.features == "raw":
            return z.clamp(-5.0, 5.0)
        return torch.exp(-torch.cdist(z, self.centers) ** 2 / (2 * self.width ** 2))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.phi(obs) @ self.w


def feature_expectations(features: np.ndarray, episode_lengths, gamma: float) -> np.ndarray:
    """``μ = mean over episodes of Σ_t γ^t φ(s_t)``.

    Args:
        features: ``(T, d)`` features of consecutive steps of episodes stored back to back.
        episode_lengths: ``(E,)`` ints summing to ``T``.
        gamma: discount in [0, 1].

    Returns:
        ``(d,)`` float64.

    Raises:
        ValueError: the lengths do not sum to ``T``.
    """
    lengths = np.asarray(episode_lengths, dtype=np.int64)
    if lengths.sum() != len(features) or len(lengths) == 0:
        raise ValueError(f"episode_lengths sum to {lengths.sum()} but there are {len(features)} feature rows")
    t = np.concatenate([np.arange(n) for n in lengths])
    return (np.asarray(features, dtype=np.float64) * (gamma ** t)[:, None]).sum(0) / len(lengths)


def projection_step(mu_bar: np.ndarray, mu: np.ndarray, mu_expert: np.ndarray) -> np.ndarray:
    """Abbeel & Ng's projection: the point of the segment ``[μ̄, μ]`` closest to ``μ_E`` along
    ``μ − μ̄``, ``μ̄ + [(μ − μ̄)·(μ_E − μ̄) / ‖μ − μ̄‖²] (μ − μ̄)`` (all ``(d,)``). If ``μ == μ̄``
    nothing moves."""
    d = mu - mu_bar
    dd = float(d @ d)
    if dd <= 0.0:
        return mu_bar.copy()
    return mu_bar + (float(d @ (mu_expert - mu_bar)) / dd) * d


class AppL(LearnedRewardPPO):
    """Apprenticeship learning, projection algorithm (Abbeel & Ng 2004), with SB3 PPO as the RL step.

    Uses the demonstrations' ``obs`` and episode boundaries (``episode_lengths``) only — not their
    actions; needs the environment. The trained PPO actor is the policy.

    Attributes:
        policy: the SB3 ``ActorCriticPolicy``.
        linear_reward: :class:`LinearFeatureReward` (features and the current unit weights ``ŵ``).
        mu_expert: ``(d,)`` the expert's feature expectations (after ``fit``).

    History: per iteration ``margin`` (``t = ‖μ_E − μ̄‖``), ``policy_distance`` (``‖μ_E − μ_i‖``),
    ``iteration_step``; per rollout ``reward``, ``true_return``, ``steps``; ``eval_*`` per iteration.
    """

    name = "appl"
    config_class = AppLConfig
    needs_actions = False

    def _build_reward(self) -> None:
        self.linear_reward = LinearFeatureReward(self.observation_space, self.config.features, self.config.n_centers)

    def _reward_modules(self) -> dict[str, nn.Module]:
        return {"linear_reward": self.linear_reward}

    def _normalize(self, demos: Demonstrations) -> None:
        rng = np.random.default_rng(torch_seed(self.seed, "appl-rbf-centers"))
        self.linear_reward.fit(demos.obs, rng, self.config.rbf_width)

    def features(self, obs: np.ndarray) -> np.ndarray:
        """``φ(s)`` for ``obs`` ``(n, *obs_shape)`` → ``(n, d)`` float32."""
        with torch.inference_mode(), torch_threads(1):
            return self.linear_reward.phi(as_tensor_obs(obs)).numpy().astype(np.float32)

    def reward(self, obs: np.ndarray, actions: np.ndarray | None = None, next_obs: np.ndarray | None = None
               ) -> np.ndarray:
        """The learned reward ``ŵ · φ(s)`` of ``obs`` ``(n, *obs_shape)`` → ``(n,)`` float32 (state-only:
        ``actions`` and ``next_obs`` are accepted for the common IRL signature and ignored)."""
        with torch.inference_mode(), torch_threads(1):
            return self.linear_reward(as_tensor_obs(obs)).numpy().astype(np.float32)

    def _rollout_reward(self, obs, actions, next_obs, terminated) -> np.ndarray:
        return self.reward(obs)

    # -- the projection algorithm ------------------------------------------------------------------
    def policy_feature_expectations(self, n_episodes: int, start: int = 0) -> np.ndarray:
        """``μ(π)`` of the current policy (deterministic actions) from ``n_episodes`` episodes on
        seeds of this method's own stream (never validation or test seeds): ``(d,)`` float64."""
        from illab.rollout import run_episodes  # rollout plays policies; it never imports methods
        base = torch_seed(self.seed, "appl-feature-episodes") % (2**31 - 1)
        seeds = episode_seeds(base, n_episodes, "demonstrations", start=start)
        eps = run_episodes(self, self._env_id, seeds, env_kwargs=self._env_kwargs, n_envs=min(16, n_episodes))
        obs = np.concatenate([e.obs for e in eps])
        return feature_expectations(self.features(obs), [len(e.obs) for e in eps], self.config.gamma)

    def _set_w(self, mu_bar: np.ndarray) -> None:
        w = self.mu_expert - mu_bar
        norm = float(np.linalg.norm(w))
        self.linear_reward.w.copy_(torch.as_tensor(w / norm if norm > 0 else w, dtype=torch.float32))
        self._log(margin=norm)

    def _setup_reward_learning(self, demos: Demonstrations) -> None:
        env = self._env
        self._env_id, self._env_kwargs = env.id, env.kwargs
        self.mu_expert = feature_expectations(self.features(demos.obs), demos.episode_lengths, self.config.gamma)
        self._iteration = 0
        self._rollouts = 0
        mu0 = self.policy_feature_expectations(self.config.feature_episodes)  # π_0: the initial PPO policy
        self._mu_bar = mu0
        self._set_w(mu0)
        self._log(policy_distance=float(np.linalg.norm(self.mu_expert - mu0)), iteration_step=0)

    def _update_reward(self, rollout: dict[str, np.ndarray]) -> None:
        # called before PPO's update on this rollout; the projection uses the policy as it is now
        self._rollouts += 1
        if self._rollouts % self.config.rollouts_per_iteration:
            return
        self._iteration += 1
        cfg = self.config
        mu = self.policy_feature_expectations(cfg.feature_episodes, start=self._iteration * cfg.feature_episodes)
        self._mu_bar = projection_step(self._mu_bar, mu, self.mu_expert)
        self._log(policy_distance=float(np.linalg.norm(self.mu_expert - mu)),
                  iteration_step=int(self._rollouts * cfg.n_steps * cfg.n_envs))
        self._set_w(self._mu_bar)

    def _progress_postfix(self) -> dict[str, str]:
        return {"margin": f"{self.history['margin'][-1]:.3f}"}


QUICK_CONFIG: dict = {"total_timesteps": 16_384, "rollouts_per_iteration": 4, "eval_every": 4}
"""Smoke-run budget (CartPole, about 10-40 s): learns, numbers not meaningful."""

_WARM = {"total_timesteps": 100_000, "normalize_obs": True, "bc_epochs": 50}
"""GAIL's fixes (issue 18) for every benchmark environment: standardised PPO inputs and a 50-epoch BC warm start
of PPO's actor, 100k PPO steps (``docs/methods.md``, "Inverse RL")."""
_MUJOCO = {**_WARM, "log_std_init": -2.0}
"""HalfCheetah/Walker2d's GAIL recipe's narrow initial policy (std 0.14) on Hopper."""

BENCHMARK_CONFIGS: dict[str, dict] = {env_id: dict(_WARM) for env_id in (
    "CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "LunarLander-v3")}
BENCHMARK_CONFIGS["MountainCar-v0"] = {**_WARM, "n_steps": 256}  # 128 scored 0.865 on the first seed
BENCHMARK_CONFIGS["Hopper-v5"] = dict(_MUJOCO)
for _env in ("HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5"):  # issue 19: Hopper's recipe, a stated budget
    BENCHMARK_CONFIGS[_env] = dict(_MUJOCO)
"""Per-environment ``AppLConfig`` overrides for the benchmark (see docs/methods.md for which were measured)."""
