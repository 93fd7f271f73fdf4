"""BaselineDataset splits and items, sequences, validation, and plain-episode import."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from illab import datafile
from illab.controller import collect
from illab.data import BaselineDataset, DatasetError, SequenceDataset, from_episodes, validate, validate_arrays
from illab.policy import RandomPolicy
from illab.rollout import episodes_to_arrays, run_episodes
from illab.seeds import episode_seeds


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    return collect("cartpole", 6, tmp_path_factory.mktemp("cp"), seed=0, block_size=6)


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory):
    """A Box-action dataset (random play) written with a card like the Controller's."""
    env = gym.make("Pendulum-v1")
    eps = run_episodes(RandomPolicy(env.action_space, seed=0), "Pendulum-v1", episode_seeds(0, 4), n_envs=4)
    arrays = episodes_to_arrays(eps)
    card = datafile.make_card(arrays, env_id="Pendulum-v1", observation_space=datafile.space_to_json(env.observation_space),
                              action_space=datafile.space_to_json(env.action_space))
    return datafile.write(tmp_path_factory.mktemp("pd") / "pendulum.npz", arrays, card)


def test_splits_partition_the_episodes(cartpole):
    full = BaselineDataset(cartpole)
    train = BaselineDataset(cartpole, n_episodes=4)
    held_out = BaselineDataset(cartpole, n_episodes=4, split="eval")
    assert len(train) + len(held_out) == len(full) == int(full.episode_lengths.sum())
    assert len(train) == int(full.episode_lengths[:4].sum())
    assert np.array_equal(np.concatenate([train.obs, held_out.obs]), full.obs)
    assert np.array_equal(held_out.episode_seeds, full.episode_seeds[4:])
    assert held_out.episode_starts[0] and train.episode_starts.sum() == 4
    assert train.average_return == pytest.approx(full.episode_returns[:4].mean())
    assert train.info()["episodes"] == [0, 4] and held_out.info()["episodes"] == [4, 6]


def test_items_discrete_and_box(cartpole, pendulum):
    cp = BaselineDataset(cartpole, n_episodes=2)
    obs, action, next_obs = cp[3]
    assert obs.shape == (4,) and obs.dtype == torch.float32 and action.dtype == torch.int64 and action.shape == ()
    assert torch.equal(next_obs, cp[4][0])  # same episode: next_obs[t] == obs[t + 1]
    assert cp.action_space == gym.spaces.Discrete(2) and cp.observation_space.shape == (4,)
    assert cp.env_id == "CartPole-v1"
    pd = BaselineDataset(pendulum, n_episodes=3, return_reward=True)
    obs, action, next_obs, reward, terminated = pd[0]
    assert action.shape == (1,) and action.dtype == torch.float32 and reward.dtype == torch.float32
    assert pd.action_space.shape == (1,) and terminated.dtype == torch.bool
    loader = torch.utils.data.DataLoader(pd, batch_size=32)
    o, a, n, r, t = next(iter(loader))
    assert o.shape == (32, 3) and a.shape == (32, 1)
    doubled = BaselineDataset(pendulum, n_episodes=3, transform=lambda item: (item[0] * 2,) + item[1:])
    assert torch.equal(doubled[5][0], pd[5][0] * 2)


def test_sequences_never_cross_episodes(pendulum):
    pd = BaselineDataset(pendulum)
    seqs = SequenceDataset(pd, k=10)
    assert len(seqs) == int(np.sum(pd.episode_lengths - 9))
    for i in range(0, len(seqs), 37):
        obs, actions, next_obs = seqs[i]
        assert obs.shape == (10, 3) and actions.shape == (10, 1)
        assert torch.equal(obs[1:], next_obs[:-1])  # consecutive steps of one episode


def test_bad_input_errors(cartpole, tmp_path):
    with pytest.raises(FileNotFoundError):
        BaselineDataset(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="out of range"):
        BaselineDataset(cartpole, n_episodes=7)
    with pytest.raises(ValueError, match="leaves no eval episodes"):
        BaselineDataset(cartpole, n_episodes=6, split="eval")
    with pytest.raises(ValueError, match="unknown split"):
        BaselineDataset(cartpole, n_episodes=2, split="test")
    with pytest.raises(ValueError, match="unknown source"):
        BaselineDataset(cartpole, source="s3")
    with pytest.raises(ValueError, match="window length"):
        SequenceDataset(BaselineDataset(cartpole), k=0)


def _corrupt(arrays, **changes):
    bad = {k: np.array(v) for k, v in arrays.items()}
    bad.update(changes)
    return bad


