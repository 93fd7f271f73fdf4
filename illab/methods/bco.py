"""Behavioural cloning from observation, BCO(α).

Torabi, Warnell & Stone 2018, "Behavioral Cloning from Observation", IJCAI, arXiv 1805.01954.

Demonstrations often come without actions (videos, motion capture, another body). BCO learns
them anyway, in three steps:

1. **Pre-demonstration interaction** — the agent plays at random for ``|I_pre|`` steps and
   records its own transitions ``(s, a, s')``, whose actions it knows.
2. **Inverse dynamics model (IDM)** — a network ``M_θ(s, s') → a`` is trained on those
   transitions (maximum likelihood: cross-entropy for ``Discrete``, MSE for ``Box`` actions);
   it then *infers* the missing action of every demonstrated state pair:
   ``â_t = argmax_a p_θ(a | s_t, s_{t+1})``.
3. **Behavioural cloning** on ``(s_t, â_t)``.

**BCO(α)** then repeats ``post_iterations`` times: run the current policy for
``α·|I_pre|`` steps, add those transitions to the IDM data, retrain the IDM, re-infer the
demonstration actions and retrain the policy. The policy's own states are closer to the
expert's than random play, so the IDM becomes accurate where it matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.base import ConfigBase, Env, ILMethod
from illab.methods.networks import PolicyNet, as_tensor_obs, fit_supervised, seeded_init
from illab.policy import RandomPolicy
from illab.rollout import episodes_to_arrays, run_episodes
from illab.seeds import episode_seeds, torch_seed


@dataclass
class BCOConfig(ConfigBase):
    """Hyperparameters of :class:`BCO` (defaults work on the classic-control tasks untuned)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the policy MLP's hidden layers."""
    idm_hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the inverse dynamics model's hidden layers."""
    pre_demo_steps: int = 5000
    """``|I_pre|``: environment steps of uniformly random play before looking at the demonstrations."""
    alpha: float = 0.1
    """α: each post-demonstration iteration runs the policy for ``α · pre_demo_steps`` steps."""
    post_iterations: int = 3
    """Number of BCO(α) post-demonstration iterations (0 = plain BCO(0))."""
    learning_rate: float = 1e-3
    """Adam step size (policy and IDM)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    epochs: int = 20
    """Policy epochs per (re)training."""
    idm_epochs: int = 20
    """IDM epochs per (re)training."""
    weight_decay: float = 0.0
    """Adam L2 penalty."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("pre_demo_steps", "learning_rate", "batch_size", "epochs", "idm_epochs")
        if self.alpha < 0 or self.post_iterations < 0:
            raise ValueError("BCOConfig.alpha and post_iterations must be >= 0")


def idm_space(observation_space: gym.spaces.Box) -> gym.spaces.Box:
    """The IDM's input space: ``(s, s' − s)`` concatenated along the last axis (channels for images)."""
    shape = (*observation_space.shape[:-1], 2 * observation_space.shape[-1])
    if observation_space.dtype == np.uint8:
        return gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8)
    return gym.spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)


