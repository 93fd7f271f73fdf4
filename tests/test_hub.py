"""Zoo-format experts load through a real Hugging Face cache layout, offline."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from illab import experts, hub
from illab.evaluate import evaluate

REV = "0123456789abcdef0123456789abcdef01234567"


def _cache(root, repo_id, files):
    """Build huggingface_hub's cache layout: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REV)
    snap = repo / "snapshots" / REV
    snap.mkdir(parents=True)
    for name, src in files.items():
        shutil.copy(src, snap / name)
    return root


def test_zoo_model_without_vec_normalize_loads_offline_and_plays(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = experts.get("cartpole")
    cache = _cache(tmp_path, rec.repo_id, {rec.filename: rec.path})
    policy = hub.load_expert(rec, cache_dir=cache)
    assert evaluate(policy, "CartPole-v1", n_episodes=5).mean >= rec.threshold


def test_zoo_model_with_vec_normalize_applies_its_statistics(tmp_path, monkeypatch):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from illab.rollout import make_env

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = experts.get("cheetah")
    stats = np.load(experts.BUNDLED_DIR / rec.normalization_file, allow_pickle=False)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(rec.env_id)]))
    venv.obs_rms.mean, venv.obs_rms.var = stats["obs_mean"], stats["obs_var"]
    venv.save(str(tmp_path / "vec_normalize.pkl"))  # the zoo ships these statistics as a pickle
    cache = _cache(tmp_path / "hub", rec.repo_id, {rec.filename: rec.path,
                                                   "vec_normalize.pkl": tmp_path / "vec_normalize.pkl"})
    from_hub, bundled = hub.load_expert(rec, cache_dir=cache), experts.load("cheetah")
    obs = np.stack([make_env(rec.env_id).reset(seed=s)[0] for s in range(32)]) + 0.5
    np.testing.assert_array_equal(from_hub.predict(obs)[0], bundled.predict(obs)[0])
    assert from_hub.obs_mean is not None
    # without the statistics the same network acts differently: they matter
    plain = _cache(tmp_path / "plain", rec.repo_id, {rec.filename: rec.path})
    assert not np.array_equal(hub.load_expert(rec, cache_dir=plain).predict(obs)[0], bundled.predict(obs)[0])
    assert evaluate(from_hub, rec.env_id, n_episodes=2, n_envs=2).mean > rec.threshold * 0.75


def test_old_zoo_env_ids_map_to_current_versions():
    with pytest.warns(UserWarning):
        assert hub.map_env_id("LunarLander-v2") == "LunarLander-v3"
    with pytest.warns(UserWarning):
        assert hub.map_env_id("Hopper-v3") == "Hopper-v5"
