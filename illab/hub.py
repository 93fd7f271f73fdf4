"""Hugging Face Hub access for illab: the files of rl-baselines3-zoo model repos.

This module only *fetches* files (through ``huggingface_hub.hf_hub_download`` and its local cache,
so ``HF_HUB_OFFLINE=1`` works from a filled cache) and checks optional pins; it never opens or
loads them. Loading is the expert registry's job (:func:`illab.experts.load`, which reads Hub files
with the safe loader of :mod:`illab.experts.safe_sb3`: nothing from a download is executed).

A zoo model repo (``sb3/<algo>-<EnvId>``) holds ``<algo>-<EnvId>.zip`` (the SB3 model),
``config.yml`` (the zoo hyperparameters, e.g. ``normalize``, ``policy_kwargs``), and, for models
trained with ``VecNormalize``, ``vec_normalize.pkl`` (the observation statistics).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from illab.fileio import sha256 as file_sha256

#: zoo's old environment ids -> ``(id, gymnasium.make kwargs)`` that gymnasium 1.x registers with
#: the same observation and action layout (MuJoCo ``-v3`` needs mujoco-py; ``-v4`` keeps the v3
#: observation vector for Ant, with contact forces, and Humanoid; ``-v5`` for the others).
ENV_ID_MAP: dict[str, tuple[str, dict]] = {
    "LunarLander-v2": ("LunarLander-v3", {}),
    "LunarLanderContinuous-v2": ("LunarLander-v3", {"continuous": True}),
    "Hopper-v3": ("Hopper-v5", {}), "HalfCheetah-v3": ("HalfCheetah-v5", {}), "Walker2d-v3": ("Walker2d-v5", {}),
    "Hopper-v4": ("Hopper-v5", {}), "HalfCheetah-v4": ("HalfCheetah-v5", {}), "Walker2d-v4": ("Walker2d-v5", {}),
    "Swimmer-v3": ("Swimmer-v5", {}),
    "Ant-v3": ("Ant-v4", {"use_contact_forces": True}),
    "Humanoid-v3": ("Humanoid-v4", {}),
}

#: the zoo repo files illab reads besides the model zip.
CONFIG_FILE = "config.yml"
VEC_NORMALIZE_FILE = "vec_normalize.pkl"


class HubUnavailableError(RuntimeError):
    """A Hub file could not be fetched (offline and not cached, missing in the repo, no network)."""


def map_env_id(env_id: str) -> str:
    """Map a zoo env id to the gymnasium 1.x id with the same observation layout, warning on a change.

    (``map_env(env_id)`` also returns the ``gymnasium.make`` keyword arguments the mapping needs.)
    """
    return map_env(env_id)[0]


def map_env(env_id: str) -> tuple[str, dict]:
    """``(gymnasium id, make kwargs)`` for a zoo env id, warning when the id changes."""
    new, kwargs = ENV_ID_MAP.get(env_id, (env_id, {}))
    if new != env_id:
        warnings.warn(f"zoo env id {env_id!r} is not registered in gymnasium 1.x; using {new!r}"
                      + (f" with {kwargs}" if kwargs else ""), stacklevel=2)
    return new, dict(kwargs)


@dataclass(frozen=True)
class HubFiles:
    """Local paths of one zoo model repo's files (inside the Hugging Face cache; read-only).

    Attributes:
        repo_id, revision: where they came from (``revision`` as asked, ``None`` = the default branch).
        model: the SB3 ``.zip``.
        config: ``config.yml``, or ``None`` when the repo (or the offline cache) has none.
        vec_normalize: ``vec_normalize.pkl``, or ``None`` (not asked for, or absent).
    """

    repo_id: str
    revision: str | None
    model: Path
    config: Path | None
    vec_normalize: Path | None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _fetch(repo_id: str, filename: str, revision: str | None, cache_dir) -> Path:
    from huggingface_hub import hf_hub_download
    # HF_HUB_OFFLINE / HF_HUB_CACHE are read at each call (huggingface_hub reads them once, at import)
    cache_dir = cache_dir if cache_dir is not None else os.environ.get("HF_HUB_CACHE") or None
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir,
                                    local_files_only=_offline()))
    except Exception as e:  # offline and not cached, missing file, no network, unknown revision
        raise HubUnavailableError(f"could not get {repo_id}/{filename}"
                                  + (f" at revision {revision}" if revision else "")
                                  + f" from the Hugging Face Hub or its local cache ({type(e).__name__}: {e})") from e


def _check_pin(path: Path, repo_id: str, name: str, pins: dict[str, str]) -> None:
    expected = pins.get(name)
    if expected is None:
        return
    actual = file_sha256(path)
    if actual != expected.lower():
        raise ValueError(f"sha256 mismatch for {repo_id}/{name} ({path}): expected {expected}, got {actual}. "
                         "The cached file is corrupted or the repo changed; delete it from the Hugging Face "
                         "cache to download it again, or update the expert's hub_sha256 pin")


def download_model(repo_id: str, filename: str, revision: str | None = None, cache_dir: str | Path | None = None,
                   sha256: dict[str, str] | None = None, vec_normalize: bool | None = None) -> HubFiles:
    """Fetch a zoo model repo's files (model zip, ``config.yml``, ``vec_normalize.pkl``) without loading them.

    Args:
        repo_id: e.g. ``"sb3/td3-Hopper-v3"``.
        filename: the model zip, e.g. ``"td3-Hopper-v3.zip"``.
        revision: a branch, tag or commit hash to pin (``None``: the default branch).
        cache_dir: the Hugging Face cache (``None``: ``HF_HUB_CACHE`` / ``~/.cache/huggingface/hub``).
        sha256: optional pins ``{file name: hex digest}``, verified after download.
        vec_normalize: ``True``: the statistics are required; ``False``: not fetched; ``None``:
            fetched when present (decide with ``config.yml``'s ``normalize`` first when you can).

    Raises:
        HubUnavailableError: the model zip (or a required ``vec_normalize.pkl``) cannot be fetched.
        ValueError: a pinned sha256 does not match.
    """
    pins = dict(sha256 or {})
    model = _fetch(repo_id, filename, revision, cache_dir)
    _check_pin(model, repo_id, filename, pins)
    try:
        config = _fetch(repo_id, CONFIG_FILE, revision, cache_dir)
    except HubUnavailableError:
        if CONFIG_FILE in pins:
            raise
        config = None
    if config is not None:
        _check_pin(config, repo_id, CONFIG_FILE, pins)
    stats = None
    if vec_normalize is not False:
        try:
            stats = _fetch(repo_id, VEC_NORMALIZE_FILE, revision, cache_dir)
        except HubUnavailableError as e:
            if vec_normalize or VEC_NORMALIZE_FILE in pins:
                raise HubUnavailableError(
                    f"{repo_id} was trained with VecNormalize but its {VEC_NORMALIZE_FILE} is unavailable: "
                    f"without its observation statistics the policy would act on wrongly scaled inputs. {e}") from e
        if stats is not None:
            _check_pin(stats, repo_id, VEC_NORMALIZE_FILE, pins)
    return HubFiles(repo_id, revision, model, config, stats)
