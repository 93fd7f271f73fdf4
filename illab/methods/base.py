"""The shared base of every IL method: networks, seeding, ``predict``, ``save``/``load``, history.

A trained method *is* a :class:`~illab.policy.Policy`: ``predict(obs, state=None,
episode_start=None, deterministic=True) -> (actions, state)`` with SB3's signature, batched
``(n, *obs_shape)`` or single ``(*obs_shape,)`` observations.

Networks (small on purpose, configurable through ``hidden_sizes``):

* vector observations → MLP (ReLU) on standardised observations (mean/std of the training data,
  stored with the weights so a saved method needs nothing else);
* image observations (rank-3 ``Box``, channel-last ``(H, W, C)`` or channel-first ``(C, H, W)``)
  → a small CNN encoder (Nature-DQN layout, Mnih et al. 2015) on pixels scaled to [0, 1], then the MLP.

Heads: ``Discrete`` → logits (cross-entropy loss); ``Box`` → actions scaled to [-1, 1] by the
space bounds (MSE loss), mapped back and clipped to the bounds by ``predict``.

Seeds: weights are initialised under ``torch.random.fork_rng`` seeded with
``illab.seeds.torch_seed(seed, "<method>-init")`` (the caller's global torch RNG is left
untouched); minibatch order comes from a ``torch.Generator`` seeded with
``torch_seed(seed, "<method>-batches")``. Same seed and data ⇒ identical weights.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from illab.fileio import atomic_write, torch_threads
from illab.policy import _batch, _finish_actions
from illab.seeds import torch_seed

FORMAT = "illab-method-v1"


# --------------------------------------------------------------------------------------------- spaces
def _space_to_json(space: gym.Space) -> str:
    from illab.datafile import space_to_json
    return json.dumps(space_to_json(space))


def _space_from_json(text: str) -> gym.Space:
    from illab.datafile import space_from_json
    return space_from_json(json.loads(text))


def check_spaces(observation_space: Any, action_space: Any) -> None:
    """Raise ``TypeError`` unless the observation space is a ``Box`` and the action space a
    ``Discrete`` or ``Box`` (what every method here supports)."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise TypeError(f"observation_space must be a gymnasium Box, got {type(observation_space).__name__}; "
                        "flatten dict/tuple observations first (gymnasium.wrappers.FlattenObservation)")
    if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise TypeError(f"action_space must be Discrete or Box, got {type(action_space).__name__}")


def is_image(space: gym.spaces.Box) -> bool:
    """True for rank-3 ``Box`` observations (images)."""
    return len(space.shape) == 3


