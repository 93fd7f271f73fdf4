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

Hub experts (:mod:`illab.experts.hub_models`: IL-Datasets' ``sb3/*`` list and the zoo models of the
bundled ids) are registered under their repo name (``"td3-Hopper-v3"``) and load from the Hugging
Face Hub or its offline cache: :mod:`illab.hub` fetches the files, and this registry loads them with
the safe loader of :mod:`illab.experts.safe_sb3` (nothing from a download is unpickled or run).
SB3's own loader is used only for files whose sha256 is pinned and verified (the bundled ones).

>>> experts.load("td3-Hopper-v3")             # hub-only id: from the Hub  # doctest: +SKIP
>>> experts.load("hopper", source="hub")      # the zoo model of a bundled id  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from illab.fileio import sha256 as file_sha256
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
        repo_id, filename, revision: the Hugging Face Hub model (zoo layout) for ``source="hub"``;
            ``revision`` pins a branch, tag or commit.
        hub_sha256: optional sha256 pin of the Hub model zip (a hex string), or ``{file name: hex}``
            pins for several repo files (``"vec_normalize.pkl"``, ``"config.yml"``); verified on load.
        policy, policy_kwargs: how to rebuild the network of a Hub/unpinned file (SB3 policy alias
            and keyword arguments); ``None``: read from the zip's readable fields and ``config.yml``.
        normalize: the model needs ``VecNormalize`` statistics (``vec_normalize.pkl``); ``None``:
            follow the repo's ``config.yml``.
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
    hub_sha256: str | dict[str, str] | None = None
    policy: str | None = None
    policy_kwargs: dict[str, Any] | None = None
    normalize: bool | None = None
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

    @property
    def hub_only(self) -> bool:
        """``True`` for an expert served only from the Hugging Face Hub (no bundled file, no factory)."""
        return self.file is None and self.factory is None and self.repo_id is not None

    def hub_pins(self) -> dict[str, str]:
        """``{file name: sha256}`` pins of the Hub files (``hub_sha256`` as a dict)."""
        if self.hub_sha256 is None:
            return {}
        if isinstance(self.hub_sha256, str):
            return {self.filename or "": self.hub_sha256}
        return dict(self.hub_sha256)

    def reference_returns(self) -> tuple[float, float]:
        """``(random_mean, expert_mean)`` for normalized performance.

        Raises:
            ValueError: the record has no reference returns (measure them with
                :func:`illab.evaluate.reference_returns` and pass them to ``Expert``).
        """
        if self.expert_return is None or self.random_return is None:
            raise ValueError(f"expert {self.id!r} has no reference returns; measure them with "
                             f"illab.experts.measure_reference_returns({self.id!r}) (or "
                             "illab.evaluate.reference_returns and register the expert with them)")
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


def _load_hub_models() -> None:
    from illab.experts.hub_models import HUB_MODELS
    from illab.hub import ENV_ID_MAP
    for m in HUB_MODELS:
        env_id, env_kwargs = ENV_ID_MAP.get(m.zoo_env_id, (m.zoo_env_id, {}))
        _REGISTRY[m.id] = Expert(id=m.id, env_id=env_id, algo=m.algo, threshold=m.threshold,
                                 env_kwargs=dict(env_kwargs), repo_id=m.repo_id, filename=m.filename,
                                 normalize=m.normalize)


def _closest(expert_id: str) -> str:
    by_repo = [e.id for e in _REGISTRY.values() if e.hub_only and e.repo_id == expert_id]
    if by_repo:
        return f"unknown expert id {expert_id!r}: that Hub repo is registered as {by_repo[0]!r}"
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
    if expert.repo_id is not None and expert.filename is None:  # zoo layout: <repo name>.zip
        import dataclasses
        expert = dataclasses.replace(expert, filename=expert.repo_id.rsplit("/", 1)[-1] + ".zip")
    _REGISTRY[expert_id] = expert
    return expert


def unregister(expert_id: str) -> None:
    """Remove ``expert_id`` from the registry (KeyError if unknown)."""
    get(expert_id)
    del _REGISTRY[expert_id]


SOURCES = ("bundled", "hub")


def resolve(expert_id: str, source: str | None = None) -> str:
    """The registry id that serves ``expert_id`` from ``source`` (what workers and datasets should name).

    ``resolve("hopper", "hub")`` is ``"td3-Hopper-v3"`` (the zoo model of the bundled ``hopper``);
    a hub-only id, or ``source`` ``None``/``"bundled"``, returns ``expert_id`` itself.

    Raises:
        KeyError: unknown id. ValueError: unknown ``source``, or ``source="bundled"`` for a hub-only id.
    """
    expert = get(expert_id)
    if source not in (None, *SOURCES):
        raise ValueError(f"unknown source {source!r}: use 'bundled' or 'hub'")
    if source == "bundled" and expert.hub_only:
        raise ValueError(_no_bundled(expert))
    if source == "hub" and not expert.hub_only:
        if expert.repo_id is None:
            raise ValueError(f"expert {expert_id!r} has no Hugging Face Hub model; use source='bundled'")
        twins = [e.id for e in _REGISTRY.values() if e.hub_only and e.repo_id == expert.repo_id]
        if twins:
            return twins[0]
    return expert_id


