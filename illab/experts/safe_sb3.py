"""Load a Stable-Baselines3 model from an untrusted file without running any code from it.

SB3's own ``BaseAlgorithm.load`` unpickles (cloudpickle) every ``:serialized:`` field of the zip's
``data`` member (spaces, schedules, policy class, ...), and ``VecNormalize.load`` unpickles the
statistics file: a crafted file runs arbitrary code on load. illab uses SB3's loader only for
bundled files whose sha256 is pinned and verified; everything else (Hugging Face Hub downloads,
custom files registered without a sha256) goes through this module:

- the zip's ``data`` member is read as JSON; ``:serialized:`` payloads are **never decoded** —
  only the readable fields SB3 writes beside them (``policy_kwargs`` items, the spaces' shapes,
  the policy class's name) are used;
- spaces come from the environment itself (``gymnasium.make`` of the registry's env id) and are
  checked against the shapes recorded in the zip;
- the policy is rebuilt from the algorithm and its settings (the caller's ``policy_kwargs``,
  else the zip's readable ``policy_kwargs``, else the zoo's ``config.yml`` read with a
  ``yaml.SafeLoader`` that maps ``!!python/object/apply:collections.OrderedDict`` to a ``dict``,
  its ``policy_kwargs`` string parsed with :mod:`ast`, never ``eval``) and its weights are read
  with ``torch.load(weights_only=True)``;
- ``vec_normalize.pkl`` is read by a restricted unpickler that admits numpy arrays/dtypes/scalars
  and maps ``VecNormalize``, ``RunningMeanStd``, ``gym``/``gymnasium`` space classes and numpy
  random generators to an inert record; any other global is refused.

A file that cannot be read this way is refused with :class:`RefusedFileError`, naming the file
and the reason.
"""

from __future__ import annotations

import ast
import io
import json
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

#: SB3 algorithms the safe loader rebuilds (acting only).
ALGORITHMS = ("PPO", "A2C", "DQN", "SAC", "TD3", "DDPG")
#: ``torch.nn`` activation classes a ``policy_kwargs`` may name.
ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "Sigmoid", "GELU", "SiLU", "Softplus", "Identity", "Mish",
               "SELU", "Hardtanh")
#: ``policy_kwargs`` keys that only matter for training; dropped when rebuilding a policy to act.
TRAINING_ONLY_KWARGS = ("optimizer_class", "optimizer_kwargs", "device")


class RefusedFileError(ValueError):
    """An untrusted file was refused: reading it would run code from it, or it is not in the expected format."""


# ---- config.yml ------------------------------------------------------------------------------

class _ZooConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus the two data-only tags the zoo's ``yaml.dump`` writes."""


def _ordered_dict(loader, node):
    args = loader.construct_sequence(node, deep=True)
    pairs = args[0] if args else []
    if len(args) > 1 or not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise yaml.constructor.ConstructorError(None, None, "an OrderedDict must be a list of [key, value] pairs",
                                                node.start_mark)
    return {k: v for k, v in pairs}


_ZooConfigLoader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict)
_ZooConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple",
                                 lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))


