"""The ``Policy`` protocol and adapters for SB3 models, plain functions and random play.

A policy is anything with Stable-Baselines3's ``predict`` signature::

    actions, state = policy.predict(obs, state=None, episode_start=None, deterministic=True)

``obs`` is one observation ``(*obs_shape,)`` or a batch ``(n, *obs_shape)``; ``actions`` has
the matching shape: ``()`` / ``(n,)`` int64 for ``Discrete`` action spaces and
``(*act_shape)`` / ``(n, *act_shape)`` float32 for ``Box``. Batches are what make collection
fast: one network call per step for a whole block of episodes.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch


@runtime_checkable
class Policy(Protocol):
    """Anything that maps observations to actions with SB3's ``predict`` signature."""

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        ...


def _batch(obs: np.ndarray, space: gym.Space | None) -> tuple[np.ndarray, bool]:
    """Return ``(batch, was_single)``: adds a leading axis to a single observation."""
    obs = np.asarray(obs)
    single = space is not None and space.shape is not None and obs.shape == tuple(space.shape)
    return (obs[None] if single else obs), single


def _finish_actions(actions: np.ndarray, action_space: gym.Space, single: bool) -> np.ndarray:
    if isinstance(action_space, gym.spaces.Discrete):
        actions = actions.reshape(-1).astype(np.int64)
    else:
        actions = actions.reshape((-1, *action_space.shape)).astype(np.float32)
    return actions[0] if single else actions


class SB3Policy:
    """A Stable-Baselines3 model as a fast, batched :class:`Policy`.

    Calls the torch policy once per batch under ``torch.inference_mode()`` without SB3's
    per-call input checks, applies ``VecNormalize`` observation statistics when given (so the
    dataset keeps raw observations and the expert still sees what it was trained on), and
    rescales or clips ``Box`` actions exactly like ``BaseAlgorithm.predict``.

    Args:
        model: a loaded SB3 ``BaseAlgorithm`` (PPO, A2C, DQN, SAC, TD3, ...).
        obs_mean, obs_var: ``VecNormalize.obs_rms`` mean and variance, float arrays of shape
            ``obs_shape``; ``None`` when the expert was trained without normalisation.
        clip_obs: ``VecNormalize.clip_obs`` (normalised observations are clipped to ±clip_obs).
        epsilon: ``VecNormalize.epsilon``.
    """

    def __init__(self, model: Any, obs_mean: np.ndarray | None = None, obs_var: np.ndarray | None = None,
                 clip_obs: float = 10.0, epsilon: float = 1e-8):
        self.model = model
        self.policy = model.policy
        self.policy.set_training_mode(False)
        self.observation_space = model.observation_space
        self.action_space = model.action_space
        self.obs_mean = None if obs_mean is None else np.asarray(obs_mean, dtype=np.float64)
        self.obs_std = None if obs_var is None else np.sqrt(np.asarray(obs_var, dtype=np.float64) + epsilon)
        self.clip_obs = float(clip_obs)
        self._lock = threading.Lock()
        # Deterministic actor-critic actions straight from the action head (argmax of the logits /
        # the Gaussian mean): SB3 would build a distribution object (softmax, logsumexp) per call.
        from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
        from stable_baselines3.common.policies import ActorCriticPolicy
        self._direct = (isinstance(self.policy, ActorCriticPolicy) and not self.policy.squash_output
                        and isinstance(self.policy.action_dist, (CategoricalDistribution, DiagGaussianDistribution)))
        self._layers = _actor_layers(self.policy) if self._direct else None
        self._device = self.policy.device  # SB3's ``device`` property walks the parameters on every call

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Observations as the network sees them (float32, normalised if stats were given)."""
        if self.obs_mean is not None:
            obs = np.clip((obs - self.obs_mean) / self.obs_std, -self.clip_obs, self.clip_obs)
        return np.asarray(obs, dtype=np.float32)

    def _mode(self, t: torch.Tensor) -> torch.Tensor:
        if self._layers is not None:
            out = t
            for forward in self._layers:
                out = forward(out)
        else:
            p = self.policy
            out = p.action_net(p.mlp_extractor.forward_actor(p.extract_features(t, p.pi_features_extractor)))
        return out.argmax(dim=1) if isinstance(self.action_space, gym.spaces.Discrete) else out

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        batch, single = _batch(obs, self.observation_space)
        with self._lock, torch.inference_mode():
            t = torch.as_tensor(self.normalize(batch), device=self._device)
            actions = (self._mode(t) if deterministic and self._direct else
                       self.policy._predict(t, deterministic=deterministic)).cpu().numpy()
        if isinstance(self.action_space, gym.spaces.Box):
            actions = actions.reshape((-1, *self.action_space.shape))
            if self.policy.squash_output:
                actions = self.policy.unscale_action(actions)
            else:
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return _finish_actions(actions, self.action_space, single), state


def _actor_layers(policy) -> list[Callable] | None:
    """The ``forward`` methods of an SB3 actor-critic's actor, in call order, when it is the stock
    layout (Box observations, ``FlattenExtractor``, ``MlpExtractor`` whose ``policy_net`` is an
    ``nn.Sequential``, a hook-free ``action_net``); else ``None``.

    Calling them in turn computes exactly ``action_net(mlp_extractor.forward_actor(extract_features(x)))``
    (the same torch ops on the same tensors) without ``nn.Module.__call__``'s hook dispatch, which
    profiled at about a third of a batch-32 CartPole policy call.
    """
    from stable_baselines3.common.torch_layers import FlattenExtractor, MlpExtractor
    extractor, mlp = policy.pi_features_extractor, policy.mlp_extractor
    if not (isinstance(policy.observation_space, gym.spaces.Box) and type(extractor) is FlattenExtractor
            and type(mlp) is MlpExtractor and isinstance(mlp.policy_net, torch.nn.Sequential)):
        return None
    modules = [extractor, extractor.flatten, mlp, *mlp.policy_net, policy.action_net]
    leaves = [extractor.flatten, *mlp.policy_net, policy.action_net]
    if any(m._forward_hooks or m._forward_pre_hooks for m in modules) or any(list(m.children()) for m in leaves):
        return None
    if torch.nn.modules.module._global_forward_hooks or torch.nn.modules.module._global_forward_pre_hooks:
        return None
    return [m.forward for m in leaves]


class FunctionPolicy:
    """A plain function as a :class:`Policy` (scripted experts, heuristics, human rules).

    Args:
        fn: maps one observation ``(*obs_shape,)`` to one action (``batched=False``), or a
            batch ``(n, *obs_shape)`` to ``(n, *act_shape)`` actions (``batched=True``).
        observation_space, action_space: the environment's spaces.
        batched: whether ``fn`` takes batches.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], observation_space: gym.Space,
                 action_space: gym.Space, batched: bool = False):
        self.fn = fn
        self.observation_space = observation_space
        self.action_space = action_space
        self.batched = batched

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        batch, single = _batch(obs, self.observation_space)
        if self.batched:
            actions = np.asarray(self.fn(batch))
        else:
            actions = np.stack([np.asarray(self.fn(o)) for o in batch]) if len(batch) else np.zeros((0,))
        return _finish_actions(actions, self.action_space, single), state


