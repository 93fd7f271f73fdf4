"""The expert registry: curated, bundled experts with known quality, plus your own.

>>> from illab import experts
>>> experts.list()                       # ids, bundled and registered
>>> policy = experts.load("cartpole")    # an illab Policy (batched predict)
>>> experts.get("cartpole").threshold
475.0

Bundled experts are trained here by :mod:`illab.experts.train` with rl-baselines3-zoo
hyperparameters; each ships as ``bundled/<id>.zip`` (+ ``<id>.npz`` VecNormalize observation
statistics) with a JSON card holding its sha256 (verified on every load), training seed and
steps, and reference returns (expert and uniformly random policy, mean and std over 100 seeded
test-stream episodes) used for normalized performance.
"""

from __future__ import annotations

import builtins
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from illab.policy import Policy, SB3Policy

BUNDLED_DIR = Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class Expert:
    """One registry record (the seed's ``Policy`` dataclass, extended).

    Attributes:
        id: registry key, e.g. ``"cartpole"``.
        env_id: gymnasium environment id, e.g. ``"CartPole-v1"``.
        algo: SB3 algorithm name (``"PPO"``, ``"DQN"``, ``"SAC"``, ...) or ``"scripted"``.
        threshold: minimum episode return for an episode to count as expert behaviour.
        env_kwargs: extra ``gymnasium.make`` keyword arguments.
        file: bundled weights file name inside ``illab/experts/bundled`` (or an absolute path).
        sha256: expected sha256 of ``file``; a mismatch on load is an error.
        normalization_file: ``.npz`` with ``obs_mean``, ``obs_var``, ``clip_obs``, ``epsilon``.
        repo_id, filename, revision: the Hugging Face Hub model (zoo layout) for ``source="hub"``.
        expert_return, random_return: ``(mean, std)`` over 100 seeded test-stream episodes.
        factory: for scripted/custom experts, a zero-argument callable returning a ``Policy``.
    """

    id: str
    env_id: str
    algo: str
    threshold: float
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None
    normalization_file: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    expert_return: tuple[float, float] | None = None
    random_return: tuple[float, float] | None = None
    factory: Callable[[], Policy] | None = field(default=None, compare=False)

    @property
    def path(self) -> Path | None:
        """Absolute path of the bundled weights, or ``None``."""
        if self.file is None:
            return None
        p = Path(self.file)
        return p if p.is_absolute() else BUNDLED_DIR / p

    def reference_returns(self) -> tuple[float, float]:
        """``(random_mean, expert_mean)`` for normalized performance.

        Raises:
            ValueError: the record has no reference returns (measure them with
                :func:`illab.evaluate.reference_returns` and pass them to ``Expert``).
        """
        if self.expert_return is None or self.random_return is None:
            raise ValueError(f"expert {self.id!r} has no reference returns; measure them with "
                             "illab.evaluate.reference_returns and register the expert with them")
        return float(self.random_return[0]), float(self.expert_return[0])


_REGISTRY: dict[str, Expert] = {}


def _load_bundled() -> None:
    from illab.experts.zoo import ZOO
    for card_path in sorted(BUNDLED_DIR.glob("*.json")):
        card = json.loads(card_path.read_text())
        spec = ZOO.get(card["id"])
        _REGISTRY[card["id"]] = Expert(
            id=card["id"], env_id=card["env_id"], algo=card["algo"], threshold=float(card["threshold"]),
            env_kwargs=dict(card.get("env_kwargs") or {}), file=card["file"], sha256=card["sha256"],
            normalization_file=card.get("normalization_file"),
            repo_id=spec.repo_id if spec else card.get("repo_id"),
            filename=spec.hub_filename if spec else card.get("hub_filename"),
            expert_return=tuple(card["expert_return"]), random_return=tuple(card["random_return"]))


def _closest(expert_id: str) -> str:
    match = difflib.get_close_matches(expert_id, builtins.list(_REGISTRY), n=1)
    hint = f" Did you mean {match[0]!r}?" if match else ""
    return f"unknown expert id {expert_id!r}. Known ids: {', '.join(sorted(_REGISTRY))}.{hint}"


def list() -> builtins.list[str]:  # noqa: A001 - the seed's name
    """Sorted ids of every registered expert (bundled, scripted and custom)."""
    return sorted(_REGISTRY)


def get(expert_id: str) -> Expert:
    """The :class:`Expert` record for ``expert_id``.

    Raises:
        KeyError: unknown id; the message lists the known ids and the closest match.
    """
    try:
        return _REGISTRY[expert_id]
    except KeyError:
        raise KeyError(_closest(expert_id)) from None