def read_config(path: str | Path) -> dict[str, Any]:
    """The zoo's ``config.yml`` (hyperparameters) as a plain ``dict``, read without running code.

    Raises:
        RefusedFileError: the file uses a YAML tag other than plain data and the zoo's
            ``OrderedDict``/``tuple`` (e.g. ``!!python/object/apply:os.system``), or is not a mapping.
    """
    try:
        data = yaml.load(Path(path).read_text(), Loader=_ZooConfigLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as e:
        raise RefusedFileError(f"{path}: refused: not a plain zoo config.yml ({e}). illab reads config files "
                               "without constructing Python objects") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RefusedFileError(f"{path}: refused: config.yml must hold a mapping of hyperparameters, "
                               f"found {type(data).__name__}")
    return data


def normalize_setting(config: dict[str, Any]) -> bool | None:
    """Whether a zoo ``config.yml`` says the observations were normalised (``None``: it does not say).

    ``normalize`` is ``true``/``false`` or a string of ``VecNormalize`` keyword arguments such as
    ``"{'norm_obs': True, 'norm_reward': False}"`` (read with ``ast.literal_eval``).
    """
    if "normalize" not in config:
        return None
    value = config["normalize"]
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise RefusedFileError(f"config.yml: cannot read normalize={config['normalize']!r} as literal "
                                   "VecNormalize keyword arguments") from None
        if isinstance(value, dict):
            return bool(value.get("norm_obs", True))
    return bool(value)


# ---- policy_kwargs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Unresolved:
    text: str


def _activation(name: str):
    import torch.nn as nn
    return getattr(nn, name) if name in ACTIVATIONS else _Unresolved(name)


def _literal(node: ast.AST, where: str):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e, where) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, where): _literal(v, where) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args \
            and all(k.arg is not None for k in node.keywords):
        return {k.arg: _literal(k.value, where) for k in node.keywords}
    if isinstance(node, (ast.Name, ast.Attribute)):
        dotted = ast.unparse(node)
        head, _, name = dotted.rpartition(".")
        if head in ("nn", "th.nn", "torch.nn"):
            return _activation(name)
        return _Unresolved(dotted)
    raise RefusedFileError(f"{where}: refused: policy_kwargs may hold only literals, dict(...) and torch.nn "
                           f"activations; found {ast.unparse(node)!r}")


def parse_policy_kwargs(text: str, where: str = "config.yml") -> dict[str, Any]:
    """Parse the zoo's ``policy_kwargs`` string (e.g. ``"dict(net_arch=[400, 300], activation_fn=nn.ReLU)"``).

    The string is parsed with :mod:`ast` and only literals, ``dict(...)`` and ``nn.<Activation>`` names
    are evaluated (the zoo itself ``eval``s it). Names other than activations (an optimizer class)
    come back unresolved; :func:`policy_kwargs_for_acting` drops the training-only ones.

    Raises:
        RefusedFileError: any other expression (calls, subscripts, lambdas, ...).
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise RefusedFileError(f"{where}: refused: policy_kwargs {text!r} is not a Python literal expression") from None
    value = _literal(tree.body, where)
    if not isinstance(value, dict):
        raise RefusedFileError(f"{where}: refused: policy_kwargs must be a dict, got {text!r}")
    return value


_CLASS_REPR = re.compile(r"^<class '([\w.]+)'>$")


def _from_readable(value):
    """A readable ``data`` field value: JSON as is; ``"<class 'torch.nn...ReLU'>"`` → the activation."""
    if isinstance(value, str):
        m = _CLASS_REPR.match(value)
        if m:
            module, _, name = m.group(1).rpartition(".")
            return _activation(name) if module.startswith("torch.nn") else _Unresolved(value)
    return value


def _zip_policy_kwargs(field) -> dict[str, Any]:
    if field is None:
        return {}
    if isinstance(field, dict) and ":serialized:" not in field:
        return dict(field)
    if isinstance(field, dict):  # pickled dict: only its readable items, never the payload
        return {k: _from_readable(v) for k, v in field.items() if not k.startswith(":")}
    return {}


def policy_kwargs_for_acting(zip_kwargs: dict[str, Any], config_kwargs: dict[str, Any] | None,
                             where: str) -> dict[str, Any]:
    """Merge the zip's readable ``policy_kwargs`` over the config's and keep what acting needs.

    Raises:
        RefusedFileError: a needed entry names a class illab will not load (a custom feature
            extractor, an unknown activation).
    """
    kwargs = dict(config_kwargs or {})
    for key, value in zip_kwargs.items():
        if isinstance(value, _Unresolved) and key in kwargs and not isinstance(kwargs[key], _Unresolved):
            continue  # the config names it readably
        kwargs[key] = value
    for key in TRAINING_ONLY_KWARGS:
        kwargs.pop(key, None)
    if isinstance(kwargs.get("features_extractor_class"), _Unresolved):
        name = kwargs["features_extractor_class"].text
        from stable_baselines3.common import torch_layers
        for cls_name in ("FlattenExtractor", "NatureCNN", "CombinedExtractor"):
            if name.endswith(f".{cls_name}'>") or name == cls_name:
                kwargs["features_extractor_class"] = getattr(torch_layers, cls_name)
    bad = {k: v.text for k, v in kwargs.items() if isinstance(v, _Unresolved)}
    if bad:
        raise RefusedFileError(f"{where}: refused: policy_kwargs name classes illab does not load from a "
                               f"download: {bad}. Register the expert with policy_kwargs=... to rebuild it")
    arch = kwargs.get("net_arch")
    if isinstance(arch, list) and arch and isinstance(arch[0], dict):  # SB3 < 1.8: [dict(pi=..., vf=...)]
        kwargs["net_arch"] = arch[0]
    return kwargs


# ---- vec_normalize.pkl -----------------------------------------------------------------------

class InertRecord:
    """What the restricted unpickler builds for an admitted class: its arguments and state, no behaviour."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state):
        self.state = state