def _no_bundled(expert: Expert) -> str:
    return (f"expert {expert.id!r} has no bundled weights: it is served from the Hugging Face Hub "
            f"({expert.repo_id}); load it with source='hub' (the default for this id)")


def load(expert_id: str, source: str | None = None, cache_dir: str | Path | None = None) -> Policy:
    """Load an expert as a batched :class:`~illab.policy.Policy`.

    Args:
        expert_id: a registered id (see :func:`list`).
        source: ``"bundled"`` (weights shipped with illab, sha256-verified, SB3's loader),
            ``"hub"`` (the rl-baselines3-zoo model on the Hugging Face Hub, through the local
            cache, read by the safe loader), or ``None``: bundled/scripted when the id has them,
            else the Hub.
        cache_dir: the Hugging Face cache for ``source="hub"`` (default: ``HF_HUB_CACHE``).

    Raises:
        KeyError: unknown id.
        ValueError: unknown ``source``; sha256 mismatch; no weights for that source; a Hub
            model whose spaces or weights do not fit the registered environment.
        illab.experts.safe_sb3.RefusedFileError: a downloaded file illab will not read (it would
            run code, or is malformed); the message names the file and the reason.
        FileNotFoundError: bundled file missing.
        illab.hub.HubUnavailableError (a ``RuntimeError``): the Hub is unreachable and the model
            is not cached, or a required file (``vec_normalize.pkl``) is missing.
    """
    expert = get(expert_id)
    if source is None:
        source = "hub" if expert.hub_only else "bundled"
    served = get(resolve(expert_id, source))
    if source == "hub":
        return _load_hub(served, cache_dir, asked=expert)
    if expert.factory is not None:
        return expert.factory()
    if expert.path is None:
        raise ValueError(f"expert {expert_id!r} has no bundled weights; try source='hub'")
    return load_file(expert.path, expert.algo, expert.sha256, _norm_path(expert),
                     env_id=expert.env_id, env_kwargs=expert.env_kwargs)


#: zoo ``config.yml`` keys that change the environment; illab cannot rebuild those wrappers safely.
_ENV_CHANGING_CONFIG = ("env_wrapper", "frame_stack", "vec_env_wrapper")


def _load_hub(expert: Expert, cache_dir, asked: Expert) -> SB3Policy:
    from illab import hub
    from illab.experts import safe_sb3
    from illab.rollout import make_env as _make

    if not expert.repo_id or not expert.filename:
        raise ValueError(f"expert {expert.id!r} has no Hub repo; use illab.experts.load({expert.id!r})")
    try:
        files = hub.download_model(expert.repo_id, expert.filename, expert.revision, cache_dir,
                                   sha256=expert.hub_pins(), vec_normalize=True if expert.normalize else None)
    except hub.HubUnavailableError as e:
        fix = (f"Use the bundled weights instead: illab.experts.load({asked.id!r})" if not asked.hub_only else
               f"{asked.id!r} has no bundled weights: connect to the network once (the files are then cached) or "
               "put the repo's files into the Hugging Face cache (HF_HUB_CACHE)")
        raise hub.HubUnavailableError(f"{e}. {fix}") from e
    config = safe_sb3.read_config(files.config) if files.config is not None else {}
    wrappers = {k: config[k] for k in _ENV_CHANGING_CONFIG if config.get(k)}
    if wrappers:
        raise ValueError(f"{files.config}: the zoo model was trained with environment wrappers {wrappers} that "
                         "illab does not rebuild; its actions would not mean the same here")
    cfg_norm = safe_sb3.normalize_setting(config)
    if expert.normalize and cfg_norm is False:
        raise ValueError(f"{files.config} says normalize=false but the registry records {expert.id!r} as trained "
                         "with VecNormalize; the repo does not match its registry entry")
    needs_stats = bool(expert.normalize) or bool(cfg_norm)
    if needs_stats and files.vec_normalize is None:
        raise hub.HubUnavailableError(
            f"{expert.repo_id} was trained with VecNormalize (config.yml normalize={config.get('normalize')!r}) but "
            f"{hub.VEC_NORMALIZE_FILE} is missing: without its observation statistics the policy would act on "
            "wrongly scaled inputs. Fetch the repo's vec_normalize.pkl into the Hugging Face cache")
    env = _make(expert.env_id, expert.env_kwargs)
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    model = safe_sb3.load_policy(files.model, expert.algo, obs_space, act_space, config=config,
                                 policy=expert.policy, policy_kwargs=expert.policy_kwargs)
    stats = None
    if files.vec_normalize is not None and cfg_norm is not False:
        stats = safe_sb3.read_vec_normalize(files.vec_normalize, obs_space.shape)
    if stats is None:
        return SB3Policy(model)
    return SB3Policy(model, stats.mean, stats.var, stats.clip_obs, stats.epsilon)