# ------------------------------------------------------------------------------------------- networks
def mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> nn.Sequential:
    """``Linear → ReLU`` blocks of ``hidden_sizes`` then a linear output layer of ``out_dim``."""
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [nn.Linear(in_dim, int(h)), nn.ReLU()]
        in_dim = int(h)
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Observations ``(n, *obs_shape)`` float32 → features ``(n, out_dim)``.

    Vector observations are flattened and standardised with the buffers ``mean``/``std`` (set
    by :meth:`fit_normalization`); images go through a small CNN (8x8/4, 4x4/2, 3x3/1 convs with
    32, 64, 64 channels) on pixels divided by 255 when the space is ``uint8``.
    """

    def __init__(self, obs_shape: Sequence[int], pixel_scale: float = 1.0):
        super().__init__()
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.image = len(self.obs_shape) == 3
        if self.image:
            h, w, c = self.obs_shape
            self.channel_last = c <= 4 < h  # (H, W, C) as gymnasium renders; else (C, H, W)
            if not self.channel_last:
                c, h, w = self.obs_shape
            self.pixel_scale = float(pixel_scale)
            self.cnn = nn.Sequential(
                nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
            with torch.no_grad():
                self.out_dim = int(self.cnn(torch.zeros(1, c, h, w)).shape[1])
        else:
            self.out_dim = int(np.prod(self.obs_shape)) if self.obs_shape else 1
        self.register_buffer("mean", torch.zeros(self.out_dim if not self.image else 1))
        self.register_buffer("std", torch.ones(self.out_dim if not self.image else 1))

    def fit_normalization(self, obs: np.ndarray) -> None:
        """Set the standardisation buffers from ``obs`` ``(T, *obs_shape)`` (vectors only)."""
        if self.image:
            return
        flat = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)
        self.mean.copy_(torch.as_tensor(flat.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(flat.std(0), 1e-6), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.image:
            x = obs.float() / self.pixel_scale
            if self.channel_last:
                x = x.permute(0, 3, 1, 2)
            return self.cnn(x)
        return (obs.reshape(len(obs), -1) - self.mean) / self.std


class ActionCodec:
    """Maps actions to network targets and network outputs back to actions.

    ``Discrete(n, start)``: targets are class indices ``action - start`` (int64), outputs are
    ``n`` logits. ``Box``: targets are actions scaled to [-1, 1] by finite bounds (unchanged where
    a bound is infinite), outputs are the same scaled actions; :meth:`decode` clips to the bounds.
    """

    def __init__(self, space: gym.Space):
        self.space = space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        if self.discrete:
            self.dim, self.start = int(space.n), int(space.start)
        else:
            self.shape = tuple(space.shape)
            self.dim = int(np.prod(self.shape))
            low = np.asarray(space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(space.high, dtype=np.float64).reshape(-1)
            finite = np.isfinite(low) & np.isfinite(high)
            self.mid = np.where(finite, (low + high) / 2, 0.0).astype(np.float32)
            self.half = np.where(finite, (high - low) / 2, 1.0).astype(np.float32)
            self.low, self.high = low.astype(np.float32), high.astype(np.float32)

    def encode(self, actions: np.ndarray) -> torch.Tensor:
        """Actions ``(T,)`` / ``(T, *act_shape)`` → targets (int64 classes or float32 scaled)."""
        a = np.asarray(actions)
        if self.discrete:
            a = a.reshape(-1).astype(np.int64) - self.start
            if len(a) and (a.min() < 0 or a.max() >= self.dim):
                raise ValueError(f"actions outside the Discrete({self.dim}, start={self.start}) action space: "
                                 f"range [{a.min() + self.start}, {a.max() + self.start}]")
            return torch.as_tensor(a)
        a = a.reshape(len(a), -1).astype(np.float32)
        if a.shape[1] != self.dim:
            raise ValueError(f"actions have {a.shape[1]} components per step but the action space has {self.dim}")
        a = np.clip(a, self.low, self.high)
        return torch.as_tensor((a - self.mid) / self.half)

    def decode(self, out: torch.Tensor, deterministic: bool = True,
               generator: torch.Generator | None = None) -> np.ndarray:
        """Network outputs ``(n, dim)`` → actions ``(n,)`` int64 or ``(n, *act_shape)`` float32."""
        if self.discrete:
            if deterministic:
                idx = out.argmax(-1)
            else:
                idx = torch.multinomial(torch.softmax(out, -1), 1, generator=generator).squeeze(-1)
            return idx.cpu().numpy().astype(np.int64) + self.start
        a = out.cpu().numpy() * self.half + self.mid
        return np.clip(a, self.low, self.high).reshape((-1, *self.shape)).astype(np.float32)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (Discrete) or mean squared error on scaled actions (Box)."""
        if self.discrete:
            return nn.functional.cross_entropy(out, target)
        return nn.functional.mse_loss(out, target)

    def accuracy(self, out: torch.Tensor, target: torch.Tensor) -> float:
        """Fraction of exact class matches (Discrete) or of predictions within 0.1 of the scaled
        target in every component (Box)."""
        if self.discrete:
            return float((out.argmax(-1) == target).float().mean())
        return float(((out - target).abs() <= 0.1).all(-1).float().mean())


