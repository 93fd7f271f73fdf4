"""The method interface: :class:`ILMethod`, the template every IL method fills in.

A trained method *is* a :class:`~illab.policy.Policy`: ``predict(obs, state=None,
episode_start=None, deterministic=True) -> (actions, state)`` with SB3's signature, batched
``(n, *obs_shape)`` or single ``(*obs_shape,)`` observations.

:meth:`ILMethod.fit` is written once, here: it converts the data to
:class:`~illab.demonstrations.Demonstrations`, checks what the method needs (actions, an
environment, an expert), fits the observation normalization, calls the method's own
:meth:`ILMethod._train`, evaluates on the validation stream and keeps the best evaluated weights.
A new method is one file: a config dataclass and a subclass that sets ``name`` and implements
``_train`` (see ``docs/methods.md``, "How to add a method"); subclassing registers it in
:data:`METHODS`.

Seeds: weights are initialised under ``torch.random.fork_rng`` seeded with
``illab.seeds.torch_seed(seed, "<method>-init")`` (the caller's global torch RNG is left
untouched); minibatch order comes from a ``torch.Generator`` seeded with
``torch_seed(seed, "<method>-batches")``. Same seed and data ⇒ identical weights.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from illab.checks import count
from illab.demonstrations import Demonstrations, as_demonstrations
from illab.fileio import atomic_write, torch_threads
from illab.methods.networks import ActionCodec, PolicyNet, as_tensor_obs, seeded_init
from illab.policy import _batch, _finish_actions
from illab.seeds import torch_seed

FORMAT = "illab-method-v1"

METHODS: dict[str, type["ILMethod"]] = {}
"""Method name → class; every concrete :class:`ILMethod` subclass with a ``name`` is added on definition."""


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


# ----------------------------------------------------------------------------------------------- base
@dataclasses.dataclass(frozen=True)
class Env:
    """The environment a method interacts with or is evaluated in (``id`` ``None``: unknown)."""

    id: str | None
    kwargs: dict = dataclasses.field(default_factory=dict)


class ILMethod(abc.ABC):
    """Base class of every IL method: a :class:`~illab.policy.Policy` that can be fitted and saved.

    A subclass sets ``name`` (its key in :data:`METHODS`), ``config_class`` (a dataclass deriving
    from :class:`ConfigBase`) and the ``needs_*`` flags, and implements :meth:`_train`. It may
    override :meth:`_build` (networks; default one :class:`~illab.methods.networks.PolicyNet` as
    ``self.net``), :meth:`_normalize`, :meth:`_state`/:meth:`_load_state` (extra networks to save)
    and :meth:`_forward`/:meth:`predict` (acting).

    Args:
        observation_space: a gymnasium ``Box`` (vectors or rank-3 images).
        action_space: a gymnasium ``Discrete`` or ``Box``.
        config: the method's ``<Name>Config`` dataclass (``None`` → defaults).
        seed: base seed of every random choice the method makes.

    Attributes:
        history: dict of lists for learning curves. Every method logs ``"loss"`` (per epoch or
            update), ``"train_seconds"`` (per ``fit``, evaluation excluded) and, when evaluation is
            on, ``"eval_step"`` (in the method's unit: epochs, rounds or environment steps) with
            ``"eval_return"``/``"eval_return_std"`` (validation-stream AER). At the end of ``fit``
            the evaluated weights with the best validation AER are kept (model selection on the
            validation stream only, never the test stream), logged as ``"selected_step"`` /
            ``"selected_return"``.
        net: the torch policy network (``PolicyNet``) for BC, BCO and DAgger.

    Raises:
        TypeError: unsupported spaces or a config of the wrong class.
        ValueError: a non-integer seed.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    needs_demonstrations: ClassVar[bool] = True
    """``fit`` refuses to run without demonstrations (DAgger: False, they only seed its data)."""
    needs_actions: ClassVar[bool] = True
    """The demonstrations must carry actions (observation-only methods such as BCO: False)."""
    needs_env: ClassVar[bool] = False
    """The method interacts with the environment while training (BCO, DAgger, GAIL)."""
    needs_expert: ClassVar[bool] = False
    """The method queries an interactive expert (DAgger)."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not name:
            return
        old = METHODS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"an IL method named {name!r} is already registered "
                             f"({old.__module__}.{old.__qualname__}); give {cls.__qualname__} another name")
        METHODS[name] = cls  # a re-run notebook cell replaces its own earlier definition

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, config: Any = None, seed: int = 0):
        check_spaces(observation_space, action_space)
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.config = config
        self.seed = _as_int(seed, "seed")
        self.codec = ActionCodec(action_space)
        self.history: dict[str, list] = {}
        self._sample_gen = torch.Generator().manual_seed(torch_seed(self.seed, f"{self.name}-sample"))
        self._build()

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        """Create the networks (seeded). Default: one :class:`~illab.methods.networks.PolicyNet` as ``net``."""
        self.net = seeded_init(self.seed, f"{self.name}-init", lambda: PolicyNet(
            self.observation_space, self.action_space, self.config.hidden_sizes))
        self.net.eval()

    @classmethod
    def from_dataset(cls, data: Any, config: Any = None, seed: int = 0):
        """A new method sized for ``data``'s ``observation_space`` and ``action_space``.

        Args:
            data: :class:`~illab.demonstrations.Demonstrations` or a :class:`~illab.data.BaselineDataset`.

        Raises:
            TypeError: ``data`` is neither, or has no action space.
        """
        demos = as_demonstrations(data)
        if demos.action_space is None:
            raise TypeError(f"the demonstrations have no action_space: build {cls.__name__}(observation_space, "
                            "action_space) yourself, or pass action_space= to Demonstrations")
        return cls(demos.observation_space, demos.action_space, config=config, seed=seed)

    # -- fitting: the template -------------------------------------------------------------------------
    def fit(self, demonstrations: Any = None, *, env_id: str | None = None, env_kwargs: dict | None = None,
            expert: Any = None, eval_episodes: int = 10, progress: bool = True):
        """Train on ``demonstrations`` and return ``self`` (the same steps for every method).

        1. ``demonstrations`` (:class:`~illab.demonstrations.Demonstrations`, or a
           :class:`~illab.data.BaselineDataset`, converted once) are checked against the method's
           spaces and needs (actions, environment, expert);
        2. on the first ``fit``, the observation normalization is fitted on them (:meth:`_normalize`);
        3. the method's own :meth:`_train` runs (it may evaluate along the way with :meth:`_evaluate`);
        4. the final weights are evaluated on ``eval_episodes`` validation-stream episodes, and the
           evaluated weights with the best validation AER are kept.

        Args:
            demonstrations: the expert data (optional only for methods with ``needs_demonstrations=False``).
            env_id, env_kwargs: the environment to interact with and evaluate in (default: the
                demonstrations'; without one there is no evaluation).
            expert: the interactive expert for methods that query one (an illab ``Policy``, an SB3
                model or a registered expert id such as ``"cartpole"``); ignored by the others.
            eval_episodes: validation-stream episodes per evaluation (0 = none).
            progress: tqdm progress bars.

        Returns:
            ``self``, trained.

        Raises:
            ValueError: missing demonstrations, environment or expert; observations of the wrong
                shape; observation-only data for a method that needs actions; a bad ``eval_episodes``.
            TypeError: data that is not demonstrations.
        """
        demos = self._check_demonstrations(demonstrations)
        if env_kwargs is None:
            env_kwargs = demos.env_kwargs if demos is not None else {}
        env = Env(env_id or (demos.env_id if demos is not None else None), dict(env_kwargs or {}))
        if self.needs_env and not env.id:
            raise ValueError(f"{type(self).__name__} interacts with the environment while it trains: pass env_id= "
                             "(the demonstrations do not name one)")
        if self.needs_expert:
            if expert is None:
                raise ValueError(f"{type(self).__name__}.fit needs expert=: an illab Policy, an SB3 model or an "
                                 "expert id such as 'cartpole' (it labels the states the learner visits)")
            expert = resolve_expert(expert)
        self._env, self._eval_episodes = env, _as_int(eval_episodes, "eval_episodes", minimum=0)
        self._last_eval, self._eval_seconds = None, 0.0
        if demos is not None and not self.history.get("train_seconds"):  # first fit only
            self._normalize(demos)
        timer = Timer()
        final_step = self._train(demos, env=env, expert=expert, progress=progress)
        self._log(train_seconds=timer() - self._eval_seconds)
        if self._last_eval != final_step:
            self._evaluate(final_step)
        self._select_best()
        return self

    @abc.abstractmethod
    def _train(self, demos: Demonstrations | None, *, env: Env, expert: Any, progress: bool) -> int:
        """The method itself: update the networks on ``demos`` (and by interacting with ``env`` /
        querying ``expert`` if the method needs them); log with :meth:`_log`; optionally call
        :meth:`_evaluate` at intermediate steps.

        Returns:
            the training step reached (in the method's unit: epochs, rounds, environment steps),
            which labels the final evaluation.
        """

    def _check_demonstrations(self, data: Any) -> Demonstrations | None:
        if data is None:
            if self.needs_demonstrations:
                raise ValueError(f"{type(self).__name__}.fit needs demonstrations: pass a BaselineDataset or "
                                 "illab.demonstrations.Demonstrations")
            return None
        demos = as_demonstrations(data)
        if tuple(demos.obs.shape[1:]) != tuple(self.observation_space.shape):
            raise ValueError(f"the demonstrations' observations have shape {tuple(demos.obs.shape[1:])} but "
                             f"{type(self).__name__} was built for {tuple(self.observation_space.shape)}; build it "
                             "with from_dataset(demonstrations)")
        if self.needs_actions and not demos.has_actions:
            raise ValueError(f"{type(self).__name__} learns from (observation, action) pairs but these "
                             "demonstrations are observation-only; use an observation-only method such as BCO")
        if demos.has_actions and type(demos.action_space) is not type(self.action_space):
            raise TypeError(f"the demonstrations' action space {demos.action_space} and the method's "
                            f"{self.action_space} differ in kind; build the method with from_dataset(demonstrations)")
        if not self.needs_actions and demos.next_obs is None:
            raise ValueError(f"{type(self).__name__} learns from observation pairs (obs, next_obs): the "
                             "demonstrations have no next_obs")
        return demos

    def _normalize(self, demos: Demonstrations) -> None:
        """Fit the observation standardisation on the first ``fit``'s demonstrations (default: ``net``'s encoder)."""
        self.net.encoder.fit_normalization(demos.obs)

    def _log(self, **values: Any) -> None:
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)

    def _evaluate(self, step: int) -> float | None:
        """Validation-stream AER of the current weights (never the test stream), logged under
        ``eval_*`` with ``eval_step=step``; remembers the best weights for :meth:`_select_best`.
        ``None`` without an environment or with ``eval_episodes=0``."""
        env, episodes = getattr(self, "_env", None), getattr(self, "_eval_episodes", 0)
        self._last_eval = step
        if env is None or not env.id or episodes <= 0:
            return None
        from illab.evaluate import evaluate  # evaluate plays policies and never imports methods
        timer = Timer()
        res = evaluate(self, env.id, n_episodes=episodes, seed=self.seed, stream="validation",
                       env_kwargs=env.kwargs, n_envs=min(16, episodes))
        self._log(eval_step=int(step), eval_return=res.mean, eval_return_std=res.std)
        best = getattr(self, "_best", None)
        if best is None or res.mean >= best[0]:  # ties: the later (longer-trained) weights
            self._best = (res.mean, int(step), copy.deepcopy(self._state()))
        self._eval_seconds += timer()
        return res.mean

    def _select_best(self) -> None:
        """Model selection on the validation stream: restore the weights with the highest
        validation AER among this ``fit``'s evaluations (ties: the later one) and log
        ``selected_step``/``selected_return``. No evaluations: the final weights stay."""
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
    """Mixin for ``<Name>Config`` dataclasses: ``from_dict`` (lists back to tuples) and validation.

    ``__post_init__`` checks every field against its annotation: ``int`` fields must be integers
    (``epochs=2.5`` is refused, not truncated), ``float`` fields finite numbers, and
    ``tuple[int, ...]`` layer widths positive integers. Subclasses call it first from their own
    ``__post_init__``.
    """

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v, kind = getattr(self, f.name), str(f.type)
            where = f"{type(self).__name__}.{f.name}"
            if kind == "int":
                object.__setattr__(self, f.name, _as_int(v, where))
            elif kind == "float":
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                        or not math.isfinite(v):
                    raise ValueError(f"{where} must be a finite number, got {v!r}")
            elif kind.startswith("tuple[int"):
                v = (v,) if isinstance(v, (int, np.integer)) else tuple(v)
                if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h > 0 for h in v):
                    raise ValueError(f"{where} must be positive layer widths such as (64, 64), got {v!r}")
                object.__setattr__(self, f.name, tuple(int(h) for h in v))

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


def _as_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (:func:`illab.checks.count`): bools, strings and fractional numbers are refused
    with a message naming ``name``."""
    return count(value, name, minimum=-(2 ** 63) if minimum is None else minimum)


def resolve_expert(expert: Any):
    """An illab ``Policy`` from a Policy, an SB3 model or a registered expert id (``str``)."""
    if isinstance(expert, str):
        from illab import experts  # the registry of policies; it never imports methods
        return experts.load(expert)
    from illab.policy import as_policy
    return as_policy(expert)


class Timer:
    """Wall-clock seconds since construction (for samples/s in ``history``, never in tests)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