def idm_input(obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """IDM features for ``(T, *obs_shape)`` pairs: ``[s, s' − s]`` (vectors) or ``[s, s']`` (uint8 images)."""
    obs, next_obs = np.asarray(obs), np.asarray(next_obs)
    if obs.shape != next_obs.shape:
        raise ValueError(f"obs {obs.shape} and next_obs {next_obs.shape} must have the same shape")
    if obs.dtype == np.uint8:
        return np.concatenate([obs, next_obs], axis=-1)
    obs = obs.astype(np.float32)
    return np.concatenate([obs, next_obs.astype(np.float32) - obs], axis=-1)


class BCO(ILMethod):
    """Behavioural cloning from observation, BCO(α) (Torabi, Warnell & Stone 2018, arXiv 1805.01954).

    Trains on **state-only** demonstrations: only the dataset's ``obs`` and ``next_obs``
    ``(T, *obs_shape)`` are used; its ``actions`` (if any) are ignored for training and only
    compared with the inferred ones for the ``history["inferred_accuracy"]`` diagnostic.
    Needs the environment (``env_id``, from the dataset's card by default) for its own interaction.

    Attributes:
        idm: the inverse dynamics network, input ``(n, *obs_shape[:-1], 2·obs_shape[-1])``.
        interaction_steps: environment steps used so far (pre- plus post-demonstration).
    """

    name = "bco"
    config_class = BCOConfig
    needs_actions = False
    needs_env = True

    def _build(self) -> None:
        super()._build()
        self.idm = seeded_init(self.seed, "bco-idm-init", lambda: PolicyNet(
            idm_space(self.observation_space), self.action_space, self.config.idm_hidden_sizes))
        self.idm.eval()
        self.interaction_steps = 0
        self._episodes_played = 0
        self._idm_data: dict[str, np.ndarray] | None = None

    def _state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "idm": self.idm.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        super()._load_state(state)
        self.idm.load_state_dict(state["idm"])
        self.idm.eval()

    # -- the inverse dynamics model ---------------------------------------------------------------
    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The IDM's most likely action for each pair ``(obs[t], next_obs[t])``.

        Args:
            obs, next_obs: ``(T, *obs_shape)`` consecutive observations.

        Returns:
            ``(T,)`` int64 (Discrete) or ``(T, *act_shape)`` float32 (Box) actions.
        """
        x = idm_input(obs, next_obs)
        out = []
        with torch.inference_mode(), torch_threads(1):
            for i in range(0, len(x), 8192):
                out.append(self.codec.decode(self.idm(as_tensor_obs(x[i:i + 8192]))))
        return np.concatenate(out) if out else np.zeros((0,))

    def idm_accuracy(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> float:
        """Fraction of transitions whose action the IDM recovers (Discrete: exactly; Box: every
        component within 0.1 of the action scaled to [-1, 1], i.e. 5 % of the range)."""
        pred = self.infer_actions(obs, next_obs)
        if self.codec.discrete:
            return float(np.mean(pred == np.asarray(actions).reshape(-1)))
        a = np.asarray(actions, dtype=np.float32).reshape(len(pred), -1)
        err = np.abs(pred.reshape(len(pred), -1) - a) / self.codec.half
        return float(np.mean((err <= 0.1).all(-1)))

    def interact(self, policy, steps: int, env_id: str, env_kwargs: dict, deterministic: bool = True
                 ) -> dict[str, np.ndarray]:
        """Play ``policy`` for ``steps`` environment steps (whole episodes, cut to ``steps``
        transitions) with reset seeds from the ``"demonstrations"`` stream of
        ``torch_seed(seed, "bco-env")``; returns ``obs, actions, next_obs`` arrays. The undiscounted
        return of every episode played (including a cut last one) is kept in ``last_episode_returns``."""
        base = torch_seed(self.seed, "bco-env")
        chunks, total, avg = [], 0, None
        self.last_episode_returns: list[float] = []  # hook for ABCO's goal-aware sampling
        while total < steps:
            want = 16 if avg is None else max(1, min(64, math.ceil((steps - total) / avg)))
            start = self._episodes_played
            eps = run_episodes(policy, env_id, episode_seeds(base, want, "demonstrations", start=start),
                               env_kwargs=env_kwargs, deterministic=deterministic)
            self._episodes_played += want
            self.last_episode_returns.extend(float(e.ret) for e in eps)
            arr = episodes_to_arrays(eps)
            chunks.append({k: arr[k] for k in ("obs", "actions", "next_obs")})
            total += len(arr["obs"])
            avg = total / self._episodes_played if avg is None else (avg + len(arr["obs"]) / want) / 2
        out = {k: np.concatenate([c[k] for c in chunks])[:steps] for k in ("obs", "actions", "next_obs")}
        self.interaction_steps += len(out["obs"])
        return out

    def _train_idm(self, data: dict[str, np.ndarray], gen: torch.Generator, progress: bool) -> None:
        x = idm_input(data["obs"], data["next_obs"])
        if "idm_loss" not in self.history:
            self.idm.encoder.fit_normalization(x)
        cfg = self.config
        losses = fit_supervised(self.idm, self.codec, x, data["actions"], epochs=cfg.idm_epochs,
                                batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                weight_decay=cfg.weight_decay, generator=gen, progress=progress, desc="BCO IDM")
        self.history.setdefault("idm_loss", []).extend(losses)

    # -- fitting -----------------------------------------------------------------------------------
    def _normalize(self, demos: Demonstrations) -> None:
        self.net.encoder.fit_normalization(demos.obs)  # the IDM's own normalization is fitted on its data

    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        """Pre-demonstration interaction, IDM, inferred-action BC, then BCO(α) iterations.

        Uses only ``demos.obs``/``demos.next_obs``; ``demos.actions`` (if present) are compared
        with the inferred ones for the ``inferred_accuracy`` diagnostic and never trained on.
        Logs ``loss`` (policy, per epoch), ``idm_loss``, ``idm_accuracy`` (on the IDM's data),
        ``idm_accuracy_on_policy`` (on the agent's newest transitions, before training on them),
        ``inferred_accuracy``, ``eval_*`` (``eval_step`` = environment steps used) after every iteration.
        """
        cfg = self.config
        idm_gen = torch.Generator().manual_seed(torch_seed(self.seed, "bco-idm-batches"))
        pol_gen = torch.Generator().manual_seed(torch_seed(self.seed, "bco-batches"))
        random = RandomPolicy(self.action_space, seed=torch_seed(self.seed, "bco-random"),
                              observation_space=self.observation_space)
        data = self.interact(random, cfg.pre_demo_steps, env.id, env.kwargs)  # 1. pre-demonstration play
        self._idm_data = data
        post_steps = int(round(cfg.alpha * cfg.pre_demo_steps))
        for it in range(cfg.post_iterations + 1):
            if it > 0:  # BCO(α): play the current policy, add its transitions to the IDM's data
                new = self.interact(self, post_steps, env.id, env.kwargs, deterministic=False)
                self._log(idm_accuracy_on_policy=self.idm_accuracy(new["obs"], new["actions"], new["next_obs"]))
                data = {k: np.concatenate([data[k], new[k]]) for k in data}
                self._idm_data = data
            self._train_idm(data, idm_gen, progress)  # 2. inverse dynamics model
            self._log(idm_accuracy=self.idm_accuracy(data["obs"], data["actions"], data["next_obs"]))
            inferred = self.infer_actions(demos.obs, demos.next_obs)
            if demos.has_actions:
                self._log(inferred_accuracy=self.idm_accuracy(demos.obs, demos.actions, demos.next_obs))
            losses = fit_supervised(self.net, self.codec, demos.obs, inferred, epochs=cfg.epochs,  # 3. BC
                                    batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                    weight_decay=cfg.weight_decay, generator=pol_gen, progress=progress,
                                    desc=f"BCO policy {it}")
            self.history.setdefault("loss", []).extend(losses)
            self._evaluate(self.interaction_steps)
            if post_steps == 0:
                break
        return self.interaction_steps
