"""GAIL: generative adversarial imitation learning.

Ho & Ermon 2016, "Generative Adversarial Imitation Learning", NeurIPS, arXiv 1606.03476.

A discriminator ``D_ω(s, a) ∈ (0, 1)`` learns to tell expert pairs (label 1) from the
learner's (label 0) by logistic regression,

    max_ω  E_expert[log D_ω(s, a)] + E_π[log(1 − D_ω(s, a))],

and the learner (the generator) is trained by reinforcement learning to fool it, with reward
``r(s, a) = −log(1 − D_ω(s, a))`` (default, ``reward="gail"``; always positive) or
``log D − log(1 − D)`` (``reward="airl"``, the discriminator's logit; Fu et al. 2018, arXiv
1710.11248). At the saddle point the learner's occupancy measure matches the expert's.

Here the generator is Stable-Baselines3 PPO (Schulman et al. 2017, arXiv 1707.06347), run by the
trainer GAIL shares with AIRL, GCL and AppL (:class:`illab.methods.adversarial.LearnedRewardPPO`):
a VecEnv wrapper replaces the environment's reward by the discriminator's, and an SB3 callback
updates the discriminator on each fresh PPO rollout (against as many random expert pairs) before
PPO's own update. The environment's true reward is never used for learning; it is only logged.
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
from illab.methods.networks import ActionCodec, Encoder, as_tensor_obs, mlp, seeded_init
from illab.seeds import torch_seed


@dataclass
class GAILConfig(GeneratorConfig):
    """Hyperparameters of :class:`GAIL` (defaults reach expert level on CartPole-v1); the PPO
    fields are :class:`~illab.methods.adversarial.GeneratorConfig`'s."""

    disc_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the discriminator MLP."""
    disc_learning_rate: float = 3e-4
    """Discriminator Adam step size."""
    disc_batch_size: int = 256
    """Discriminator minibatch: half expert pairs, half learner pairs."""
    disc_epochs: int = 2
    """Passes of the discriminator over each rollout."""
    reward: str = "gail"
    """``"gail"``: ``−log(1 − D)``; ``"airl"``: ``log D − log(1 − D)``."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("disc_learning_rate", "disc_batch_size", "disc_epochs")
        if self.reward not in ("gail", "airl"):
            raise ValueError(f"reward must be 'gail' or 'airl', got {self.reward!r}")