def test_validation_names_each_problem(cartpole, tmp_path):
    arrays = {k: np.asarray(v) for k, v in datafile.read(cartpole).items()}
    validate(cartpole)
    with pytest.raises(DatasetError, match="missing keys"):
        validate_arrays({k: v for k, v in arrays.items() if k != "next_obs"})
    nan_obs = arrays["obs"].copy()
    nan_obs[5, 1] = np.nan
    with pytest.raises(DatasetError, match="obs contains NaN"):
        validate_arrays(_corrupt(arrays, obs=nan_obs))
    with pytest.raises(DatasetError, match="actions has 3 rows"):
        validate_arrays(_corrupt(arrays, actions=arrays["actions"][:3]))
    with pytest.raises(DatasetError, match="terminated has dtype"):
        validate_arrays(_corrupt(arrays, terminated=arrays["terminated"].astype(np.int8)))
    wrong = arrays["episode_returns"].copy()
    wrong[2] += 5
    with pytest.raises(DatasetError, match=r"episode_returns\[2\]"):
        validate_arrays(_corrupt(arrays, episode_returns=wrong))
    starts = arrays["episode_starts"].copy()
    starts[10] = True
    with pytest.raises(DatasetError, match="episode_starts marks 7 episodes"):
        validate_arrays(_corrupt(arrays, episode_starts=starts))
    with pytest.raises(DatasetError, match="empty"):
        validate_arrays({k: v[:0] for k, v in arrays.items()})
    # a file edited after it was written no longer matches its card
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **_corrupt(arrays, rewards=arrays["rewards"] * 1.0))
    datafile.card_path(tampered).write_text(datafile.card_path(cartpole).read_text())
    flipped = _corrupt(arrays)
    flipped["actions"][0] = 1 - flipped["actions"][0]
    np.savez(tampered, **flipped)
    with pytest.raises(DatasetError, match="content hash|does not match its card"):
        validate(tampered)


def test_from_episodes_imports_plain_demonstrations_and_trains_bc(tmp_path):
    env = gym.make("CartPole-v1")
    from illab import experts
    expert = experts.load("cartpole")
    episodes = []
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        all_obs, actions, rewards = [obs], [], []
        for _ in range(200):
            a = int(expert.predict(obs)[0])
            obs, r, term, trunc, _ = env.step(a)
            all_obs.append(obs), actions.append(a), rewards.append(r)
            if term or trunc:
                break
        episodes.append({"obs": np.array(all_obs), "actions": actions, "rewards": rewards, "seed": seed,
                         "terminated": np.zeros(len(actions), bool), "truncated": np.arange(len(actions)) == len(actions) - 1})
    path = tmp_path / "human.npz"
    arrays = from_episodes(episodes, env_id="CartPole-v1", path=path, source="hand-written loop")
    assert arrays["episode_lengths"].tolist() == [len(e["actions"]) for e in episodes]
    ds = BaselineDataset(path)
    assert ds.card["source"] == "hand-written loop" and ds.action_space == env.action_space
    from illab.methods import BC
    bc = BC.from_dataset(ds, seed=0).fit(ds, progress=False, eval_episodes=0)
    assert (bc.predict(ds.obs)[0] == ds.actions).mean() > 0.8  # chance level is 0.5
    with pytest.raises(ValueError, match="episode 0: obs has 2 rows"):
        from_episodes([{"obs": np.zeros((2, 4)), "actions": [0, 1, 0], "rewards": [1, 1, 1]}], "CartPole-v1")


def test_from_imitation_npz_splits_trajectories(tmp_path):
    from illab.data import from_imitation_npz
    lens = [3, 5]
    obs = np.concatenate([np.full((L + 1, 4), i, np.float32) + np.arange(L + 1)[:, None] for i, L in enumerate(lens)])
    acts = np.arange(sum(lens)) % 2
    src = tmp_path / "imit.npz"
    np.savez(src, obs=obs, acts=acts, indices=np.array([3]), terminal=np.array([True, False]),
             rews=np.ones(8, np.float32))
    from_imitation_npz(src, env_id="CartPole-v1", path=tmp_path / "d.npz")
    ds = BaselineDataset(tmp_path / "d.npz")
    assert list(ds.episode_lengths) == lens and list(ds.episode_returns) == [3.0, 5.0]
    np.testing.assert_array_equal(ds.next_obs[2], obs[3])   # final obs of trajectory 0 kept
    np.testing.assert_array_equal(ds.obs[3], obs[4])        # trajectory 1 starts after it
    assert ds.terminated[2] and ds.truncated[7] and not ds.terminated[7]
    np.savez(tmp_path / "bad.npz", obs=obs[:-1], acts=acts, indices=np.array([3]))
    with pytest.raises(DatasetError, match="one per trajectory"):
        from_imitation_npz(tmp_path / "bad.npz", env_id="CartPole-v1")


def test_hf_dataset_round_trip_is_lossless(pendulum, tmp_path):
    from illab.data import from_hf_dataset, to_hf_dataset
    hf = to_hf_dataset(pendulum)
    assert "episode_return" in hf.column_names
    back = from_hf_dataset(hf, path=tmp_path / "back.npz")
    orig = datafile.read(pendulum, mmap=False)
    for k, v in orig.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
        assert back[k].dtype == v.dtype, k
    assert BaselineDataset(tmp_path / "back.npz").env_id == BaselineDataset(pendulum).env_id
    with pytest.raises(DatasetError, match="lacks columns"):
        from_hf_dataset(hf.remove_columns(["episode_index"]))