_NUMPY = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("builtins", "bytes"),
          ("__builtin__", "bytes")} | {
    (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")} | {
    (m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}  # pickle protocol 5 arrays
_INERT_CLASSES = {
    ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"),
    ("stable_baselines3.common.running_mean_std", "RunningMeanStd"),
    ("collections", "OrderedDict"),
}
_SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY:
            return super().find_class(module, name)
        if (module, name) in _INERT_CLASSES:
            return InertRecord
        if module.split(".")[0] in ("gym", "gymnasium") and ".spaces" in module and name in _SPACES:
            return InertRecord  # the pickled gym/gymnasium space: shapes are taken from the env instead
        if module == "numpy.random" or module.startswith("numpy.random."):
            return InertRecord  # a space's random generator (Generator, RandomState, SeedSequence, ...): unused
        raise pickle.UnpicklingError(f"global {module}.{name} is not admitted (only numpy arrays, VecNormalize "
                                     "statistics and space classes are)")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not admitted")


@dataclass(frozen=True)
class ObsStats:
    """VecNormalize observation statistics: ``obs = clip((obs - mean) / sqrt(var + epsilon), ±clip_obs)``.

    Attributes:
        mean, var: float64 arrays of the observation shape.
        clip_obs: clip bound of normalised observations; epsilon: variance offset.
    """

    mean: np.ndarray
    var: np.ndarray
    clip_obs: float
    epsilon: float


def _state(obj) -> dict:
    if isinstance(obj, InertRecord) and isinstance(obj.state, dict):
        return obj.state
    if isinstance(obj, dict):
        return obj
    raise ValueError(f"expected a pickled object with a state dict, found {type(obj).__name__}")


def read_vec_normalize(path: str | Path, obs_shape: tuple[int, ...] | None = None) -> ObsStats | None:
    """The observation statistics of a pickled SB3 ``VecNormalize`` (zoo ``vec_normalize.pkl``), read safely.

    Returns ``None`` when the file says observations were not normalised (``norm_obs=False``).

    Raises:
        RefusedFileError: the pickle names anything but numpy data, ``VecNormalize``,
            ``RunningMeanStd`` and space classes (nothing from it has run), or the statistics are
            malformed (not finite, negative variance, shape unlike the environment's ``obs_shape``).
    """
    path = Path(path)
    where = f"{path}"
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, where).load()
        state = _state(obj)
        if not state.get("norm_obs", True):
            return None
        rms = state["obs_rms"]
        if isinstance(rms, dict) or (isinstance(rms, InertRecord) and isinstance(rms.state, dict)
                                     and "mean" not in rms.state):
            raise ValueError("dict observations (one RunningMeanStd per key) are not supported")
        rms = _state(rms)
        mean, var = np.asarray(rms["mean"], dtype=np.float64), np.asarray(rms["var"], dtype=np.float64)
        clip_obs, epsilon = float(state.get("clip_obs", 10.0)), float(state.get("epsilon", 1e-8))
    except RefusedFileError:
        raise
    except (pickle.UnpicklingError, ValueError, KeyError, TypeError, AttributeError, EOFError) as e:
        raise RefusedFileError(f"{where}: refused: not a VecNormalize statistics file illab can read safely "
                               f"({type(e).__name__}: {e})") from None
    if mean.shape != var.shape or (obs_shape is not None and mean.shape != tuple(obs_shape)):
        raise RefusedFileError(f"{where}: observation statistics of shape {mean.shape} (var {var.shape}) do not "
                               f"match the environment's observations {tuple(obs_shape or ())}")
    if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()
            and np.isfinite(clip_obs) and clip_obs > 0 and epsilon >= 0):
        raise RefusedFileError(f"{where}: malformed observation statistics (non-finite values, negative variance "
                               "or clip_obs <= 0)")
    return ObsStats(mean, var, clip_obs, epsilon)