class Discriminator(nn.Module):
    """``D(s, a)`` as a logit: encoded observation ``(n, *obs_shape)`` concatenated with the
    one-hot (Discrete) or [-1, 1]-scaled (Box) action, then an MLP to ``(n,)`` logits."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.Space, hidden_sizes):
        super().__init__()
        self.codec = ActionCodec(action_space)
        self.encoder = Encoder(observation_space.shape, 255.0 if observation_space.dtype == np.uint8 else 1.0)
        self.head = mlp(self.encoder.out_dim + self.codec.dim, hidden_sizes, 1)

    def action_features(self, actions: np.ndarray) -> torch.Tensor:
        y = self.codec.encode(actions)
        if self.codec.discrete:
            return nn.functional.one_hot(y, self.codec.dim).float()
        return y

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.encoder(obs), act], dim=-1)).squeeze(-1)


class GAIL(LearnedRewardPPO):
    """GAIL (Ho & Ermon 2016, arXiv 1606.03476) with an SB3 PPO generator.

    Uses the dataset's ``obs`` ``(T, *obs_shape)`` and ``actions``; needs the environment
    (``env_id``, from the dataset's card by default). The trained PPO actor acts as the policy
    (``predict`` = its deterministic action, or a sample with ``deterministic=False``).

    Attributes:
        policy: the SB3 ``ActorCriticPolicy`` (the generator).
        disc: the :class:`Discriminator`.
    """

    name = "gail"
    config_class = GAILConfig
    needs_env = True

    def _build_reward(self) -> None:
        self.disc = seeded_init(self.seed, "gail-disc-init", lambda: Discriminator(
            self.observation_space, self.action_space, self.config.disc_hidden_sizes))
        self.disc.eval()

    def _reward_modules(self) -> dict[str, nn.Module]:
        return {"disc": self.disc}

    # -- discriminator -------------------------------------------------------------------------------
    def reward(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray | None = None) -> np.ndarray:
        """The learner's reward for pairs ``obs`` ``(n, *obs_shape)``, ``actions`` ``(n, ...)``
        (``next_obs`` is accepted for the common IRL signature and ignored):
        ``−log(1 − D)`` = softplus(logit) (``"gail"``) or the logit ``log D − log(1 − D)`` (``"airl"``).
        Returns ``(n,)`` float32."""
        with torch.inference_mode(), torch_threads(1):
            logit = self.disc(as_tensor_obs(obs), self.disc.action_features(actions))
            r = nn.functional.softplus(logit) if self.config.reward == "gail" else logit
        return r.numpy().astype(np.float32)

    def discriminate(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``D(s, a)``: the discriminator's probability that each pair is the expert's, ``(n,)`` float64."""
        with torch.inference_mode(), torch_threads(1):
            logit = self.disc(as_tensor_obs(obs), self.disc.action_features(actions))
        return torch.sigmoid(logit).double().numpy()

    def _train_disc(self, demo: dict[str, np.ndarray], obs: np.ndarray, actions: np.ndarray) -> None:
        cfg = self.config
        n = len(obs)
        idx = self._rng.integers(0, len(demo["obs"]), size=n)
        e_obs, e_act = as_tensor_obs(demo["obs"][idx]), self.disc.action_features(demo["actions"][idx])
        p_obs, p_act = as_tensor_obs(obs), self.disc.action_features(actions)
        half = max(1, cfg.disc_batch_size // 2)
        losses = []
        self.disc.train()
        with torch_threads(1):
            for _ in range(cfg.disc_epochs):
                perm = torch.randperm(n, generator=self._disc_gen)
                for i in range(0, n, half):
                    b = perm[i:i + half]
                    logits = torch.cat([self.disc(e_obs[b], e_act[b]), self.disc(p_obs[b], p_act[b])])
                    labels = torch.cat([torch.ones(len(b)), torch.zeros(len(b))])
                    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
                    self._disc_opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self._disc_opt.step()
                    losses.append(float(loss.detach()))
            self.disc.eval()
            with torch.inference_mode():
                d_exp = torch.sigmoid(self.disc(e_obs, e_act)).mean()
                d_pol = torch.sigmoid(self.disc(p_obs, p_act)).mean()
        self._log(disc_loss=float(np.mean(losses)), disc_expert=float(d_exp), disc_policy=float(d_pol))

    # -- fitting (the PPO loop is LearnedRewardPPO's) ---------------------------------------------------
    def _normalize(self, demos: Demonstrations) -> None:
        self.disc.encoder.fit_normalization(demos.obs)  # PPO's policy sees raw observations, as in SB3

    def _setup_reward_learning(self, demos: Demonstrations) -> None:
        self._demo = {"obs": demos.obs, "actions": demos.actions}
        self._rng = np.random.default_rng(torch_seed(self.seed, "gail-expert-samples"))
        self._disc_gen = torch.Generator().manual_seed(torch_seed(self.seed, "gail-disc-batches"))
        self._disc_opt = torch.optim.Adam(self.disc.parameters(), lr=self.config.disc_learning_rate)

    def _rollout_reward(self, obs, actions, next_obs, terminated) -> np.ndarray:
        return self.reward(obs, actions)

    def _update_reward(self, rollout: dict[str, np.ndarray]) -> None:
        self._train_disc(self._demo, rollout["obs"], rollout["actions"])

    def _progress_postfix(self) -> dict[str, str]:
        return {"D_expert": f"{self.history['disc_expert'][-1]:.2f}",
                "D_learner": f"{self.history['disc_policy'][-1]:.2f}"}
