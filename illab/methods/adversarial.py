"""The shared trainer of the methods that learn a reward and optimise it with PPO at the same time.

GAIL (Ho & Ermon 2016, arXiv 1606.03476), AIRL (Fu, Luo & Levine 2018, arXiv 1710.11248), guided
cost learning (Finn, Levine & Abbeel 2016, arXiv 1603.00448) and apprenticeship learning (Abbeel &
Ng, ICML 2004) all alternate two steps:

1. the learner (the *generator*, Stable-Baselines3 PPO, Schulman et al. 2017, arXiv 1707.06347)
   collects a rollout in the environment and is rewarded by the *current learned reward*;
2. the learned reward (a discriminator, a cost network, a linear reward) is updated from that
   rollout and the demonstrations, then PPO updates the policy on the rollout.

This module holds that loop once: :class:`LearnedRewardPPO` (an abstract :class:`ILMethod`) owns the
SB3 PPO generator, a VecEnv wrapper that replaces the environment's reward by the method's
(:meth:`LearnedRewardPPO._rollout_reward`) and an SB3 callback that hands every fresh rollout to
:meth:`LearnedRewardPPO._update_reward` before PPO's own update. A method subclasses it and
supplies its reward networks (:meth:`_build_reward`), the per-step reward, and the update. The
environment's true reward is never used for learning; it is only logged (``true_return``).
"""

from __future__ import annotations

import abc
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
from illab.methods.networks import as_tensor_obs, seeded_init
from illab.policy import _batch, _finish_actions
from illab.seeds import torch_seed


@dataclass
class GeneratorConfig(ConfigBase):
    """PPO (the generator) hyperparameters shared by GAIL, AIRL, GCL and AppL."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of PPO's policy and value MLPs."""
    total_timesteps: int = 100_000
    """Environment steps of PPO training."""
    n_envs: int = 8
    """Parallel environments of PPO (a DummyVecEnv)."""
    n_steps: int = 128
    """PPO rollout length per environment (one reward update per rollout)."""
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
    eval_every: int = 10
    """Evaluate on validation-stream episodes every this many rollouts (0 = only at the end)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of PPO's Gaussian policy (Box actions; SB3's default 0 = std 1,
    wide for actions in [-1, 1]: the zoo uses −3.29 on MountainCarContinuous)."""
    normalize_obs: bool = False
    """Standardise the policy's (and value function's) input with the demonstrations' mean and std
    (fixed, saved with the policy); the zoo normalises observations on MountainCar(Continuous), whose
    velocity is ~0.07 in scale. Vector observations only."""
    bc_epochs: int = 0
    """Warm start: epochs of behavioural cloning of PPO's actor on the demonstrations before the
    adversarial loop (the mean action / logits, BC's loss; the log std stays ``log_std_init``), then one
    validation evaluation at step 0 (0 = none; the imitation maintainers' advice in their issue #582)."""
    bc_learning_rate: float = 1e-3
    """Adam step size of the warm start."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate",
                             "bc_learning_rate")
        if self.bc_epochs < 0:
            raise ValueError(f"{type(self).__name__}.bc_epochs must be >= 0 (0 = no warm start), got {self.bc_epochs!r}")
        if not isinstance(self.normalize_obs, bool):
            raise ValueError(f"{type(self).__name__}.normalize_obs must be True or False, got {self.normalize_obs!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"{type(self).__name__}.gamma must be in [0, 1], got {self.gamma!r}")


@contextlib.contextmanager
def preserve_global_rngs():
    """SB3's ``seed=`` reseeds Python, NumPy and torch globally; restore them afterwards."""
    py, np_state = _random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            _random.setstate(py)
            np.random.set_state(np_state)


