"""Hugging Face Hub access for illab: experts (rl-baselines3-zoo model repos) and datasets.

Experts: :func:`load_expert` downloads ``<repo_id>/<filename>`` (plus ``vec_normalize.pkl`` when the
repo has one) with ``huggingface_hub.hf_hub_download`` and returns an :class:`~illab.policy.SB3Policy`.
Works offline (``HF_HUB_OFFLINE=1``) from the local HF cache.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

#: zoo's old environment ids -> the ids gymnasium 1.x registers.
ENV_ID_MAP = {"LunarLander-v2": "LunarLander-v3", "LunarLanderContinuous-v2": "LunarLanderContinuous-v3",
              "Hopper-v3": "Hopper-v5", "HalfCheetah-v3": "HalfCheetah-v5", "Walker2d-v3": "Walker2d-v5",
              "Hopper-v4": "Hopper-v5", "HalfCheetah-v4": "HalfCheetah-v5", "Walker2d-v4": "Walker2d-v5"}


def map_env_id(env_id: str) -> str:
    """Map a zoo env id to its current gymnasium id, warning when it changes."""
    new = ENV_ID_MAP.get(env_id, env_id)
    if new != env_id:
        warnings.warn(f"zoo env id {env_id!r} is not registered in gymnasium 1.x; using {new!r}", stacklevel=2)
    return new


def _download(repo_id: str, filename: str, revision: str | None, cache_dir) -> Path:
    from huggingface_hub import hf_hub_download
    return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir))


def load_expert(expert, cache_dir: str | Path | None = None):
    """Load an :class:`illab.experts.Expert` from its Hugging Face Hub repo (zoo layout).

    Raises:
        ValueError: the expert has no ``repo_id``/``filename``.
        RuntimeError: hub unreachable and not cached, or the file is missing; names the bundled
            alternative ``illab.experts.load(id)``.
    """
    from illab.experts import load_file

    if not expert.repo_id or not expert.filename:
        raise ValueError(f"expert {expert.id!r} has no Hub repo; use illab.experts.load({expert.id!r})")
    try:
        path = _download(expert.repo_id, expert.filename, expert.revision, cache_dir)
    except Exception as e:  # offline, not cached, missing file
        raise RuntimeError(f"could not get {expert.repo_id}/{expert.filename} from the Hugging Face Hub ({e}). "
                           f"Use the bundled weights instead: illab.experts.load({expert.id!r})") from e
    norm = None
    try:
        pkl = _download(expert.repo_id, "vec_normalize.pkl", expert.revision, cache_dir)
    except Exception:
        pkl = None
    if pkl is not None:
        norm = _vecnormalize_to_npz(pkl, expert)
    return load_file(path, expert.algo, sha256=None, normalization=norm)


def _vecnormalize_to_npz(pkl: Path, expert) -> Path:
    """Convert a zoo ``vec_normalize.pkl`` to the ``.npz`` obs statistics SB3Policy takes."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from illab.rollout import make_env

    venv = DummyVecEnv([lambda: make_env(map_env_id(expert.env_id), expert.env_kwargs, None)])
    vn = VecNormalize.load(str(pkl), venv)
    import tempfile
    out = Path(tempfile.mkdtemp(prefix="illab-vecnorm-")) / "obs_stats.npz"  # never write into the HF cache
    np.savez(out, obs_mean=vn.obs_rms.mean, obs_var=vn.obs_rms.var, clip_obs=vn.clip_obs, epsilon=vn.epsilon)
    venv.close()
    return out


# ---- datasets ----
