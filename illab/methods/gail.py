"""GAIL: generative adversarial imitation learning.

Ho & Ermon 2016, "Generative Adversarial Imitation Learning", NeurIPS, arXiv 1606.03476.

A discriminator ``D_ω(s, a) ∈ (0, 1)`` learns to tell expert pairs (label 1) from the
learner's (label 0) by logistic regression,

    max_ω  E_expert[log D_ω(s, a)] + E_π[log(1 − D_ω(s, a))],

and the learner (the generator) is trained by reinforcement learning to fool it, with reward
``r(s, a) = −log(1 − D_ω(s, a))`` (default, ``reward="gail"``; always positive) or
``log D − log(1 − D)`` (``reward="airl"``, the discriminator's logit; Fu et al. 2018, arXiv
1710.11248). At the saddle point the learner's occupancy measure matches the expert's.

Here the generator is Stable-Baselines3 PPO (Schulman et al. 2017, arXiv 1707.06347): a VecEnv
wrapper replaces the environment's reward by the discriminator's, and an SB3 callback updates
the discriminator on each fresh PPO rollout (against as many random expert pairs) before PPO's
own update. The environment's true reward is never used for learning; it is only logged.
"""

from __future__ import annotations

import contextlib
import random as _random
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.base import ConfigBase, Env, ILMethod
from illab.methods.networks import ActionCodec, Encoder, as_tensor_obs, mlp, seeded_init
from illab.policy import _batch, _finish_actions
from illab.seeds import torch_seed


@dataclass
class GAILConfig(ConfigBase):
    """Hyperparameters of :class:`GAIL` (defaults reach expert level on CartPole-v1)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of PPO's policy and value MLPs."""
    disc_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the discriminator MLP."""
    total_timesteps: int = 100_000
    """Environment steps of PPO training."""
    n_envs: int = 8
    """Parallel environments of PPO (a DummyVecEnv)."""
    n_steps: int = 128
    """PPO rollout length per environment (one discriminator update per rollout)."""
    batch_size: int = 256
    """PPO minibatch size."""
    n_epochs: int = 10
    """PPO epochs per rollout."""
    learning_rate: float = 3e-4
    """PPO Adam step size."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE λ."""
    ent_coef: float = 0.0
    """PPO entropy bonus."""
    disc_learning_rate: float = 3e-4
    """Discriminator Adam step size."""
    disc_batch_size: int = 256
    """Discriminator minibatch: half expert pairs, half learner pairs."""
    disc_epochs: int = 2
    """Passes of the discriminator over each rollout."""
    reward: str = "gail"
    """``"gail"``: ``−log(1 − D)``; ``"airl"``: ``log D − log(1 − D)``."""
    eval_every: int = 10
    """Evaluate on validation-stream episodes every this many rollouts (0 = only at the end)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate",
                             "disc_learning_rate", "disc_batch_size", "disc_epochs")
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


@contextlib.contextmanager
def _preserve_global_rngs():
    """SB3's ``seed=`` reseeds Python, NumPy and torch globally; restore them afterwards."""
    py, np_state = _random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            _random.setstate(py)
            np.random.set_state(np_state)