def terminal_next_obs(obs: np.ndarray, dones: np.ndarray, infos: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The true next observations and ``terminated`` flags of one VecEnv step.

    SB3 VecEnvs reset finished environments at once, so ``obs`` holds the *reset* observation
    where ``dones`` is set; the last observation of the episode is ``infos[i]["terminal_observation"]``.
    ``terminated`` is ``done`` and not a time-limit truncation (``infos[i]["TimeLimit.truncated"]``).

    Returns:
        ``next_obs`` ``(n_envs, *obs_shape)`` (a copy) and ``terminated`` ``(n_envs,)`` bool.
    """
    next_obs = np.array(obs, copy=True)
    terminated = np.zeros(len(dones), dtype=bool)
    for i, done in enumerate(dones):
        if done:
            if infos[i].get("terminal_observation") is not None:
                next_obs[i] = infos[i]["terminal_observation"]
            terminated[i] = not infos[i].get("TimeLimit.truncated", False)
    return next_obs, terminated


class ObsStandardizer(nn.Module):
    """PPO's features extractor with :attr:`GeneratorConfig.normalize_obs`: flattens observations
    ``(n, *obs_shape)`` to ``(n, features_dim)`` float32 and standardises them with fixed buffers
    ``mean``/``std`` (identity until :meth:`fit`; saved in the policy's state dict)."""

    def __init__(self, observation_space: gym.spaces.Box):
        super().__init__()
        self.features_dim = int(np.prod(observation_space.shape))
        self.register_buffer("mean", torch.zeros(self.features_dim))
        self.register_buffer("std", torch.ones(self.features_dim))

    def fit(self, obs: np.ndarray) -> None:
        """Set ``mean``/``std`` from observations ``(T, *obs_shape)`` (std floored at 1e-6)."""
        x = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)
        self.mean.copy_(torch.as_tensor(x.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(x.std(0), 1e-6), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.reshape(len(obs), -1).float() - self.mean) / self.std


class _ActorOutput(nn.Module):
    """The SB3 policy's actor as a BC network: logits (Discrete) or the Gaussian mean scaled to
    [-1, 1] like :class:`~illab.methods.networks.ActionCodec` targets (Box), ``(n, dim)``."""

    def __init__(self, policy: nn.Module, codec: Any):
        super().__init__()
        self.policy, self.codec = policy, codec
        if not codec.discrete:
            self.register_buffer("center", torch.as_tensor(codec.mid))
            self.register_buffer("scale", torch.as_tensor(codec.half))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        dist = self.policy.get_distribution(obs).distribution
        if self.codec.discrete:
            return dist.logits
        return (dist.mean - self.center) / self.scale


class LearnedRewardPPO(ILMethod):
    """Abstract base of the methods whose RL inner loop is SB3 PPO on a learned reward.

    Subclasses set ``name``/``config_class`` (a :class:`GeneratorConfig` subclass) and implement:

    * :meth:`_build_reward` — create the reward networks (seeded, e.g. ``"<name>-disc-init"``);
    * :meth:`_reward_modules` — ``{key: module}`` saved with the policy;
    * :meth:`_setup_reward_learning` — optimisers and generators at the start of ``fit``;
    * :meth:`_rollout_reward` — the reward PPO sees for a batch of transitions;
    * :meth:`_update_reward` — update the learned reward on a fresh rollout (log with ``_log``).

    The trained PPO actor acts as the policy (``predict`` = its deterministic action, or a sample
    with ``deterministic=False``). Seeds: the policy is initialised from ``"<name>-policy-init"``,
    PPO (its environments, minibatches and action sampling) from ``"<name>-ppo"``; the caller's
    global RNGs are restored after training.

    Attributes:
        policy: the SB3 ``ActorCriticPolicy`` (the generator).
    """

    needs_env = True

    # -- construction --------------------------------------------------------------------------------
    def _build(self) -> None:
        from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
        cfg = self.config
        cls = ActorCriticCnnPolicy if len(self.observation_space.shape) == 3 else ActorCriticPolicy
        if cfg.normalize_obs and len(self.observation_space.shape) == 3:
            raise ValueError(f"{type(self).__name__}: normalize_obs is for vector observations; image "
                             "observations are scaled by the CNN policy (set normalize_obs=False)")
        self.policy = seeded_init(self.seed, f"{self.name}-policy-init", lambda: cls(
            self.observation_space, self.action_space, lambda _: cfg.learning_rate, **self._policy_kwargs()))
        self.policy.set_training_mode(False)
        self._build_reward()
        self.net = self.policy  # the acting network, for symmetry with the other methods

    def _policy_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        kw = dict(net_arch=dict(pi=list(cfg.hidden_sizes), vf=list(cfg.hidden_sizes)))
        if isinstance(self.action_space, gym.spaces.Box):
            kw["log_std_init"] = cfg.log_std_init
        if cfg.normalize_obs:
            kw["features_extractor_class"] = ObsStandardizer
        return kw

    @abc.abstractmethod
    def _build_reward(self) -> None:
        """Create the learned-reward networks (seeded with :func:`seeded_init`), in eval mode."""

    @abc.abstractmethod
    def _reward_modules(self) -> dict[str, nn.Module]:
        """The learned-reward modules to save, by key (e.g. ``{"disc": self.disc}``)."""

    def _state(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), **{k: m.state_dict() for k, m in self._reward_modules().items()}}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.policy.set_training_mode(False)
        for k, m in self._reward_modules().items():
            m.load_state_dict(state[k])
            m.eval()

    # -- acting --------------------------------------------------------------------------------------
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

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """``log π(a|s)`` of the current PPO policy for ``obs`` ``(n, *obs_shape)`` and environment
        actions ``actions`` (``(n,)`` ints or ``(n, *act_shape)`` floats): a ``(n,)`` float32 tensor
        without gradient."""
        with torch.no_grad(), torch_threads(1):
            dist = self.policy.get_distribution(as_tensor_obs(obs))
            if self.codec.discrete:
                a = torch.as_tensor(np.asarray(actions).reshape(-1).astype(np.int64) - self.codec.start)
            else:
                a = torch.as_tensor(np.asarray(actions, dtype=np.float32).reshape(len(obs), -1))
            return dist.log_prob(a).float()

    # -- the method's hooks --------------------------------------------------------------------------
    def _setup_reward_learning(self, demos: Demonstrations) -> None:
        """Optimisers, generators and data the reward updates need (called once per ``fit``)."""

    @abc.abstractmethod
    def _rollout_reward(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
                        terminated: np.ndarray) -> np.ndarray:
        """PPO's reward for one VecEnv step: ``obs``/``next_obs`` ``(n_envs, *obs_shape)``, the
        (clipped) environment ``actions``, ``terminated`` ``(n_envs,)`` bool → ``(n_envs,)`` float32."""

    @abc.abstractmethod
    def _update_reward(self, rollout: dict[str, np.ndarray]) -> None:
        """Update the learned reward on a fresh rollout (before PPO's update). ``rollout`` holds
        ``obs``, ``actions`` (environment actions, ``(N,)`` or ``(N, act_dim)``), ``next_obs``,
        ``terminated`` ``(N,)`` bool, ``dones`` ``(N,)`` bool, ``timestep`` ``(N,)`` int (step
        index within its episode), ``log_prob`` ``(N,)`` float32 (the behaviour policy's ``log π``);
        ``N = n_steps * n_envs``, step-major."""

    def _progress_postfix(self) -> dict[str, str]:
        """Extra fields of the tqdm progress bar after each rollout."""
        return {}

    # -- fitting -------------------------------------------------------------------------------------
    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        """PPO for ``config.total_timesteps`` environment steps on the learned reward, updated on
        every rollout (``eval_step`` = environment steps; evaluations every ``config.eval_every``
        rollouts and at the end). Logs per rollout ``reward`` (mean learned reward), ``true_return``
        (mean environment return of the episodes finished so far, monitoring only) and ``steps``."""
        cfg = self.config
        if cfg.normalize_obs and not self.history.get("train_seconds"):  # first fit only, as _normalize
            self.policy.features_extractor.fit(demos.obs)
        if cfg.bc_epochs:
            self._warm_start(demos, progress)
        self._setup_reward_learning(demos)
        with preserve_global_rngs(), torch_threads(1):
            self._learn(env.id, env.kwargs, progress)
        return self.history["steps"][-1]

    def _warm_start(self, demos: Demonstrations, progress: bool) -> None:
        """Behavioural cloning of the PPO actor (``config.bc_epochs`` epochs, BC's loss: cross-entropy
        on the logits or MSE on the scaled mean action; the log std and the value function are not
        trained), seeded from ``"<name>-bc-batches"``; logs ``bc_loss`` per epoch and evaluates the
        warm-started policy on the validation stream at step 0 (so model selection can keep it)."""
        from illab.methods.networks import fit_supervised
        if not demos.has_actions:
            raise ValueError(f"{type(self).__name__}: bc_epochs > 0 warm-starts the policy by behavioural "
                             "cloning, which needs the demonstrations' actions; set bc_epochs=0")
        cfg = self.config
        actor = _ActorOutput(self.policy, self.codec)
        gen = torch.Generator().manual_seed(torch_seed(self.seed, f"{self.name}-bc-batches"))
        losses = fit_supervised(actor, self.codec, demos.obs, demos.actions, epochs=cfg.bc_epochs,
                                batch_size=cfg.batch_size, learning_rate=cfg.bc_learning_rate, weight_decay=0.0,
                                generator=gen, progress=progress, desc=f"{type(self).__name__} warm start")
        self.policy.set_training_mode(False)
        for loss in losses:
            self._log(bc_loss=loss)
        self._evaluate(0)

    def _learn(self, env_id, env_kwargs, progress) -> None:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecEnvWrapper

        cfg, method = self.config, self
        sb3_seed = torch_seed(self.seed, f"{self.name}-ppo") % (2**31 - 1)

        class LearnedReward(VecEnvWrapper):
            """Replaces the environment's reward with the method's learned reward and records
            each step's true next observation, ``terminated`` flag and within-episode time step."""

            def reset(self):
                self._obs = self.venv.reset()
                self._t = np.zeros(self.num_envs, dtype=np.int64)
                self.record = []
                return self._obs

            def step_async(self, actions):
                self._actions = actions
                self.venv.step_async(actions)

            def step_wait(self):
                obs, _, dones, infos = self.venv.step_wait()
                next_obs, terminated = terminal_next_obs(obs, dones, infos)
                rewards = method._rollout_reward(self._obs, self._actions, next_obs, terminated)
                self.record.append((next_obs, terminated, np.asarray(dones, dtype=bool), self._t.copy()))
                self._t = np.where(dones, 0, self._t + 1)
                self._obs = obs
                return obs, rewards, dones, infos

        class RewardUpdate(BaseCallback):
            """Updates the learned reward on every fresh rollout, before PPO's update."""

            def _on_step(self) -> bool:
                return True

            def _on_rollout_end(self) -> None:
                buf = self.model.rollout_buffer
                obs = buf.observations.reshape((-1, *method.observation_space.shape))
                actions = buf.actions.reshape(len(obs), -1)
                if method.codec.discrete:
                    actions = actions[:, 0].astype(np.int64) + method.codec.start
                record, venv.record = venv.record, []
                rollout = {"obs": obs, "actions": actions, "log_prob": buf.log_probs.reshape(-1).astype(np.float32),
                           "next_obs": np.concatenate([r[0] for r in record]),
                           "terminated": np.concatenate([r[1] for r in record]),
                           "dones": np.concatenate([r[2] for r in record]),
                           "timestep": np.concatenate([r[3] for r in record])}
                method._update_reward(rollout)
                method._log(reward=float(buf.rewards.mean()), steps=int(self.model.num_timesteps))
                infos = self.model.ep_info_buffer
                method._log(true_return=float(np.mean([i["r"] for i in infos])) if infos else float("nan"))
                if bar is not None:
                    bar.update(self.model.num_timesteps - bar.n)
                    bar.set_postfix(method._progress_postfix())
                k = len(method.history["steps"])
                if cfg.eval_every and k % cfg.eval_every == 0:
                    method._evaluate(self.model.num_timesteps)

        venv = make_vec_env(env_id, n_envs=cfg.n_envs, seed=sb3_seed, env_kwargs=env_kwargs)
        venv = LearnedReward(venv)
        model = PPO("CnnPolicy" if len(self.observation_space.shape) == 3 else "MlpPolicy", venv,
                    learning_rate=cfg.learning_rate, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                    n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, ent_coef=cfg.ent_coef,
                    policy_kwargs=self._policy_kwargs(),
                    seed=sb3_seed, device="cpu", verbose=0)
        model.policy.load_state_dict(self.policy.state_dict())  # start from the seeded initial weights
        self.policy = self.net = model.policy  # evaluations during training see the current generator
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.total_timesteps, desc=type(self).__name__, unit="step") if progress else None
        try:
            model.learn(cfg.total_timesteps, callback=RewardUpdate())
        finally:
            venv.close()
            if bar is not None:
                bar.close()
            self.policy.set_training_mode(False)


def demo_terminated(demos: Demonstrations) -> np.ndarray:
    """The demonstrations' ``terminated`` flags ``(T,)`` bool (all False when the data has none)."""
    if demos.terminated is None:
        return np.zeros(len(demos.obs), dtype=bool)
    return np.asarray(demos.terminated, dtype=bool)