class PolicyNet(nn.Module):
    """Encoder + MLP head: observations ``(n, *obs_shape)`` → ``(n, dim)`` logits or scaled actions."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.Space, hidden_sizes: Sequence[int]):
        super().__init__()
        scale = 255.0 if observation_space.dtype == np.uint8 else 1.0
        self.encoder = Encoder(observation_space.shape, pixel_scale=scale)
        self.head = mlp(self.encoder.out_dim, hidden_sizes, ActionCodec(action_space).dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


def seeded_init(seed: int, purpose: str, build):
    """Call ``build()`` with torch's global RNG seeded from ``torch_seed(seed, purpose)`` inside
    ``torch.random.fork_rng`` (so the caller's RNG state is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(seed, purpose))
        return build()


def as_tensor_obs(obs: np.ndarray) -> torch.Tensor:
    """Observations as a float32 tensor (images stay uint8 until the encoder)."""
    obs = np.asarray(obs)
    if obs.dtype != np.uint8:
        obs = np.asarray(obs, dtype=np.float32)
    if not obs.flags.writeable:  # memory-mapped datasets are read-only: copy once
        obs = obs.copy()
    return torch.as_tensor(obs)


def fit_supervised(net: nn.Module, codec: ActionCodec, obs: np.ndarray, actions: np.ndarray, *, epochs: int,
                   batch_size: int, learning_rate: float, weight_decay: float, generator: torch.Generator,
                   optimizer: torch.optim.Optimizer | None = None, on_epoch=None,
                   progress: bool = False, desc: str = "fit") -> list[float]:
    """Minibatch supervised training of ``net`` on ``(obs, actions)`` with ``codec.loss``.

    Plain tensor indexing with a seeded permutation per epoch (a ``DataLoader`` over single
    items is an order of magnitude slower). Returns the mean loss of every epoch. ``on_epoch``
    (if given) is called as ``on_epoch(epoch, loss)`` after each epoch.

    Raises:
        ValueError: no samples, or ``obs``/``actions`` disagree in length.
    """
    if len(obs) == 0:
        raise ValueError("no transitions to train on: the dataset is empty")
    if len(obs) != len(actions):
        raise ValueError(f"obs has {len(obs)} rows but actions has {len(actions)}")
    x = as_tensor_obs(obs)
    y = codec.encode(actions)
    opt = optimizer or torch.optim.Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n = len(x)
    bs = max(1, min(int(batch_size), n))
    losses: list[float] = []
    net.train()
    with torch_threads(1):
        _epochs(net, codec, x, y, opt, n, bs, epochs, generator, losses, on_epoch, progress, desc)
    net.eval()
    return losses


def _epochs(net, codec, x, y, opt, n, bs, epochs, generator, losses, on_epoch, progress, desc):
    from tqdm.auto import trange
    for epoch in trange(int(epochs), desc=desc, disable=not progress, leave=False):
        perm = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = codec.loss(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        losses.append(total / count)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])


