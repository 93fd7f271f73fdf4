"""GCL: guided cost learning.

Finn, Levine & Abbeel 2016, "Guided Cost Learning: Deep Inverse Optimal Control via Policy
Optimization", ICML, arXiv 1603.00448.

Maximum-entropy inverse optimal control (Ziebart et al. 2008) models demonstrations as
``p(τ) ∝ exp(−c_θ(τ))``; its negative log-likelihood needs the partition function
``Z = ∫ exp(−c_θ(τ)) dτ``, which GCL estimates by importance sampling with samples from the
current policy ``q``:

    L(θ) = E_demo[c_θ] + log Z,   Z ≈ (1/N) Σ_j w_j exp(−c_θ(τ_j)),   w_j = 1 / q(τ_j),

with the demonstrations added to the sample set (as in the paper) so that ``Z`` is not
underestimated while the policy is still poor. The policy is then improved on the reward ``−c_θ``
and the two steps alternate; the paper's policy optimiser is guided policy search, here it is
SB3 PPO (the trainer shared with GAIL and AIRL, :mod:`illab.methods.adversarial`), one cost update
per PPO rollout.

As in ilpyt's GCL, the cost is per transition ``c_θ(s, a)`` and the importance weights are per
transition, ``1 / π(a|s)`` from the current policy's log-probabilities (a per-step form of the
paper's trajectory weights, whose products over long horizons have unusable variance). The loss
is invariant to adding a constant to ``c``; a small L2 penalty on ``c`` fixes its scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.adversarial import GeneratorConfig, LearnedRewardPPO
from illab.methods.networks import ActionCodec, Encoder, as_tensor_obs, mlp, seeded_init
from illab.seeds import torch_seed


@dataclass
class GCLConfig(GeneratorConfig):
    """Hyperparameters of :class:`GCL`; the PPO fields are
    :class:`~illab.methods.adversarial.GeneratorConfig`'s."""

    cost_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the cost MLP ``c(s, a)``."""
    cost_learning_rate: float = 3e-4
    """Adam step size of the cost network."""
    cost_batch_size: int = 256
    """Cost minibatch: half demonstrations, half policy samples (the demonstrations also join the
    importance-sampled set)."""
    cost_epochs: int = 2
    """Passes of the cost network over each rollout."""
    cost_l2: float = 1e-2
    """Weight of the penalty ``mean(c²)`` that fixes the cost's scale."""
    generator_reward: str = "neg_cost"
    """PPO's reward: ``"neg_cost"`` = ``−c(s, a)``; ``"softplus"`` = ``softplus(−c)``, always
    positive (for tasks whose episodes end early when the learner fails, e.g. CartPole: a mostly
    negative reward teaches the learner to end episodes early)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("cost_learning_rate", "cost_batch_size", "cost_epochs")
        if self.cost_l2 < 0:
            raise ValueError(f"GCLConfig.cost_l2 must be >= 0, got {self.cost_l2!r}")
        if self.generator_reward not in ("neg_cost", "softplus"):
            raise ValueError(f"GCLConfig.generator_reward must be 'neg_cost' or 'softplus', got "
                             f"{self.generator_reward!r}")


class CostNet(nn.Module):
    """``c(s, a)``: standardised observation ``(n, *obs_shape)`` concatenated with the one-hot
    (Discrete) or [-1, 1]-scaled (Box) action, then an MLP to ``(n,)`` costs."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.Space, hidden_sizes):
        super().__init__()
        self.codec = ActionCodec(action_space)
        self.encoder = Encoder(observation_space.shape, 255.0 if observation_space.dtype == np.uint8 else 1.0)
        self.head = mlp(self.encoder.out_dim + self.codec.dim, hidden_sizes, 1)

    def action_features(self, actions: np.ndarray) -> torch.Tensor:
        y = self.codec.encode(actions)
        return nn.functional.one_hot(y, self.codec.dim).float() if self.codec.discrete else y

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.encoder(obs), act], dim=-1)).squeeze(-1)


def gcl_loss(cost_demo: torch.Tensor, cost_samples: torch.Tensor, log_q_samples: torch.Tensor) -> torch.Tensor:
    """The sample-based MaxEnt IOC loss ``mean(c_demo) + log((1/N) Σ_j exp(−c_j) / q_j)``.

    Args:
        cost_demo: ``(m,)`` costs of demonstration transitions.
        cost_samples: ``(N,)`` costs of the importance-sampled set.
        log_q_samples: ``(N,)`` log sampling densities ``log q_j`` of that set.

    Returns:
        A scalar tensor (computed with ``logsumexp`` for stability).
    """
    return cost_demo.mean() + torch.logsumexp(-cost_samples - log_q_samples, 0) - math.log(len(cost_samples))


