"""AIRL: adversarial inverse reinforcement learning.

Fu, Luo & Levine 2018, "Learning Robust Rewards with Adversarial Inverse Reinforcement Learning",
ICLR, arXiv 1710.11248.

GAIL's discriminator is replaced by one with a special structure. With the learner's policy
``π`` and a learned function ``f``,

    D(s, a, s′) = exp f(s, a, s′) / (exp f(s, a, s′) + π(a|s)),   i.e.   logit D = f(s, a, s′) − log π(a|s),

    f(s, a, s′) = g(s) + γ h(s′)(1 − done) − h(s).

``g`` is the *disentangled reward* (state-only here, as in the paper's transfer experiments) and
``h`` a shaping potential (Ng, Harada & Russell 1999): at optimality ``g`` recovers the true reward
up to a constant and ``h`` the optimal value function, so ``g`` is a reward that can be reused
(re-optimised in a changed environment) instead of a discriminator that only the current learner
can fool. ``D`` is trained by logistic regression (expert transitions 1, the learner's 0) and the
learner (SB3 PPO, the trainer shared with GAIL in :mod:`illab.methods.adversarial`) maximises
``log D − log(1 − D) = f − log π``: the shaped reward plus an entropy bonus.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.adversarial import GeneratorConfig, LearnedRewardPPO, demo_terminated
from illab.methods.networks import Encoder, as_tensor_obs, mlp, seeded_init
from illab.seeds import torch_seed


@dataclass
class AIRLConfig(GeneratorConfig):
    """Hyperparameters of :class:`AIRL`; the PPO fields are
    :class:`~illab.methods.adversarial.GeneratorConfig`'s."""

    reward_hidden_sizes: tuple[int, ...] = (32, 32)
    """Hidden layers of the reward MLP ``g(s)``."""
    potential_hidden_sizes: tuple[int, ...] = (32, 32)
    """Hidden layers of the potential MLP ``h(s)``."""
    disc_learning_rate: float = 3e-4
    """Adam step size of ``g`` and ``h``."""
    disc_batch_size: int = 256
    """Discriminator minibatch: half expert transitions, half learner transitions."""
    disc_epochs: int = 2
    """Passes of the discriminator over each rollout."""
    generator_reward: str = "logit"
    """PPO's reward: ``"logit"`` = ``f − log π`` (the paper's ``log D − log(1 − D)``); ``"softplus"`` =
    ``−log(1 − D)`` = softplus(logit), always positive (GAIL's form: on tasks whose episodes end early
    when the learner fails, e.g. CartPole or LunarLander, a mostly negative learned reward teaches
    the learner to end episodes early, the survival bias of Kostrikov et al. 2019, arXiv 1809.02925);
    ``"f"`` = the shaped reward alone (use ``ent_coef`` for exploration)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("disc_learning_rate", "disc_batch_size", "disc_epochs")
        if self.generator_reward not in ("logit", "softplus", "f"):
            raise ValueError("AIRLConfig.generator_reward must be 'logit', 'softplus' or 'f', got "
                             f"{self.generator_reward!r}")


class AIRLRewardNet(nn.Module):
    """``g(s)`` and ``h(s)``: two MLPs on standardised observations ``(n, *obs_shape)`` → ``(n,)``."""

    def __init__(self, observation_space: gym.spaces.Box, reward_hidden, potential_hidden):
        super().__init__()
        scale = 255.0 if observation_space.dtype == np.uint8 else 1.0
        self.encoder = Encoder(observation_space.shape, scale)
        self.g_head = mlp(self.encoder.out_dim, reward_hidden, 1)
        self.h_head = mlp(self.encoder.out_dim, potential_hidden, 1)

    def g(self, obs: torch.Tensor) -> torch.Tensor:
        return self.g_head(self.encoder(obs)).squeeze(-1)

    def h(self, obs: torch.Tensor) -> torch.Tensor:
        return self.h_head(self.encoder(obs)).squeeze(-1)

    def f(self, obs: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
        """``g(s) + γ h(s′)(1 − terminated) − h(s)``, ``(n,)``."""
        return self.g(obs) + gamma * self.h(next_obs) * (1.0 - terminated.float()) - self.h(obs)


def airl_logit(f: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """AIRL's discriminator logit ``log D − log(1 − D) = f(s, a, s′) − log π(a|s)`` (``(n,)`` tensors)."""
    return f - log_pi