# ------------------------------------------------------------------------------------------- datasets
def dataset_arrays(dataset: Any, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Numpy views ``keys`` of a :class:`~illab.data.BaselineDataset` or any object with those
    attributes (or a dict with those keys).

    Raises:
        TypeError: ``dataset`` lacks one of ``keys`` (the message names it).
    """
    out = {}
    for k in keys:
        v = dataset.get(k) if isinstance(dataset, dict) else getattr(dataset, k, None)
        if v is None:
            raise TypeError(f"the dataset has no {k!r}: pass an illab.data.BaselineDataset or an object with "
                            f"numpy attributes {', '.join(keys)}")
        out[k] = np.asarray(v)
    return out


def _dataset_attr(dataset: Any, name: str):
    if dataset is None:
        return None
    return dataset.get(name) if isinstance(dataset, dict) else getattr(dataset, name, None)


# ----------------------------------------------------------------------------------------------- base
class ILMethod:
    """Base class of every IL method: a :class:`~illab.policy.Policy` that can be fitted and saved.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`fit`.

    Args:
        observation_space: a gymnasium ``Box`` (vectors or rank-3 images).
        action_space: a gymnasium ``Discrete`` or ``Box``.
        config: the method's ``<Name>Config`` dataclass (``None`` → defaults).
        seed: base seed of every random choice the method makes.

    Attributes:
        history: dict of lists for learning curves. Every method logs ``"loss"`` (per epoch or
            update) and, when evaluation is on, ``"eval_step"`` (samples/steps trained so far)
            with ``"eval_return"``/``"eval_return_std"`` (validation-stream AER). At the end of
            ``fit`` the evaluated weights with the best validation AER are kept (model selection on
            the validation stream only, never the test stream), logged as ``"selected_step"`` /
            ``"selected_return"``.
        net: the torch policy network (``PolicyNet``) for BC, BCO and DAgger.

    Raises:
        TypeError: unsupported spaces or a config of the wrong class.
    """

    name: str = "base"
    config_class: type = object

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, config: Any = None, seed: int = 0):
        check_spaces(observation_space, action_space)
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.config = config
        self.seed = int(seed)
        self.codec = ActionCodec(action_space)
        self.history: dict[str, list] = {}
        self._sample_gen = torch.Generator().manual_seed(torch_seed(self.seed, f"{self.name}-sample"))
        self._build()

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        """Create the networks (seeded). Default: one :class:`PolicyNet`."""
        self.net = seeded_init(self.seed, f"{self.name}-init", lambda: PolicyNet(
            self.observation_space, self.action_space, self.config.hidden_sizes))
        self.net.eval()

    @classmethod
    def from_dataset(cls, dataset: Any, config: Any = None, seed: int = 0):
        """A new method sized for ``dataset``'s ``observation_space`` and ``action_space``.

        Raises:
            TypeError: the dataset has no ``observation_space``/``action_space`` attributes.
        """
        obs_space = _dataset_attr(dataset, "observation_space")
        act_space = _dataset_attr(dataset, "action_space")
        if obs_space is None or act_space is None:
            raise TypeError("the dataset has no observation_space/action_space: pass an illab.data.BaselineDataset, "
                            f"or build {cls.__name__}(observation_space, action_space) yourself")
        return cls(obs_space, act_space, config=config, seed=seed)

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, dataset: Any = None, *, env_id: str | None = None, env_kwargs: dict | None = None,
            expert: Any = None, eval_episodes: int = 10, progress: bool = True):
        raise NotImplementedError

    def _env(self, dataset: Any, env_id: str | None, env_kwargs: dict | None) -> tuple[str | None, dict]:
        """``env_id``/``env_kwargs`` from the arguments, else from the dataset (card)."""
        env_id = env_id or _dataset_attr(dataset, "env_id")
        if env_kwargs is None:
            env_kwargs = _dataset_attr(dataset, "env_kwargs")
        return env_id, dict(env_kwargs or {})

    def _log(self, **values: Any) -> None:
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)

    def _evaluate(self, env_id: str | None, env_kwargs: dict, episodes: int, step: int) -> float | None:
        """Validation-stream AER (never the test stream), logged under ``eval_*``."""
        if not env_id or episodes <= 0:
            return None
        from illab.evaluate import evaluate
        res = evaluate(self, env_id, n_episodes=episodes, seed=self.seed, stream="validation",
                       env_kwargs=env_kwargs, n_envs=min(16, episodes))
        self._log(eval_step=int(step), eval_return=res.mean, eval_return_std=res.std)
        best = getattr(self, "_best", None)
        if best is None or res.mean >= best[0]:  # ties: the later (longer-trained) weights
            self._best = (res.mean, int(step), copy.deepcopy(self._state()))
        return res.mean

    def _select_best(self) -> None:
        """Model selection on the validation stream: restore the weights with the highest
        validation AER among this ``fit``'s evaluations (ties: the later one) and log
        ``selected_step``/``selected_return``. No evaluations (``eval_episodes=0`` or no
        environment): the final weights stay."""
        best, self._best = getattr(self, "_best", None), None
        if best is None:
            return
        self._load_state(best[2])
        self._log(selected_step=best[1], selected_return=best[0])

    # -- acting ------------------------------------------------------------------------------------
    def _forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """Actions for ``obs`` (single ``(*obs_shape,)`` or batch ``(n, *obs_shape)``).

        Returns ``(actions, state)``: ``()``/``(n,)`` int64 for ``Discrete`` (argmax of the
        logits, or a sample when ``deterministic=False``), ``(*act_shape)``/``(n, *act_shape)``
        float32 for ``Box`` (clipped to the bounds). ``state`` is passed through (no memory).

        Raises:
            ValueError: ``obs`` does not match the observation space's shape.
        """
        batch, single = _batch(obs, self.observation_space)
        if batch.shape[1:] != tuple(self.observation_space.shape):
            raise ValueError(f"observation shape {np.asarray(obs).shape} does not match the observation space "
                             f"{tuple(self.observation_space.shape)} (single) or (n, *shape) (batch)")
        with torch.inference_mode(), torch_threads(1):
            out = self._forward(as_tensor_obs(batch))
            actions = self.codec.decode(out, deterministic, self._sample_gen)
        return _finish_actions(actions, self.action_space, single), state

    # -- persistence -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """Tensors to save (``{"net": state_dict}`` by default)."""
        return {"net": self.net.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.net.eval()

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the method (config, spaces, seed, weights, history) to one ``.pt`` file.

        The file holds only tensors and plain Python values, loads with
        ``torch.load(weights_only=True)`` and is written atomically (temp file + rename).

        Raises:
            FileExistsError: ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True or choose another path")
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT, "method": self.name, "seed": self.seed,
                   "config": json.dumps(dataclasses.asdict(self.config)),
                   "observation_space": _space_to_json(self.observation_space),
                   "action_space": _space_to_json(self.action_space),
                   "history": json.dumps(self.history), "state": self._state()}
        atomic_write(path, lambda f: torch.save(payload, f))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load a method written by :meth:`save` (``ILMethod.load`` dispatches on the stored name).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not an illab method file, or a file of another method.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no saved method at {path}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - re-raised with context
            raise ValueError(f"{path} is not an illab method file: {err}") from err
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not an illab method file (format {FORMAT!r})")
        from illab.methods import METHODS
        target = METHODS.get(payload["method"])
        if target is None:
            raise ValueError(f"{path} holds unknown method {payload['method']!r}; known: {sorted(METHODS)}")
        if cls is not ILMethod and not issubclass(target, cls):
            raise ValueError(f"{path} holds a {target.__name__}, not a {cls.__name__}; load it with "
                             f"{target.__name__}.load or illab.methods.load")
        config = target.config_class.from_dict(json.loads(payload["config"]))
        obj = target(_space_from_json(payload["observation_space"]), _space_from_json(payload["action_space"]),
                     config=config, seed=payload["seed"])
        obj._load_state(payload["state"])
        obj.history = json.loads(payload["history"])
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(obs={self.observation_space}, actions={self.action_space}, seed={self.seed})"


class ConfigBase:
    """Mixin for ``<Name>Config`` dataclasses: ``from_dict`` (lists back to tuples) and validation."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Rebuild a config from :func:`dataclasses.asdict` output (as stored by ``save``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def _check_positive(self, *names: str) -> None:
        for n in names:
            v = getattr(self, n)
            if not v > 0:
                raise ValueError(f"{type(self).__name__}.{n} must be > 0, got {v!r}")


class Timer:
    """Wall-clock seconds since construction (for samples/s in ``history``, never in tests)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
