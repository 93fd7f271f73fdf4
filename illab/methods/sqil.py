"""SQIL: soft Q imitation learning, and the off-policy machinery it shares with IQ-Learn.

Reddy, Dragan & Levine 2019, "SQIL: Imitation Learning via Reinforcement Learning with Sparse
Rewards", ICLR 2020, arXiv 1905.11108.

SQIL's one idea: run an off-policy RL algorithm on a replay buffer that holds the
demonstrations with reward **1** and the agent's own transitions with reward **0**, sampling
every minibatch half from each. The agent is rewarded for reaching and staying in
demonstrated states, and it needs no discriminator and no environment reward.

Here the RL learner is Stable-Baselines3: DQN (Mnih et al. 2015) for ``Discrete`` actions,
SAC (Haarnoja et al. 2018, arXiv 1801.01290) for ``Box`` actions. SQIL only changes the replay
buffer (:class:`DemonstrationReplayBuffer`); IQ-Learn (:mod:`illab.methods.iqlearn`) reuses that
buffer and :class:`OffPolicyIL` and replaces the learner's ``train()``.

Evaluation and steps-to-expert: every ``eval_every`` environment steps the policy is evaluated on
validation-stream episodes (``history["eval_step"]``, ``"eval_return"``) and normalized with
reference returns: ``expert_return`` / ``random_return`` from the config, or by default the mean
return of the demonstrations (``Demonstrations.episode_returns``) and the mean return of a
uniformly random policy on the same validation seeds. ``history["eval_normalized"]`` holds
``(R − R_random) / (R_expert − R_random)`` and ``history["steps_to_expert"]`` the first evaluation
step whose normalized return is ≥ ``expert_threshold`` (0.9), or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.base import ConfigBase, Env, ILMethod
from illab.methods.adversarial import preserve_global_rngs
from illab.methods.networks import as_tensor_obs, seeded_init
from illab.policy import _batch, _finish_actions
from illab.seeds import torch_seed


# ------------------------------------------------------------------------------------------- config
@dataclass
class OffPolicyConfig(ConfigBase):
    """Hyperparameters shared by :class:`SQIL` and IQ-Learn (SB3 DQN for Discrete, SAC for Box)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the Q-network(s) and (Box) the actor."""
    total_timesteps: int = 20_000
    """Environment steps (offline IQ-Learn: gradient steps)."""
    learning_rate: float = 1e-3
    """Adam step size of every network."""
    buffer_size: int = 100_000
    """Capacity of the agent's replay buffer (the demonstrations are kept apart, all of them)."""
    learning_starts: int = 1000
    """Environment steps of random play before the first update."""
    batch_size: int = 128
    """Minibatch size: ``expert_fraction`` of it from the demonstrations, the rest from the agent."""
    expert_fraction: float = 0.5
    """Share of each minibatch drawn from the demonstrations (SQIL: one half)."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int = 1
    """Environment steps between updates."""
    gradient_steps: int = 1
    """Gradient steps per update."""
    target_update_interval: int = 500
    """DQN: environment steps between hard target-network copies."""
    tau: float = 0.005
    """SAC: Polyak coefficient of the target critics."""
    exploration_fraction: float = 0.2
    """DQN: share of ``total_timesteps`` over which ε decays from 1 to ``exploration_final_eps``."""
    exploration_final_eps: float = 0.05
    """DQN: final ε of ε-greedy exploration."""
    ent_coef: str = "auto"
    """SAC: entropy coefficient, ``"auto"`` (tuned to a target entropy) or a number as text, e.g. ``"0.05"``."""
    eval_every: int = 2000
    """Evaluate on validation-stream episodes every this many environment steps (0 = only at the end)."""
    expert_return: float | None = None
    """Reference expert return for ``eval_normalized`` (``None``: the demonstrations' mean return)."""
    random_return: float | None = None
    """Reference random return (``None``: a uniformly random policy on the validation seeds)."""
    expert_threshold: float = 0.9
    """Normalized return that counts as expert level for ``steps_to_expert``."""
    stop_at_expert: bool = False
    """Stop training at the first evaluation at or above ``expert_threshold`` (saves compute)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("total_timesteps", "learning_rate", "buffer_size", "batch_size", "train_freq",
                             "gradient_steps", "target_update_interval", "tau")
        if not 0.0 < self.expert_fraction <= 1.0:
            raise ValueError(f"expert_fraction must be in (0, 1], got {self.expert_fraction!r}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")
        if self.learning_starts < 0 or self.eval_every < 0:
            raise ValueError("learning_starts and eval_every must be >= 0")
        if self.ent_coef != "auto":
            try:
                ok = float(self.ent_coef) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"ent_coef must be 'auto' or a positive number as text such as '0.05', "
                                 f"got {self.ent_coef!r}")
        for name in ("expert_return", "random_return"):
            v = getattr(self, name)
            if v is not None and not np.isfinite(v):
                raise ValueError(f"{name} must be a finite number or None, got {v!r}")


@dataclass
class SQILConfig(OffPolicyConfig):
    """Hyperparameters of :class:`SQIL` (defaults: CartPole-v1 at expert level within ~20 k steps)."""


# -------------------------------------------------------------------------------------- replay buffer
def _replay_buffer_class():
    from stable_baselines3.common.buffers import ReplayBuffer
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    class DemonstrationReplayBuffer(ReplayBuffer):
        """SB3 ``ReplayBuffer`` of the agent's transitions plus a fixed set of demonstrations.

        ``sample(batch_size)`` returns ``round(expert_fraction * batch_size)`` demonstration rows
        first, then agent rows (all demonstration rows before ``learning_starts`` fills the agent
        part). Rewards are relabelled the SQIL way: 1 for demonstrations, 0 for the agent's
        transitions (the environment reward is never used); IQ-Learn reads them as an
        "is expert" flag. ``dones`` are ``terminated`` (never time-limit truncations).
        Indices come from a ``numpy.random.Generator`` seeded with ``seed``.

        Args (besides SB3's): ``demonstrations`` — dict with ``obs`` ``(N, *obs_shape)``,
        ``actions`` ``(N, action_dim)`` in the learner's action encoding (DQN: indices; SAC:
        scaled to [-1, 1]), ``next_obs`` ``(N, *obs_shape)``, ``dones`` ``(N,)`` float32;
        ``expert_fraction`` in (0, 1]; ``seed``.
        """

        def __init__(self, *args, demonstrations: dict, expert_fraction: float = 0.5, seed: int = 0, **kwargs):
            super().__init__(*args, **kwargs)
            self.demo = {k: np.asarray(v) for k, v in demonstrations.items()}
            self.expert_fraction = float(expert_fraction)
            self.rng = np.random.default_rng(seed)

        def sample(self, batch_size: int, env=None) -> ReplayBufferSamples:
            upper = self.buffer_size if self.full else self.pos
            n_exp = batch_size if upper == 0 else int(round(self.expert_fraction * batch_size))
            n_agent = batch_size - n_exp
            d = self.demo
            i = self.rng.integers(0, len(d["obs"]), size=n_exp)
            parts = [(d["obs"][i], d["actions"][i], d["next_obs"][i], d["dones"][i], np.ones(n_exp, np.float32))]
            if n_agent:
                j = self.rng.integers(0, upper, size=n_agent)
                e = self.rng.integers(0, self.n_envs, size=n_agent)
                done = self.dones[j, e] * (1 - self.timeouts[j, e])
                parts.append((self.observations[j, e], self.actions[j, e], self.next_observations[j, e], done,
                              np.zeros(n_agent, np.float32)))
            obs, act, nxt, done, rew = (np.concatenate([p[k] for p in parts]) for k in range(5))
            data = (obs.astype(np.float32), act, nxt.astype(np.float32),
                    done.astype(np.float32).reshape(-1, 1), rew.reshape(-1, 1))
            return ReplayBufferSamples(*tuple(map(self.to_torch, data)))

    return DemonstrationReplayBuffer


def _standardized_extractor_class():
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class StandardizedFlatten(BaseFeaturesExtractor):
        """Flatten ``(n, *obs_shape)`` observations and standardise them with the buffers
        ``mean``/``std`` (the demonstrations' statistics, saved with the weights)."""

        def __init__(self, observation_space: gym.spaces.Box):
            dim = int(np.prod(observation_space.shape))
            super().__init__(observation_space, dim)
            self.register_buffer("mean", torch.zeros(dim))
            self.register_buffer("std", torch.ones(dim))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return (obs.reshape(len(obs), -1).float() - self.mean) / self.std

    return StandardizedFlatten


# ------------------------------------------------------------------------------------------- method
class OffPolicyIL(ILMethod):
    """Shared base of :class:`SQIL` and IQ-Learn: an SB3 DQN (``Discrete``) or SAC (``Box``)
    learner on a :class:`DemonstrationReplayBuffer`, evaluated every ``eval_every`` steps.

    Subclasses set ``name``, ``config_class`` and may override :meth:`_learner_classes` (to
    customise the learner's ``train()``) and :meth:`_offline`. Vector observations only.

    Attributes:
        policy: the SB3 ``DQNPolicy`` or ``SACPolicy``; it acts (DQN: greedy action; SAC: the
            actor's mean action, or a sample with ``deterministic=False``).
    """

    name: ClassVar[str] = ""
    needs_env = True

    # -- construction ------------------------------------------------------------------------------
    def _policy_kwargs(self) -> dict:
        return dict(net_arch=list(self.config.hidden_sizes), features_extractor_class=_standardized_extractor_class())

    def _build(self) -> None:
        if len(self.observation_space.shape) != 1:
            raise TypeError(f"{type(self).__name__} supports vector observations (rank-1 Box), got shape "
                            f"{self.observation_space.shape}; flatten them first")
        if isinstance(self.action_space, gym.spaces.Discrete) and int(self.action_space.start) != 0:
            raise TypeError(f"{type(self).__name__} needs a Discrete action space starting at 0 (SB3 DQN), got "
                            f"start={self.action_space.start}")
        from stable_baselines3.dqn.policies import DQNPolicy
        from stable_baselines3.sac.policies import SACPolicy
        cfg = self.config
        cls = DQNPolicy if self.codec.discrete else SACPolicy
        self.policy = seeded_init(self.seed, f"{self.name}-policy-init", lambda: cls(
            self.observation_space, self.action_space, lambda _: cfg.learning_rate, **self._policy_kwargs()))
        self.policy.set_training_mode(False)
        self.net = self.policy

    def _state(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.policy.set_training_mode(False)

    def _normalize(self, demos: Demonstrations) -> None:
        flat = np.asarray(demos.obs, dtype=np.float64).reshape(len(demos.obs), -1)
        mean = torch.as_tensor(flat.mean(0), dtype=torch.float32)
        std = torch.as_tensor(np.maximum(flat.std(0), 1e-6), dtype=torch.float32)
        for m in self.policy.modules():
            if hasattr(m, "mean") and hasattr(m, "std") and isinstance(m.mean, torch.Tensor):
                m.mean.copy_(mean)
                m.std.copy_(std)

    # -- acting ------------------------------------------------------------------------------------
    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        """Greedy (DQN) or mean (SAC) actions; see :meth:`ILMethod.predict` for shapes."""
        batch, single = _batch(obs, self.observation_space)
        if batch.shape[1:] != tuple(self.observation_space.shape):
            raise ValueError(f"observation shape {np.asarray(obs).shape} does not match the observation space "
                             f"{tuple(self.observation_space.shape)}")
        with torch.inference_mode(), torch_threads(1):
            x = as_tensor_obs(batch)
            if deterministic:
                actions = self._act(x, True)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self._sample_gen)))
                    actions = self._act(x, False)
        if isinstance(self.action_space, gym.spaces.Box):
            actions = self.policy.unscale_action(actions.reshape((-1, *self.action_space.shape)))
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return _finish_actions(actions, self.action_space, single), state

    def _act(self, x: torch.Tensor, deterministic: bool) -> np.ndarray:
        return self.policy._predict(x, deterministic=deterministic).numpy()

    # -- learner -----------------------------------------------------------------------------------
    def _learner_classes(self) -> tuple[type, type]:
        """The SB3 algorithms for (Discrete, Box) action spaces; IQ-Learn returns subclasses."""
        from stable_baselines3 import DQN, SAC
        return DQN, SAC

    def _offline(self) -> bool:
        """True: train on the demonstrations only, without environment steps (offline IQ-Learn)."""
        return False

    def _demo_arrays(self, demos: Demonstrations) -> dict[str, np.ndarray]:
        if demos.next_obs is None:
            raise ValueError(f"{type(self).__name__} learns from transitions (obs, action, next_obs): the "
                             "demonstrations have no next_obs; collect them with illab (they always do)")
        done = demos.terminated if demos.terminated is not None else np.zeros(len(demos.obs), bool)
        if self.codec.discrete:
            actions = np.asarray(demos.actions, dtype=np.int64).reshape(-1, 1)
        else:
            low, high = self.action_space.low, self.action_space.high
            a = np.asarray(demos.actions, dtype=np.float32).reshape(len(demos.obs), -1)
            actions = np.clip(2.0 * (a - low.reshape(1, -1)) / (high - low).reshape(1, -1) - 1.0, -1, 1)
            actions = actions.astype(np.float32)
        return {"obs": np.asarray(demos.obs, np.float32), "actions": actions,
                "next_obs": np.asarray(demos.next_obs, np.float32), "dones": np.asarray(done, np.float32)}

    def _make_model(self, venv, demos: Demonstrations, sb3_seed: int):
        cfg = self.config
        dqn_cls, sac_cls = self._learner_classes()
        buffer_kwargs = dict(demonstrations=self._demo_arrays(demos), expert_fraction=cfg.expert_fraction,
                             seed=torch_seed(self.seed, f"{self.name}-replay"))
        common = dict(learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size,
                      learning_starts=0 if self._offline() else cfg.learning_starts, batch_size=cfg.batch_size,
                      gamma=cfg.gamma, train_freq=cfg.train_freq, gradient_steps=cfg.gradient_steps,
                      replay_buffer_class=_replay_buffer_class(), replay_buffer_kwargs=buffer_kwargs,
                      policy_kwargs=self._policy_kwargs(), seed=sb3_seed, device="cpu", verbose=0)
        if self.codec.discrete:
            model = dqn_cls("MlpPolicy", venv, target_update_interval=cfg.target_update_interval,
                            exploration_fraction=cfg.exploration_fraction,
                            exploration_final_eps=cfg.exploration_final_eps, **common)
        else:
            ent = cfg.ent_coef if cfg.ent_coef == "auto" else float(cfg.ent_coef)
            model = sac_cls("MlpPolicy", venv, tau=cfg.tau, ent_coef=ent, **common)
        model.policy.load_state_dict(self.policy.state_dict())  # the seeded initial weights + normalization
        model._method = self  # customised train() methods read the method's config from here
        return model

    # -- references and evaluation -----------------------------------------------------------------
    def _references(self, demos: Demonstrations, env: Env) -> tuple[float | None, float | None]:
        cfg = self.config
        expert, rand = cfg.expert_return, cfg.random_return
        if expert is None and demos.episode_returns is not None:
            expert = float(np.mean(demos.episode_returns))
        if rand is None and env.id and self._eval_episodes > 0:
            from illab.evaluate import evaluate
            from illab.policy import RandomPolicy
            res = evaluate(RandomPolicy(self.action_space, seed=torch_seed(self.seed, "random-reference")),
                           env.id, n_episodes=self._eval_episodes, seed=self.seed, stream="validation",
                           env_kwargs=env.kwargs, n_envs=min(16, self._eval_episodes))
            rand = float(res.mean)
        return expert, rand

    def _evaluate(self, step: int) -> float | None:
        ret = super()._evaluate(step)
        if ret is not None and self._refs[0] is not None and self._refs[1] is not None:
            expert, rand = self._refs
            norm = (ret - rand) / (expert - rand) if expert != rand else float("nan")
            self._log(eval_normalized=float(norm))
            if norm >= self.config.expert_threshold and self._steps_to_expert is None:
                self._steps_to_expert = int(step)
        return ret

    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        """Off-policy training for ``config.total_timesteps`` environment steps (offline IQ-Learn:
        gradient steps); ``eval_step`` is in that unit. Logs ``steps``, ``loss`` (the learner's
        critic/Q loss per evaluation period), ``eval_normalized``, ``expert_return``,
        ``random_return`` and, once per fit, ``steps_to_expert`` (``None`` if never reached)."""
        from stable_baselines3.common.env_util import make_vec_env
        self._refs = self._references(demos, env)
        self._log(expert_return=self._refs[0], random_return=self._refs[1])
        self._steps_to_expert = None
        sb3_seed = torch_seed(self.seed, f"{self.name}-sb3") % (2**31 - 1)
        with preserve_global_rngs(), torch_threads(1):
            venv = make_vec_env(env.id, n_envs=1, seed=sb3_seed, env_kwargs=env.kwargs)
            try:
                model = self._make_model(venv, demos, sb3_seed)
                self.policy = self.net = model.policy  # evaluations during training see the current learner
                step = self._offline_learn(model, progress) if self._offline() else self._online_learn(model, progress)
            finally:
                venv.close()
                self.policy.set_training_mode(False)
        self._log(steps_to_expert=self._steps_to_expert)
        return step

    def _after_eval(self) -> bool:
        """True to stop training (``stop_at_expert`` and expert level reached)."""
        return bool(self.config.stop_at_expert and self._steps_to_expert is not None)

    def _online_learn(self, model, progress: bool) -> int:
        from stable_baselines3.common.callbacks import BaseCallback
        from tqdm.auto import tqdm
        cfg, method = self.config, self
        bar = tqdm(total=cfg.total_timesteps, desc=type(self).__name__, unit="step") if progress else None

        class Evaluate(BaseCallback):
            def _on_step(self) -> bool:
                n = self.model.num_timesteps
                if bar is not None and n % 100 == 0:
                    bar.update(n - bar.n)
                if cfg.eval_every and n % cfg.eval_every == 0 and n < cfg.total_timesteps:
                    method._log(steps=int(n), loss=_last_loss(self.model))
                    method._evaluate(n)
                    self.model.policy.set_training_mode(False)
                    return not method._after_eval()
                return True

        try:
            model.learn(cfg.total_timesteps, callback=Evaluate())
        finally:
            if bar is not None:
                bar.close()
        n = int(model.num_timesteps)
        self._log(steps=n, loss=_last_loss(model))
        return n

    def _offline_learn(self, model, progress: bool) -> int:
        from stable_baselines3.common.logger import configure
        from tqdm.auto import tqdm
        cfg = self.config
        model.set_logger(configure(None, [""]))
        every = cfg.eval_every or cfg.total_timesteps
        done = 0
        bar = tqdm(total=cfg.total_timesteps, desc=type(self).__name__, unit="update") if progress else None
        try:
            while done < cfg.total_timesteps:
                k = min(every, cfg.total_timesteps - done)
                model.train(gradient_steps=k, batch_size=cfg.batch_size)
                done += k
                if bar is not None:
                    bar.update(k)
                self._log(steps=done, loss=_last_loss(model))
                if done < cfg.total_timesteps:
                    self._evaluate(done)
                    if self._after_eval():
                        break
        finally:
            if bar is not None:
                bar.close()
        return done