def register(expert_id: str, expert: Expert) -> Expert:
    """Add a custom expert under ``expert_id``.

    Raises:
        ValueError: ``expert_id`` is taken (unregister it first) or differs from ``expert.id``.
    """
    if expert_id in _REGISTRY:
        raise ValueError(f"expert id {expert_id!r} is already registered; choose another id or call "
                         f"illab.experts.unregister({expert_id!r}) first")
    if expert.id != expert_id:
        raise ValueError(f"register({expert_id!r}, ...) got a record whose id is {expert.id!r}")
    if expert.file is None and expert.factory is None and expert.repo_id is None:
        raise ValueError("an expert needs weights (file=...), a hub repo (repo_id=...) or a policy factory")
    _REGISTRY[expert_id] = expert
    return expert


def unregister(expert_id: str) -> None:
    """Remove ``expert_id`` from the registry (KeyError if unknown)."""
    get(expert_id)
    del _REGISTRY[expert_id]


def load(expert_id: str, source: str = "bundled") -> Policy:
    """Load an expert as a batched :class:`~illab.policy.Policy`.

    Args:
        expert_id: a registered id (see :func:`list`).
        source: ``"bundled"`` (weights shipped with illab, sha256-verified) or ``"hub"``
            (the rl-baselines3-zoo model on the Hugging Face Hub, through the local cache).

    Raises:
        KeyError: unknown id.
        ValueError: unknown ``source``; sha256 mismatch; no weights for that source.
        FileNotFoundError: bundled file missing.
        RuntimeError: hub unreachable and the model not cached (names the bundled alternative).
    """
    expert = get(expert_id)
    if source not in ("bundled", "hub"):
        raise ValueError(f"unknown source {source!r}: use 'bundled' or 'hub'")
    if expert.factory is not None and source == "bundled":
        return expert.factory()
    if source == "hub":
        from illab import hub
        return hub.load_expert(expert)
    if expert.path is None:
        raise ValueError(f"expert {expert_id!r} has no bundled weights; try source='hub'")
    return load_file(expert.path, expert.algo, expert.sha256, _norm_path(expert))


def _norm_path(expert: Expert) -> Path | None:
    if not expert.normalization_file:
        return None
    p = Path(expert.normalization_file)
    return p if p.is_absolute() else BUNDLED_DIR / p


def load_sb3(path: str | Path, algo: str):
    """Load an SB3 zip for acting (CPU; training schedules replaced, as rl-baselines3-zoo does).

    Raises:
        ValueError: unknown SB3 algorithm name.
    """
    import stable_baselines3 as sb3

    algo_cls = getattr(sb3, algo, None)
    if algo_cls is None:
        raise ValueError(f"unknown SB3 algorithm {algo!r}")
    custom = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0,
              "exploration_schedule": lambda _: 0.0}
    return algo_cls.load(str(path), device="cpu", custom_objects=custom)


def load_file(path: str | Path, algo: str, sha256: str | None = None,
              normalization: str | Path | None = None) -> SB3Policy:
    """Load an SB3 ``.zip`` as a :class:`~illab.policy.SB3Policy`.

    Args:
        path: the SB3 zip.
        algo: SB3 algorithm class name.
        sha256: expected hex digest; ``None`` skips the check.
        normalization: ``.npz`` with VecNormalize observation statistics, or ``None``.

    Raises:
        FileNotFoundError, ValueError (sha256 mismatch or unknown algorithm).
    """
    from illab.experts.train import sha256 as file_sha256

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"expert weights not found: {path}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise ValueError(f"sha256 mismatch for {path}: expected {sha256}, got {actual}. The file is "
                             "corrupted or was replaced; reinstall illab or retrain with python -m illab.experts.train")
    model = load_sb3(path, algo)
    if normalization is None:
        return SB3Policy(model)
    stats = np.load(normalization, allow_pickle=False)
    return SB3Policy(model, stats["obs_mean"], stats["obs_var"], float(stats["clip_obs"]), float(stats["epsilon"]))


def make_env(expert_id: str, render_mode: str | None = None):
    """A fresh gymnasium env for the expert's task."""
    from illab.rollout import make_env as _make
    e = get(expert_id)
    return _make(e.env_id, e.env_kwargs, render_mode=render_mode)


_load_bundled()
from illab.experts import scripted as _scripted  # noqa: E402  (registers the scripted examples)

_scripted.register_all(register, Expert)