class GCL(LearnedRewardPPO):
    """Guided cost learning (Finn, Levine & Abbeel 2016, arXiv 1603.00448) with an SB3 PPO policy.

    Uses the demonstrations' ``obs`` and ``actions``; needs the environment. The trained PPO actor
    is the policy.

    Attributes:
        policy: the SB3 ``ActorCriticPolicy``.
        cost: the :class:`CostNet`.

    History (per rollout): ``cost_loss``, ``cost_expert`` / ``cost_policy`` (mean cost of
    demonstration / learner transitions), ``reward``, ``true_return`` (monitoring only), ``steps``.
    """

    name = "gcl"
    config_class = GCLConfig

    def _build_reward(self) -> None:
        self.cost = seeded_init(self.seed, "gcl-cost-init", lambda: CostNet(
            self.observation_space, self.action_space, self.config.cost_hidden_sizes))
        self.cost.eval()

    def _reward_modules(self) -> dict[str, nn.Module]:
        return {"cost": self.cost}

    def _normalize(self, demos: Demonstrations) -> None:
        self.cost.encoder.fit_normalization(demos.obs)

    def reward(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray | None = None) -> np.ndarray:
        """The learned reward ``−c(s, a)`` for ``obs`` ``(n, *obs_shape)`` and ``actions``
        (``(n,)`` or ``(n, *act_shape)``) → ``(n,)`` float32 (``next_obs`` is ignored)."""
        with torch.inference_mode(), torch_threads(1):
            return (-self.cost(as_tensor_obs(obs), self.cost.action_features(actions))).numpy().astype(np.float32)

    def _rollout_reward(self, obs, actions, next_obs, terminated) -> np.ndarray:
        r = self.reward(obs, actions)
        if self.config.generator_reward == "softplus":
            r = np.logaddexp(0.0, r).astype(np.float32)
        return r

    def _setup_reward_learning(self, demos: Demonstrations) -> None:
        self._demo = {"obs": demos.obs, "actions": demos.actions}
        self._rng = np.random.default_rng(torch_seed(self.seed, "gcl-expert-samples"))
        self._cost_gen = torch.Generator().manual_seed(torch_seed(self.seed, "gcl-cost-batches"))
        self._cost_opt = torch.optim.Adam(self.cost.parameters(), lr=self.config.cost_learning_rate)

    def _update_reward(self, rollout: dict[str, np.ndarray]) -> None:
        cfg, demo = self.config, self._demo
        n = len(rollout["obs"])
        idx = self._rng.integers(0, len(demo["obs"]), size=n)
        e_obs, e_act = as_tensor_obs(demo["obs"][idx]), self.cost.action_features(demo["actions"][idx])
        e_logq = self.log_prob(demo["obs"][idx], demo["actions"][idx])  # q = the current policy
        p_obs, p_act = as_tensor_obs(rollout["obs"]), self.cost.action_features(rollout["actions"])
        p_logq = torch.as_tensor(rollout["log_prob"])
        half = max(1, cfg.cost_batch_size // 2)
        losses = []
        self.cost.train()
        with torch_threads(1):
            for _ in range(cfg.cost_epochs):
                perm = torch.randperm(n, generator=self._cost_gen)
                for i in range(0, n, half):
                    b = perm[i:i + half]
                    c_demo, c_pol = self.cost(e_obs[b], e_act[b]), self.cost(p_obs[b], p_act[b])
                    c_all = torch.cat([c_pol, c_demo])
                    loss = gcl_loss(c_demo, c_all, torch.cat([p_logq[b], e_logq[b]]))
                    loss = loss + cfg.cost_l2 * (c_all ** 2).mean()
                    self._cost_opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self._cost_opt.step()
                    losses.append(float(loss.detach()))
            self.cost.eval()
            with torch.inference_mode():
                ce, cp = self.cost(e_obs, e_act).mean(), self.cost(p_obs, p_act).mean()
        self._log(cost_loss=float(np.mean(losses)), cost_expert=float(ce), cost_policy=float(cp))

    def _progress_postfix(self) -> dict[str, str]:
        return {"c_expert": f"{self.history['cost_expert'][-1]:.2f}",
                "c_learner": f"{self.history['cost_policy'][-1]:.2f}"}


QUICK_CONFIG: dict = {"total_timesteps": 16_384, "generator_reward": "softplus", "eval_every": 0}
"""Smoke-run budget (CartPole, about 10-40 s): learns, numbers not meaningful."""

_WARM = {"total_timesteps": 100_000, "normalize_obs": True, "bc_epochs": 50}
"""GAIL's fixes (issue 18) for every benchmark environment: standardised PPO inputs and a 50-epoch BC warm start
of PPO's actor, 100k PPO steps (``docs/methods.md``, "Inverse RL")."""
_MUJOCO = {**_WARM, "log_std_init": -2.0}
"""HalfCheetah/Walker2d's GAIL recipe's narrow initial policy (std 0.14) on Hopper."""

BENCHMARK_CONFIGS: dict[str, dict] = {
    "CartPole-v1": {**_WARM, "generator_reward": "softplus"},
    "Acrobot-v1": {**_WARM, "generator_reward": "neg_cost"},
    "MountainCar-v0": {**_WARM, "generator_reward": "neg_cost"},
    "MountainCarContinuous-v0": {**_WARM, "generator_reward": "neg_cost"},
    "Pendulum-v1": {**_WARM, "generator_reward": "neg_cost"},
    "LunarLander-v3": {**_WARM, "generator_reward": "softplus"},
    "Hopper-v5": {**_MUJOCO, "generator_reward": "softplus"},
    # the other MuJoCo tasks (issue 19): Hopper's recipe, a stated budget, not tuned per task
    **{env: {**_MUJOCO, "generator_reward": "softplus"} for env in ("HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5")},
}
"""Per-environment ``GCLConfig`` overrides for the benchmark (see docs/methods.md for which were measured)."""