class AIRL(LearnedRewardPPO):
    """AIRL (Fu, Luo & Levine 2018, arXiv 1710.11248) with an SB3 PPO generator.

    Uses the demonstrations' ``obs``, ``actions``, ``next_obs`` and ``terminated`` (missing
    ``terminated`` = never terminated); needs the environment. The trained PPO actor is the policy.

    Attributes:
        policy: the SB3 ``ActorCriticPolicy``.
        reward_net: :class:`AIRLRewardNet` (``g`` = the learned reward, ``h`` = the shaping potential).

    History (per rollout): ``disc_loss``, ``disc_expert`` / ``disc_policy`` (mean ``D`` on expert /
    learner transitions), ``reward``, ``true_return`` (monitoring only), ``steps``; plus ``eval_*``.
    """

    name = "airl"
    config_class = AIRLConfig

    def _build_reward(self) -> None:
        cfg = self.config
        self.reward_net = seeded_init(self.seed, "airl-reward-init", lambda: AIRLRewardNet(
            self.observation_space, cfg.reward_hidden_sizes, cfg.potential_hidden_sizes))
        self.reward_net.eval()

    def _reward_modules(self) -> dict[str, nn.Module]:
        return {"reward_net": self.reward_net}

    def _normalize(self, demos: Demonstrations) -> None:
        self.reward_net.encoder.fit_normalization(demos.obs)

    # -- the learned reward --------------------------------------------------------------------------
    def reward(self, obs: np.ndarray, actions: np.ndarray | None = None, next_obs: np.ndarray | None = None
               ) -> np.ndarray:
        """The disentangled reward ``g(s)`` of ``obs`` ``(n, *obs_shape)`` → ``(n,)`` float32.

        ``actions`` and ``next_obs`` are accepted for the common IRL signature and ignored (``g``
        is state-only)."""
        with torch.inference_mode(), torch_threads(1):
            return self.reward_net.g(as_tensor_obs(obs)).numpy().astype(np.float32)

    def shaped_reward(self, obs: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray | None = None
                      ) -> np.ndarray:
        """``f(s, a, s′) = g(s) + γ h(s′)(1 − terminated) − h(s)`` for ``obs``/``next_obs``
        ``(n, *obs_shape)`` and ``terminated`` ``(n,)`` bool (default all False) → ``(n,)`` float32."""
        term = torch.zeros(len(obs)) if terminated is None else torch.as_tensor(np.asarray(terminated, dtype=bool))
        with torch.inference_mode(), torch_threads(1):
            f = self.reward_net.f(as_tensor_obs(obs), as_tensor_obs(next_obs), term, self.config.gamma)
        return f.numpy().astype(np.float32)

    def discriminate(self, obs, actions, next_obs, terminated=None) -> np.ndarray:
        """``D(s, a, s′)`` with the current policy's ``log π``: ``(n,)`` float64 in (0, 1)."""
        f = torch.as_tensor(self.shaped_reward(obs, next_obs, terminated))
        return torch.sigmoid(airl_logit(f, self.log_prob(obs, actions))).double().numpy()

    # -- training ------------------------------------------------------------------------------------
    def _setup_reward_learning(self, demos: Demonstrations) -> None:
        if demos.next_obs is None:
            raise ValueError("AIRL needs the demonstrations' next_obs (its discriminator scores (s, a, s′))")
        self._demo = {"obs": demos.obs, "actions": demos.actions, "next_obs": demos.next_obs,
                      "terminated": demo_terminated(demos)}
        self._rng = np.random.default_rng(torch_seed(self.seed, "airl-expert-samples"))
        self._disc_gen = torch.Generator().manual_seed(torch_seed(self.seed, "airl-disc-batches"))
        self._disc_opt = torch.optim.Adam(self.reward_net.parameters(), lr=self.config.disc_learning_rate)

    def _rollout_reward(self, obs, actions, next_obs, terminated) -> np.ndarray:
        f = self.shaped_reward(obs, next_obs, terminated)
        if self.config.generator_reward != "f":
            f = airl_logit(torch.as_tensor(f), self.log_prob(obs, actions))
            if self.config.generator_reward == "softplus":
                f = nn.functional.softplus(f)
            f = f.numpy()
        return f.astype(np.float32)

    def _update_reward(self, rollout: dict[str, np.ndarray]) -> None:
        cfg, demo = self.config, self._demo
        n = len(rollout["obs"])
        idx = self._rng.integers(0, len(demo["obs"]), size=n)
        sides = []  # (obs, next_obs, terminated, log π) for the expert (label 1) and the learner (label 0)
        for src, ix, logp in ((demo, idx, self.log_prob(demo["obs"][idx], demo["actions"][idx])),
                              (rollout, slice(None), torch.as_tensor(rollout["log_prob"]))):
            sides.append((as_tensor_obs(src["obs"][ix]), as_tensor_obs(src["next_obs"][ix]),
                          torch.as_tensor(np.asarray(src["terminated"][ix], dtype=bool)), logp))
        half = max(1, cfg.disc_batch_size // 2)
        losses = []
        net = self.reward_net
        net.train()
        with torch_threads(1):
            for _ in range(cfg.disc_epochs):
                perm = torch.randperm(n, generator=self._disc_gen)
                for i in range(0, n, half):
                    b = perm[i:i + half]
                    logits = torch.cat([airl_logit(net.f(o[b], o2[b], d[b], cfg.gamma), lp[b])
                                        for o, o2, d, lp in sides])
                    labels = torch.cat([torch.ones(len(b)), torch.zeros(len(b))])
                    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
                    self._disc_opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self._disc_opt.step()
                    losses.append(float(loss.detach()))
            net.eval()
            with torch.inference_mode():
                d = [torch.sigmoid(airl_logit(net.f(o, o2, dd, cfg.gamma), lp)).mean() for o, o2, dd, lp in sides]
        self._log(disc_loss=float(np.mean(losses)), disc_expert=float(d[0]), disc_policy=float(d[1]))

    def _progress_postfix(self) -> dict[str, str]:
        return {"D_expert": f"{self.history['disc_expert'][-1]:.2f}",
                "D_learner": f"{self.history['disc_policy'][-1]:.2f}"}


QUICK_CONFIG: dict = {"total_timesteps": 16_384, "generator_reward": "softplus", "eval_every": 0}
"""Smoke-run budget (CartPole, about 10-40 s): learns, numbers not meaningful."""

_WARM = {"total_timesteps": 100_000, "normalize_obs": True, "bc_epochs": 50}
"""GAIL's fixes (issue 18) for every benchmark environment: standardised PPO inputs and a 50-epoch BC warm start
of PPO's actor, 100k PPO steps (``docs/methods.md``, "Inverse RL")."""
_MUJOCO = {**_WARM, "log_std_init": -2.0}
"""HalfCheetah/Walker2d's GAIL recipe's narrow initial policy (std 0.14) on Hopper."""

BENCHMARK_CONFIGS: dict[str, dict] = {
    # episodes end early on failure: the always-positive reward avoids the survival bias
    "CartPole-v1": {**_WARM, "generator_reward": "softplus"},
    "Acrobot-v1": {**_WARM, "generator_reward": "logit"},
    # episodes end on success: the paper's logit f − log π (mostly negative) pays for reaching the goal
    "MountainCar-v0": {**_WARM, "generator_reward": "logit"},
    "MountainCarContinuous-v0": {**_WARM, "generator_reward": "logit"},
    "Pendulum-v1": {**_WARM, "generator_reward": "logit"},
    "LunarLander-v3": {**_WARM, "generator_reward": "softplus"},
    "Hopper-v5": {**_MUJOCO, "generator_reward": "softplus"},
    # the other MuJoCo tasks (issue 19): Hopper's recipe, a stated budget, not tuned per task
    **{env: {**_MUJOCO, "generator_reward": "softplus"} for env in ("HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5")},
}
"""Per-environment ``AIRLConfig`` overrides for the benchmark (see docs/methods.md for which were measured)."""