class RandomPolicy:
    """Uniformly random actions from ``action_space``, reproducible from ``seed``.

    The reference "random" return of normalized performance comes from this policy.
    """

    def __init__(self, action_space: gym.Space, seed: int = 0, observation_space: gym.Space | None = None):
        self.action_space = action_space
        self.observation_space = observation_space
        self.rng = np.random.default_rng(seed)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        batch, single = _batch(obs, self.observation_space)
        n = len(batch)
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            actions = space.start + self.rng.integers(0, space.n, size=n)
        elif isinstance(space, gym.spaces.Box):
            actions = self.rng.uniform(space.low, space.high, size=(n, *space.shape))
        else:
            raise TypeError(f"RandomPolicy supports Discrete and Box action spaces, not {type(space).__name__}")
        return _finish_actions(actions, space, single), state


def as_policy(obj: Any) -> Policy:
    """Turn an SB3 model or a ``Policy`` into a :class:`Policy` (wrap a plain function in
    :class:`FunctionPolicy` yourself: it needs the spaces).

    Raises:
        TypeError: ``obj`` is neither an SB3 model nor has a ``predict`` method.
    """
    try:
        from stable_baselines3.common.base_class import BaseAlgorithm
    except ImportError:  # pragma: no cover
        BaseAlgorithm = ()
    if isinstance(obj, BaseAlgorithm):
        return SB3Policy(obj)
    if hasattr(obj, "predict"):
        return obj
    raise TypeError(f"{type(obj).__name__} is not a policy: pass an SB3 model, an object with "
                    "predict(obs, state, episode_start, deterministic), or wrap a function in FunctionPolicy")