def measure_reference_returns(expert_id: str, n_episodes: int = 100, seed: int = 0,
                              source: str | None = None) -> tuple[tuple[float, float], tuple[float, float]]:
    """Measure an expert's reference returns and record them in the registry (for normalized performance).

    Plays ``n_episodes`` test-stream episodes (seeds from ``seed``) with a uniformly random policy and
    with the expert; the registry record serving ``expert_id`` from ``source`` (see :func:`resolve`) is replaced by one holding
    ``random_return`` and ``expert_return`` (``(mean, std)`` of the episode returns), so the
    benchmark and ``illab evaluate`` can normalize with it. Hub experts ship without them.

    Returns:
        ``(random_return, expert_return)``.

    Raises:
        as :func:`load`.
    """
    import dataclasses

    from illab.evaluate import reference_returns
    served = get(resolve(expert_id, source))
    rand, exp = reference_returns(load(served.id, source), served.env_id, n_episodes, seed, served.env_kwargs)
    out = ((float(rand.mean), float(rand.std)), (float(exp.mean), float(exp.std)))
    _REGISTRY[served.id] = dataclasses.replace(served, random_return=out[0], expert_return=out[1])
    return out


def _norm_path(expert: Expert) -> Path | None:
    if not expert.normalization_file:
        return None
    p = Path(expert.normalization_file)
    return p if p.is_absolute() else BUNDLED_DIR / p


def load_sb3(path: str | Path, algo: str):
    """Load a **trusted** SB3 zip with SB3's own loader (CPU; schedules replaced, as rl-baselines3-zoo does).

    SB3's loader unpickles the zip's ``:serialized:`` fields: call this only for files whose sha256
    you have verified (bundled experts, your own training runs). :func:`load_file` does the check.

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
              normalization: str | Path | None = None, *, env_id: str | None = None,
              env_kwargs: dict | None = None) -> SB3Policy:
    """Load an SB3 ``.zip`` as a :class:`~illab.policy.SB3Policy`.

    With ``sha256`` the file is verified first. With ``env_id`` it is then read by the safe loader
    (:mod:`illab.experts.safe_sb3`: nothing unpickled, spaces from the environment, no optimizer
    built, so a fresh process does not pay torch's optimizer imports); without ``env_id`` a verified
    file is loaded with SB3's own loader (trusted). Without ``sha256`` the file is untrusted and
    ``env_id`` is required (safe loader).

    Args:
        path: the SB3 zip.
        algo: SB3 algorithm class name.
        sha256: expected hex digest; ``None``: load safely instead.
        normalization: ``.npz`` with VecNormalize observation statistics (``obs_mean``, ``obs_var``,
            ``clip_obs``, ``epsilon``; read with ``allow_pickle=False``), or ``None``.
        env_id, env_kwargs: the environment (required without ``sha256``).

    Raises:
        FileNotFoundError, ValueError (sha256 mismatch, unknown algorithm, no ``env_id`` for an
        unpinned file), RefusedFileError (an unpinned file the safe loader will not read).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"expert weights not found: {path}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise ValueError(f"sha256 mismatch for {path}: expected {sha256}, got {actual}. The file is "
                             "corrupted or was replaced; reinstall illab or retrain with python -m illab.experts.train")
        if env_id is None:
            model = load_sb3(path, algo)
        else:  # verified, and still read without unpickling: the safe loader builds no optimizer (fast first load)
            model = _safe_load(path, algo, env_id, env_kwargs)
    else:
        if env_id is None:
            raise ValueError(f"{path} has no sha256 pin, so it is loaded without unpickling anything: pass "
                             "env_id=... (the spaces come from the environment), or its sha256=... if you trust it")
        model = _safe_load(path, algo, env_id, env_kwargs)
    if normalization is None:
        return SB3Policy(model)
    stats = np.load(normalization, allow_pickle=False)
    return SB3Policy(model, stats["obs_mean"], stats["obs_var"], float(stats["clip_obs"]), float(stats["epsilon"]))


def _safe_load(path: Path, algo: str, env_id: str, env_kwargs: dict | None):
    """:func:`illab.experts.safe_sb3.load_policy` with the spaces of ``env_id``."""
    from illab.experts import safe_sb3
    from illab.rollout import make_env as _make
    env = _make(env_id, env_kwargs)
    try:
        return safe_sb3.load_policy(path, algo, env.observation_space, env.action_space)
    finally:
        env.close()


def make_env(expert_id: str, render_mode: str | None = None):
    """A fresh gymnasium env for the expert's task."""
    from illab.rollout import make_env as _make
    e = get(expert_id)
    return _make(e.env_id, e.env_kwargs, render_mode=render_mode)


_load_bundled()
_load_hub_models()
from illab.experts import scripted as _scripted  # noqa: E402  (registers the scripted examples)

_scripted.register_all(register, Expert)
