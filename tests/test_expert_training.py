"""Off-policy expert training: checkpoints with replay buffer, resume, best-keeping, deadline, acting-only files."""

from __future__ import annotations

import datetime as dt
import json
import time
import zipfile

import numpy as np
import pytest

from illab.experts.train import parse_stop_by, train
from illab.experts.zoo import CANDIDATES, ZOO, ZooSpec, spec


def _tiny_td3(budget: int) -> ZooSpec:
    return ZooSpec("Pendulum-v1", "TD3", dict(learning_rate=1e-3, learning_starts=100, batch_size=32,
                                              buffer_size=budget, policy_kwargs=dict(net_arch=[16, 16])),
                   n_envs=1, n_timesteps=budget, threshold=-2000.0, repo_id="x/y", hub_filename="y.zip",
                   zoo_entry="test", action_noise=0.1, eval_every=200, eval_episodes=2)


def test_spec_looks_up_bundled_and_candidate_ids():
    assert spec("hopper") is ZOO["hopper"] and spec("hopper-td3") is CANDIDATES["hopper-td3"]
    assert not set(ZOO) & set(CANDIDATES)
    with pytest.raises(ValueError, match="trainable ids"):
        spec("hoper")


def test_td3_checkpoints_buffer_resumes_and_ships_the_best_acting_only(tmp_path):
    from illab.experts import load_file

    work, out = tmp_path / "work", tmp_path / "out"
    card = train("tiny", seed=0, out=out, workdir=work, checkpoint_every=200, spec=_tiny_td3(400))
    run = work / "tiny"
    assert sorted(p.name for p in run.glob("ckpt_*_steps.zip")) == ["ckpt_200_steps.zip", "ckpt_400_steps.zip"]
    assert [p.name for p in run.glob("ckpt_replay_buffer_*")] == ["ckpt_replay_buffer_400_steps.pkl"]  # latest only
    progress = json.loads((run / "progress.json").read_text())
    assert progress["best"]["steps"] in (200, 400) and progress["wall_seconds"] > 0
    assert card["timesteps"] == progress["best"]["steps"] and card["trained_timesteps"] == 400
    assert card["validation_return"] == progress["best"]["validation_return"]

    # resume continues from 400 steps with the 400-step replay buffer
    card2 = train("tiny", seed=0, out=out, workdir=work, checkpoint_every=200, resume=True, force=True,
                  spec=_tiny_td3(600))
    assert card2["trained_timesteps"] == 600 and (run / "ckpt_600_steps.zip").exists()
    assert [p.name for p in run.glob("ckpt_replay_buffer_*")] == ["ckpt_replay_buffer_600_steps.pkl"]
    assert json.loads((run / "progress.json").read_text())["wall_seconds"] > progress["wall_seconds"]

    # the shipped file is deflated, its critics zeroed, and it acts like the checkpoint it came from
    shipped = out / "tiny.zip"
    with zipfile.ZipFile(shipped) as z:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    assert "critic" in json.loads((out / "tiny.json").read_text())["acting_only"]
    policy = load_file(shipped, "TD3", sha256=card2["sha256"])
    assert all(float(p.detach().abs().sum()) == 0 for p in policy.model.policy.critic.parameters())
    from stable_baselines3 import TD3
    from illab.policy import SB3Policy
    source = TD3.load(run / "best.zip", device="cpu")
    obs = np.random.default_rng(0).uniform(-1, 1, (8, 3)).astype(np.float32)
    np.testing.assert_array_equal(policy.predict(obs)[0], SB3Policy(source).predict(obs)[0])


def test_stop_by_ends_training_with_a_checkpoint(tmp_path):
    card = train("tiny", seed=0, out=tmp_path / "out", workdir=tmp_path / "work", checkpoint_every=10_000,
                 spec=_tiny_td3(100_000), stop_by=time.time() + 3)
    steps = card["trained_timesteps"]
    assert 0 < steps < 100_000 and (tmp_path / "work" / "tiny" / f"ckpt_{steps}_steps.zip").exists()
    assert (tmp_path / "work" / "tiny" / f"ckpt_replay_buffer_{steps}_steps.pkl").exists()
    assert train("tiny", out=tmp_path / "o2", workdir=tmp_path / "w2", spec=_tiny_td3(400),
                 stop_by=time.time() - 1) is None


def test_parse_stop_by():
    now = dt.datetime(2026, 1, 1, 12, 0)
    assert parse_stop_by("13:30", now) == dt.datetime(2026, 1, 1, 13, 30).timestamp()
    assert parse_stop_by(None) is None
    with pytest.raises(ValueError, match="already passed"):
        parse_stop_by("11:00", now)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_stop_by("soon", now)


def test_promote_copies_a_verified_candidate_under_a_new_id(tmp_path):
    from illab.experts.train import promote, sha256

    src, dest = tmp_path / "cand", tmp_path / "bundled"
    src.mkdir(), dest.mkdir()
    (src / "a-td3.zip").write_bytes(b"weights")
    card = {"id": "a-td3", "file": "a-td3.zip", "sha256": sha256(src / "a-td3.zip"), "normalization_file": None}
    (src / "a-td3.json").write_text(json.dumps(card))
    (dest / "a.npz").write_bytes(b"old PPO statistics")
    new = promote("a-td3", src, "a", dest)
    assert new["id"] == "a" and new["file"] == "a.zip" and new["promoted_from"] == "a-td3"
    assert (dest / "a.zip").read_bytes() == b"weights" and not (dest / "a.npz").exists()
    assert json.loads((dest / "a.json").read_text()) == new
    (src / "a-td3.zip").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        promote("a-td3", src, "b", dest)
    assert not (dest / "b.zip").exists()
