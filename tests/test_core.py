"""Seeds, policies, batched rollouts, the dataset file and evaluation metrics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from illab import datafile, experts
from illab.evaluate import (LeakageError, check_leakage, evaluate, normalized_performance, start_states)
from illab.policy import FunctionPolicy, RandomPolicy, as_policy
from illab.rollout import episodes_to_arrays, run_episodes
from illab.seeds import STREAMS, episode_seed, episode_seeds, stream_of, torch_seed


# ---- seeds ---------------------------------------------------------------------------------

def test_episode_seed_depends_only_on_base_index_stream_attempt():
    a = episode_seeds(7, 50)
    b = np.array([episode_seed(7, i) for i in range(50)])
    assert np.array_equal(a, b)
    assert np.array_equal(episode_seeds(7, 10, start=40), a[40:])  # no dependence on what came before
    assert len(set(a.tolist())) == 50
    assert episode_seed(7, 3, attempt=1) != episode_seed(7, 3, attempt=0)
    assert not np.array_equal(episode_seeds(8, 50), a)


def test_streams_are_disjoint_by_construction():
    seen = {name: set(episode_seeds(0, 500, name).tolist()) for name in STREAMS}
    assert not seen["demonstrations"] & seen["test"]
    assert not seen["validation"] & seen["test"]
    assert all(stream_of(s) == "test" for s in seen["test"])


def test_bad_seed_input_is_refused():
    with pytest.raises(ValueError, match="unknown seed stream"):
        episode_seed(0, 0, "training")
    with pytest.raises(ValueError, match="index must be >= 0"):
        episode_seed(0, -1)
    assert torch_seed(0, "init") != torch_seed(0, "batches")


# ---- policies and rollouts ------------------------------------------------------------------

def test_policy_adapters_batch_and_single():
    env = gym.make("CartPole-v1")
    expert = experts.load("cartpole")
    obs = np.stack([env.reset(seed=s)[0] for s in range(5)])
    batch, _ = expert.predict(obs)
    assert batch.shape == (5,) and batch.dtype == np.int64
    single, _ = expert.predict(obs[0])
    assert single.shape == () and single == batch[0]
    fn = FunctionPolicy(lambda o: int(o[2] > 0), env.observation_space, env.action_space)
    assert np.array_equal(fn.predict(obs)[0], (obs[:, 2] > 0).astype(np.int64))
    box = gym.make("Pendulum-v1").action_space
    acts, _ = RandomPolicy(box, seed=1).predict(np.zeros((4, 3), np.float32))
    assert acts.shape == (4, 1) and acts.dtype == np.float32 and np.all(np.abs(acts) <= 2)
    with pytest.raises(TypeError, match="not a policy"):
        as_policy(42)


def test_rollout_is_deterministic_and_slot_count_independent_for_scripted_policy():
    env = gym.make("MountainCar-v0")
    policy = FunctionPolicy(lambda o: np.where(o[:, 1] >= 0, 2, 0), env.observation_space, env.action_space,
                            batched=True)
    seeds = episode_seeds(3, 6)
    a = episodes_to_arrays(run_episodes(policy, "MountainCar-v0", seeds, n_envs=4))
    b = episodes_to_arrays(run_episodes(policy, "MountainCar-v0", seeds, n_envs=1))
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    # each episode starts from exactly gymnasium's reset(seed) state
    starts = a["obs"][a["episode_starts"]]
    assert np.array_equal(starts, start_states("MountainCar-v0", seeds).astype(np.float32))


def test_recorded_arrays_are_consistent():
    seeds = episode_seeds(0, 3)
    arrays = episodes_to_arrays(run_episodes(RandomPolicy(gym.make("CartPole-v1").action_space, seed=0),
                                             "CartPole-v1", seeds, n_envs=2))
    ends = np.flatnonzero(arrays["terminated"] | arrays["truncated"])
    lengths = arrays["episode_lengths"]
    assert np.array_equal(ends + 1, np.cumsum(lengths))
    # within an episode, next_obs[t] is obs[t + 1]
    inner = np.ones(len(arrays["obs"]) - 1, bool)
    inner[np.cumsum(lengths)[:-1] - 1] = False
    assert np.array_equal(arrays["next_obs"][:-1][inner], arrays["obs"][1:][inner])
    sums = np.add.reduceat(arrays["rewards"].astype(np.float64), np.flatnonzero(arrays["episode_starts"]))
    assert np.allclose(sums, arrays["episode_returns"])
    with pytest.raises(ValueError, match="seeds is empty"):
        run_episodes(RandomPolicy(gym.make("CartPole-v1").action_space), "CartPole-v1", [])
    with pytest.raises(ValueError, match="cannot make environment"):
        run_episodes(RandomPolicy(gym.make("CartPole-v1").action_space), "NoSuchEnv-v0", [1])


# ---- dataset file ---------------------------------------------------------------------------

def _arrays(n=2):
    return episodes_to_arrays(run_episodes(experts.load("cartpole"), "CartPole-v1", episode_seeds(0, n)))


def test_datafile_roundtrip_memmap_and_card(tmp_path):
    arrays = _arrays()
    path = datafile.write(tmp_path / "d.npz", arrays, datafile.make_card(arrays, env_id="CartPole-v1"))
    back = datafile.read(path)
    for key, value in arrays.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key
    assert isinstance(back["obs"], np.memmap)
    card = datafile.read_card(path)
    assert card["episodes"] == 2 and card["content_hash"] == datafile.content_hash(arrays)
    with np.load(path, allow_pickle=False) as npz:  # plain numpy can read it without pickle
        assert set(npz.files) == set(datafile.KEYS)


def test_datafile_never_overwrites_and_refuses_pickles(tmp_path):
    arrays = _arrays(1)
    path = datafile.write(tmp_path / "d.npz", arrays)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        datafile.write(path, {k: v[:1] for k, v in arrays.items()})
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="dtype object"):
        datafile.write(tmp_path / "o.npz", {"obs": np.array([{"a": 1}], dtype=object)})
    np.savez(tmp_path / "evil.npz", obs=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="never"):
        datafile.read(tmp_path / "evil.npz")
    with pytest.raises(FileNotFoundError):
        datafile.read(tmp_path / "missing.npz")


# ---- evaluation -----------------------------------------------------------------------------

def test_normalized_performance_definition():
    perf = normalized_performance([10.0, 20.0, 30.0], random_return=10.0, expert_return=30.0)
    assert np.allclose(perf, [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="undefined"):
        normalized_performance([1.0], 5.0, 5.0)


def test_evaluate_expert_vs_random_and_refuses_demo_stream():
    expert = evaluate(experts.load("cartpole"), "CartPole-v1", n_episodes=5, seed=1)
    rand = evaluate(RandomPolicy(gym.make("CartPole-v1").action_space, seed=1), "CartPole-v1", 5, seed=1)
    assert expert.mean > 450 > 100 > rand.mean
    assert np.array_equal(expert.seeds, episode_seeds(1, 5, "test"))
    again = evaluate(experts.load("cartpole"), "CartPole-v1", n_episodes=5, seed=1)
    assert np.array_equal(expert.returns, again.returns)
    with pytest.raises(ValueError, match="leaks"):
        evaluate(experts.load("cartpole"), "CartPole-v1", 1, stream="demonstrations")


def test_leakage_check_catches_shared_start_states():
    train = start_states("CartPole-v1", episode_seeds(0, 50, "demonstrations"))
    test = start_states("CartPole-v1", episode_seeds(0, 50, "test"))
    check_leakage(train, test)  # disjoint streams: passes
    leaky = np.concatenate([test[:3], start_states("CartPole-v1", episode_seeds(0, 1, "demonstrations"))])
    with pytest.raises(LeakageError, match="1 test start state"):
        check_leakage(train, leaky)