# ---- the model zip ---------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """The parts of an SB3 algorithm an :class:`~illab.policy.SB3Policy` uses.

    Attributes:
        policy: the rebuilt SB3 ``BasePolicy`` (CPU, eval mode).
        observation_space, action_space: the environment's gymnasium spaces.
        algo: SB3 algorithm name.
    """

    policy: Any
    observation_space: Any
    action_space: Any
    algo: str


def read_zip(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, policy_state_dict)`` of an SB3 zip: ``data`` parsed as JSON with every
    ``:serialized:`` payload left undecoded, ``policy.pth`` read with ``torch.load(weights_only=True)``.

    Raises:
        RefusedFileError: not a zip, no ``data``/``policy.pth``, ``data`` not JSON, or
            ``policy.pth`` holds anything but tensors (torch's weights-only unpickler refuses it).
    """
    import torch
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"data", "policy.pth"} - names
            if missing:
                raise RefusedFileError(f"{path}: refused: not an SB3 model zip (no {', '.join(sorted(missing))})")
            data = json.loads(archive.read("data").decode("utf-8"))
            raw = archive.read("policy.pth")
    except zipfile.BadZipFile:
        raise RefusedFileError(f"{path}: refused: not a zip file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RefusedFileError(f"{path}: refused: its 'data' member is not JSON ({e})") from None
    if not isinstance(data, dict):
        raise RefusedFileError(f"{path}: refused: its 'data' member is not a JSON object")
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError/RuntimeError for anything but tensors
        raise RefusedFileError(f"{path} (policy.pth): refused by torch's weights-only loader: "
                               f"{str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RefusedFileError(f"{path} (policy.pth): refused: not a state dict of tensors")
    return data, state


_INIT_REPR = re.compile(r"<function (\w+)\.__init__")


def _policy_class(algo_cls, name: str | None, data: dict, where: str):
    aliases = dict(algo_cls.policy_aliases)
    by_class_name = {cls.__name__: cls for cls in aliases.values()}
    if name is None:
        field = data.get("policy_class")
        m = _INIT_REPR.match(str(field.get("__init__", ""))) if isinstance(field, dict) else None
        name = m.group(1) if m else "MlpPolicy"
    cls = aliases.get(name) or by_class_name.get(name)
    if cls is None:
        raise RefusedFileError(f"{where}: unsupported policy {name!r} for {algo_cls.__name__}; illab rebuilds "
                               f"{', '.join(sorted(aliases))}")
    return cls


def _recorded_shape(field) -> tuple[int, ...] | None:
    if not isinstance(field, dict):
        return None
    raw = field.get("_shape", field.get("shape"))
    if raw is None:
        return None
    return tuple(int(x) for x in re.findall(r"\d+", str(raw)))


def _check_spaces(data: dict, obs_space, act_space, where: str) -> None:
    import gymnasium as gym
    for key, space in (("observation_space", obs_space), ("action_space", act_space)):
        field = data.get(key)
        if isinstance(space, gym.spaces.Discrete):
            recorded = field.get("n") if isinstance(field, dict) else None
            if recorded is not None and int(str(recorded)) != int(space.n):
                raise ValueError(f"{where}: the model's {key} has {recorded} actions, the environment {space.n}")
            if isinstance(field, dict) and "Discrete" not in str(field.get(":type:", "Discrete")):
                raise ValueError(f"{where}: the model's {key} is {field.get(':type:')}, the environment's Discrete")
            continue
        shape = _recorded_shape(field)
        if shape is not None and shape != tuple(space.shape):
            raise ValueError(f"{where}: the model's {key} has shape {shape}, the environment's {tuple(space.shape)}; "
                             "check the expert's env_id/env_kwargs")


class _NoOptimizer:
    """Stands in for the optimizer an SB3 policy builds in its constructor: a rebuilt policy only
    acts, and constructing a real ``torch.optim`` optimizer the first time in a process imports
    ``torch._dynamo`` (measured 1-2 s, most of a fresh process's first expert load)."""

    def __init__(self, params, lr=0.0, **kwargs):
        pass

    def __repr__(self) -> str:
        return "_NoOptimizer (acting-only policy)"


def load_policy(path: str | Path, algo: str, observation_space, action_space, *, config: dict | None = None,
                policy: str | None = None, policy_kwargs: dict | None = None) -> LoadedModel:
    """Rebuild an SB3 policy from an untrusted zip without unpickling anything.

    Args:
        path: the SB3 ``.zip``.
        algo: algorithm name, one of :data:`ALGORITHMS`.
        observation_space, action_space: the environment's gymnasium spaces (checked against the
            shapes the zip records).
        config: the zoo ``config.yml`` as read by :func:`read_config` (``policy``, ``policy_kwargs``).
        policy: SB3 policy alias or class name (default: config, else the zip's recorded class, else
            ``"MlpPolicy"``).
        policy_kwargs: override the zip's and the config's ``policy_kwargs`` entirely.

    Raises:
        RefusedFileError: see :func:`read_zip`, :func:`parse_policy_kwargs`.
        ValueError: unknown algorithm; spaces unlike the zip's; weights that do not fit the rebuilt
            network (the message lists missing/unexpected parameter names).
    """
    import stable_baselines3 as sb3
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    path = Path(path)
    where = str(path)
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown SB3 algorithm {algo!r}: the safe loader rebuilds {', '.join(ALGORITHMS)}")
    algo_cls = getattr(sb3, algo)
    data, state = read_zip(path)
    config = config or {}
    _check_spaces(data, observation_space, action_space, where)
    if policy_kwargs is None:
        cfg = config.get("policy_kwargs")
        cfg_kwargs = parse_policy_kwargs(cfg, f"{where} config.yml") if isinstance(cfg, str) else (cfg or {})
        kwargs = policy_kwargs_for_acting(_zip_policy_kwargs(data.get("policy_kwargs")), cfg_kwargs, where)
    else:
        kwargs = policy_kwargs_for_acting(dict(policy_kwargs), None, where)
    use_sde = bool(data.get("use_sde", False)) if isinstance(data.get("use_sde", False), bool) else False
    if issubclass(algo_cls, OnPolicyAlgorithm):
        kwargs["use_sde"] = use_sde
    elif algo == "SAC":
        kwargs.setdefault("use_sde", use_sde)
    cfg_policy = config.get("policy") if isinstance(config.get("policy"), str) else None
    policy_cls = _policy_class(algo_cls, policy or cfg_policy, data, where)
    kwargs["optimizer_class"] = _NoOptimizer  # acting only; Adam's first construction imports torch._dynamo (~1-2 s)
    try:
        net = policy_cls(observation_space, action_space, lambda _: 0.0, **kwargs)
    except TypeError as e:
        raise ValueError(f"{where}: cannot rebuild {policy_cls.__name__} with policy_kwargs {kwargs}: {e}") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{where}: the weights do not fit {policy_cls.__name__}({kwargs}): "
                         f"{str(e).splitlines()[0]} ... pass the expert's policy_kwargs to rebuild the right "
                         "network") from None
    net.set_training_mode(False)
    if use_sde and hasattr(net, "reset_noise"):
        net.reset_noise()
    return LoadedModel(net, observation_space, action_space, algo)