def _last_loss(model) -> float:
    """The learner's last logged Q/critic loss (``nan`` before the first update)."""
    values = getattr(model.logger, "name_to_value", {})
    for key in ("train/loss", "train/critic_loss"):
        if key in values:
            return float(values[key])
    return float("nan")


class SQIL(OffPolicyIL):
    """SQIL (Reddy, Dragan & Levine 2019, arXiv 1905.11108) on SB3 DQN (Discrete) / SAC (Box).

    Uses the demonstrations' ``obs``, ``actions``, ``next_obs`` and ``terminated``; needs the
    environment. The learner is plain DQN/SAC; only the replay buffer differs: half of every
    minibatch are demonstrations with reward 1, half the agent's transitions with reward 0.
    """

    name = "sqil"
    config_class = SQILConfig


BENCHMARK_CONFIGS: dict[str, dict] = {
    "CartPole-v1": dict(total_timesteps=10_000, eval_every=1000),
    "Acrobot-v1": dict(total_timesteps=30_000, eval_every=3000),
    "MountainCar-v0": dict(total_timesteps=50_000, eval_every=5000),
    "LunarLander-v3": dict(total_timesteps=100_000, eval_every=10_000, target_update_interval=1000),
    "Pendulum-v1": dict(total_timesteps=12_000, eval_every=2000),
    # MuJoCo (issue 19): a stated 30k SAC steps (10k left SQIL at 0.48 of the TD3 hopper)
    **{env: dict(total_timesteps=30_000, eval_every=5000)
       for env in ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5")},
    "MountainCarContinuous-v0": dict(total_timesteps=10_000, eval_every=2500),
    "lunarlander-continuous": dict(total_timesteps=10_000, eval_every=2500),  # an expert id: LunarLander-v3 is DQN's
}
"""SQILConfig keyword arguments per environment id (or per expert id, which wins) for the benchmark (``python -m illab benchmark``, 100
demonstrations, 3 seeds). Every budget was measured: the per-seed numbers, the environment steps to expert
level and the tuning evidence are in docs/methods.md (SQIL / IQ-Learn section). Hopper-v5 is a small stated
budget that fits a 2-core machine, not tuned to expert level."""

QUICK_CONFIG: dict = dict(total_timesteps=5000, eval_every=2500)
"""A small SQILConfig for smoke runs of the benchmark."""