class GAIL(ILMethod):
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

    def _build(self) -> None:
        from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
        cfg = self.config
        cls = ActorCriticCnnPolicy if len(self.observation_space.shape) == 3 else ActorCriticPolicy
        arch = dict(pi=list(cfg.hidden_sizes), vf=list(cfg.hidden_sizes))
        self.policy = seeded_init(self.seed, "gail-policy-init", lambda: cls(
            self.observation_space, self.action_space, lambda _: cfg.learning_rate, net_arch=arch))
        self.policy.set_training_mode(False)
        self.disc = seeded_init(self.seed, "gail-disc-init", lambda: Discriminator(
            self.observation_space, self.action_space, cfg.disc_hidden_sizes))
        self.disc.eval()
        self.net = self.policy  # the acting network, for symmetry with the other methods

    def _state(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "disc": self.disc.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.policy.set_training_mode(False)
        self.disc.load_state_dict(state["disc"])
        self.disc.eval()

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        """The PPO actor's actions (see :meth:`ILMethod.predict` for shapes)."""
        batch, single = _batch(obs, self.observation_space)
        if batch.shape[1:] != tuple(self.observation_space.shape):
            raise ValueError(f"observation shape {np.asarray(obs).shape} does not match the observation space "
                             f"{tuple(self.observation_space.shape)}")
        with torch.inference_mode(), torch_threads(1):
            if deterministic:
                actions = self.policy._predict(as_tensor_obs(batch), deterministic=True).numpy()
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self._sample_gen)))
                    actions = self.policy._predict(as_tensor_obs(batch), deterministic=False).numpy()
        if isinstance(self.action_space, gym.spaces.Box):
            actions = np.clip(actions.reshape((-1, *self.action_space.shape)), self.action_space.low,
                              self.action_space.high)
        return _finish_actions(actions, self.action_space, single), state

    # -- discriminator -------------------------------------------------------------------------------
    def reward(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The learner's reward for pairs ``obs`` ``(n, *obs_shape)``, ``actions`` ``(n, ...)``:
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

    # -- fitting -------------------------------------------------------------------------------------
    def _normalize(self, demos: Demonstrations) -> None:
        self.disc.encoder.fit_normalization(demos.obs)  # PPO's policy sees raw observations, as in SB3

    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        """Adversarial training for ``config.total_timesteps`` environment steps (``eval_step`` =
        environment steps; evaluations every ``config.eval_every`` rollouts and at the end).

        Logs per rollout: ``disc_loss``, ``disc_expert`` / ``disc_policy`` (mean ``D`` on expert /
        learner pairs — both tend to 0.5 as the learner improves), ``reward`` (mean discriminator
        reward), ``true_return`` (mean environment return of the episodes finished so far, for
        monitoring only), ``steps``; plus ``eval_*``.
        """
        demo = {"obs": demos.obs, "actions": demos.actions}
        self._rng = np.random.default_rng(torch_seed(self.seed, "gail-expert-samples"))
        self._disc_gen = torch.Generator().manual_seed(torch_seed(self.seed, "gail-disc-batches"))
        self._disc_opt = torch.optim.Adam(self.disc.parameters(), lr=self.config.disc_learning_rate)
        with _preserve_global_rngs(), torch_threads(1):
            self._learn(demo, env.id, env.kwargs, progress)
        return self.history["steps"][-1]

    def _learn(self, demo, env_id, env_kwargs, progress) -> None:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecEnvWrapper

        cfg, method = self.config, self
        sb3_seed = torch_seed(self.seed, "gail-ppo") % (2**31 - 1)

        class DiscriminatorReward(VecEnvWrapper):
            """Replaces the environment's reward with the discriminator's reward of (s, a)."""

            def reset(self):
                self._obs = self.venv.reset()
                return self._obs

            def step_async(self, actions):
                self._actions = actions
                self.venv.step_async(actions)

            def step_wait(self):
                obs, _, dones, infos = self.venv.step_wait()
                rewards = method.reward(self._obs, self._actions)
                self._obs = obs
                return obs, rewards, dones, infos

        class DiscriminatorUpdate(BaseCallback):
            """Trains the discriminator on every fresh rollout, before PPO's update."""

            def _on_step(self) -> bool:
                return True

            def _on_rollout_end(self) -> None:
                buf = self.model.rollout_buffer
                obs = buf.observations.reshape((-1, *method.observation_space.shape))
                actions = buf.actions.reshape(len(obs), -1)
                if method.codec.discrete:
                    actions = actions[:, 0].astype(np.int64) + method.codec.start
                method._train_disc(demo, obs, actions)
                method._log(reward=float(buf.rewards.mean()), steps=int(self.model.num_timesteps))
                infos = self.model.ep_info_buffer
                method._log(true_return=float(np.mean([i["r"] for i in infos])) if infos else float("nan"))
                if bar is not None:
                    bar.update(self.model.num_timesteps - bar.n)
                    bar.set_postfix(D_expert=f"{method.history['disc_expert'][-1]:.2f}",
                                    D_learner=f"{method.history['disc_policy'][-1]:.2f}")
                k = len(method.history["steps"])
                if cfg.eval_every and k % cfg.eval_every == 0:
                    method._evaluate(self.model.num_timesteps)

        venv = make_vec_env(env_id, n_envs=cfg.n_envs, seed=sb3_seed, env_kwargs=env_kwargs)
        venv = DiscriminatorReward(venv)
        model = PPO("CnnPolicy" if len(self.observation_space.shape) == 3 else "MlpPolicy", venv,
                    learning_rate=cfg.learning_rate, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                    n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, ent_coef=cfg.ent_coef,
                    policy_kwargs=dict(net_arch=dict(pi=list(cfg.hidden_sizes), vf=list(cfg.hidden_sizes))),
                    seed=sb3_seed, device="cpu", verbose=0)
        model.policy.load_state_dict(self.policy.state_dict())  # start from the seeded initial weights
        self.policy = self.net = model.policy  # evaluations during training see the current generator
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.total_timesteps, desc="GAIL", unit="step") if progress else None
        try:
            model.learn(cfg.total_timesteps, callback=DiscriminatorUpdate())
        finally:
            venv.close()
            if bar is not None:
                bar.close()
            self.policy.set_training_mode(False)