def test_minari_round_trip_keeps_transitions(pendulum, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    from illab.data import from_minari, to_minari
    to_minari(pendulum, "illab/pendulum-random-v0")
    back = from_minari("illab/pendulum-random-v0")
    orig = datafile.read(pendulum, mmap=False)
    for k in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode_starts",
              "episode_lengths"):
        np.testing.assert_allclose(back[k], orig[k], err_msg=k)
    np.testing.assert_allclose(back["episode_returns"], orig["episode_returns"], rtol=1e-6)


def test_source_hf_reads_from_an_offline_cache(cartpole, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = tmp_path / "hub" / "datasets--illab--cartpole" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (tmp_path / "hub" / "datasets--illab--cartpole" / "refs").mkdir()
    (tmp_path / "hub" / "datasets--illab--cartpole" / "refs" / "main").write_text("a" * 40)
    for f in (cartpole, datafile.card_path(cartpole)):
        (snap / f.name).write_bytes(f.read_bytes())
    ds = BaselineDataset("illab/cartpole", n_episodes=4, source="hf", cache_dir=tmp_path / "hub")
    np.testing.assert_array_equal(ds.obs, BaselineDataset(cartpole, n_episodes=4).obs)
    with pytest.raises(FileNotFoundError, match="illab/missing"):
        BaselineDataset("illab/missing", source="hf", cache_dir=tmp_path / "hub")


def test_push_to_hub_builds_one_commit_with_the_file_and_its_card(cartpole, monkeypatch):
    """The upload path up to the network: the repo call and the commit operations are checked."""
    import huggingface_hub
    from illab.data import push_to_hub

    calls = {}
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **kw: calls.setdefault("repo", (repo_id, kw)))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit",
                        lambda self, repo_id, operations, **kw: calls.setdefault("commit", (repo_id, operations, kw))
                        and "https://hub.example/commit/1")
    push_to_hub(cartpole, "someone/cartpole-demos")
    assert calls["repo"][0] == "someone/cartpole-demos" and calls["repo"][1]["repo_type"] == "dataset"
    repo_id, ops, kw = calls["commit"]
    assert kw["repo_type"] == "dataset"
    assert [op.path_in_repo for op in ops] == ["cartpole.npz", "cartpole.json"]
    assert all(isinstance(op, huggingface_hub.CommitOperationAdd) for op in ops)
    assert open(ops[0].path_or_fileobj, "rb").read() == cartpole.read_bytes()
    bad = cartpole.with_name("broken.npz")
    np.savez(bad, obs=np.zeros((2, 4), np.float32))
    with pytest.raises(DatasetError, match="missing keys"):
        push_to_hub(bad, "someone/broken")  # nothing invalid is ever uploaded
    assert "broken" not in str(calls.get("repo"))


def test_imitation_rollouts_of_an_expert_import_and_train_bc(cartpole, tmp_path):
    """imitation.data.serialize layout: obs carry one extra final observation per trajectory."""
    from illab.data import from_imitation_npz
    from illab.methods import BC, BCConfig
    src = BaselineDataset(cartpole)
    starts = np.flatnonzero(src.episode_starts)
    ends = np.append(starts[1:], len(src)) - 1
    obs = np.concatenate([np.concatenate([src.obs[s:e + 1], src.next_obs[e:e + 1]]) for s, e in zip(starts, ends)])
    np.savez(tmp_path / "imit.npz", obs=obs, acts=np.asarray(src.actions), indices=starts[1:],
             terminal=np.asarray(src.terminated)[ends], rews=np.asarray(src.rewards))
    from_imitation_npz(tmp_path / "imit.npz", env_id="CartPole-v1", path=tmp_path / "d.npz")
    ds = BaselineDataset(tmp_path / "d.npz", n_episodes=4)
    np.testing.assert_array_equal(ds.obs, BaselineDataset(cartpole, n_episodes=4).obs)
    bc = BC.from_dataset(ds, BCConfig(epochs=30), seed=0).fit(ds, progress=False, eval_episodes=0)
    held_out = BaselineDataset(tmp_path / "d.npz", n_episodes=4, split="eval")
    assert (bc.predict(held_out.obs)[0] == held_out.actions).mean() > 0.8  # chance is 0.5


def test_image_observations_and_an_empty_file(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [{"obs": rng.integers(0, 255, (L + 1, 8, 8, 3)).astype(np.float32), "actions": rng.integers(0, 3, L),
                 "rewards": np.ones(L)} for L in (5, 7)]
    arrays = from_episodes(episodes, env_id="CartPole-v1")
    datafile.write(tmp_path / "img.npz", arrays)
    ds = BaselineDataset(tmp_path / "img.npz", n_episodes=1)
    obs, action, next_obs = ds[4]
    assert obs.shape == (8, 8, 3) and len(ds) == 5
    assert torch.equal(next_obs, torch.from_numpy(episodes[0]["obs"][5]))
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not an .npz dataset file"):
        BaselineDataset(tmp_path / "empty.npz")
