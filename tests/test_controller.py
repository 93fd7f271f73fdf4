"""The Controller: seed-only determinism across workers, faults, resume, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from illab import datafile
from illab.controller import CollectionError, Controller, collect, process_executor
from illab.recording import baseline_collate, baseline_enjoy, save_episodes
from illab.rollout import run_episodes
from illab.seeds import episode_seed

N = 20  # episodes; block_size 8 → blocks of 8, 8, 4


def _arrays(path):
    return {k: np.asarray(v) for k, v in datafile.read(path).items()}


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = collect("cartpole", N, tmp_path_factory.mktemp("ref"), seed=3, threads=1, block_size=8, n_envs=8)
    return path, _arrays(path)


@pytest.mark.parametrize("threads", [2, 4])
def test_threads_give_byte_identical_data(tmp_path, reference, threads):
    path = collect("cartpole", N, tmp_path, seed=3, threads=threads, block_size=8, n_envs=8)
    _same(_arrays(path), reference[1])
    assert datafile.read_card(path)["content_hash"] == datafile.read_card(reference[0])["content_hash"]


def test_process_and_dask_executors_give_byte_identical_data(tmp_path, reference):
    with process_executor(2) as ex:
        ex._warming.join(timeout=300)  # warm: the workers play (a cold pool lets the caller play meanwhile)
        _same(_arrays(collect("cartpole", N, tmp_path / "p", seed=3, executor=ex, block_size=8, n_envs=8)),
              reference[1])
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        path = collect("cartpole", N, tmp_path / "d", seed=3, executor=client.get_executor(), block_size=8, n_envs=8)
    _same(_arrays(path), reference[1])


def test_dataset_content_follows_the_seed_stream(reference):
    path, arrays = reference
    seeds = [episode_seed(3, i, "demonstrations") for i in range(N)]
    assert np.array_equal(arrays["episode_seeds"], seeds)
    assert np.all(arrays["episode_returns"] >= 475)
    card = datafile.read_card(path)
    assert card["env_id"] == "CartPole-v1" and card["expert_id"] == "cartpole" and card["seed"] == 3
    assert card["observation_space"]["type"] == "Box" and card["action_space"] == {"type": "Discrete", "n": 2,
                                                                                      "start": 0}


def test_rerun_keeps_data_and_overwrite_is_explicit(tmp_path, capsys):
    path = collect("cartpole", 4, tmp_path, seed=0, block_size=4)
    before = path.read_bytes()
    assert collect("cartpole", 4, tmp_path, seed=0, block_size=4, threads=2) == path  # same request: reused
    assert "already holds this dataset" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match=r"seed: file has 0, requested 1.*overwrite=True"):
        collect("cartpole", 4, tmp_path, seed=1, block_size=4)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="different run"):
        collect("cartpole", 4, tmp_path, seed=1, block_size=4, overwrite=True)
    assert path.read_bytes() == before
    again = collect("cartpole", 4, tmp_path, seed=0, block_size=4, overwrite=True)
    _same(_arrays(again), {k: np.asarray(v) for k, v in np.load(tmp_path / "cartpole.npz").items()})


def test_rejected_episodes_are_replaced_from_the_same_stream(tmp_path):
    ctl = Controller(episodes=6, seed=0, path=tmp_path, block_size=6, threshold=-100.0, progress=False)
    path = ctl.start({"game": "mountaincar", "mode": "all"})
    arrays = _arrays(path)
    assert np.all(arrays["episode_returns"] >= -100.0)
    assert ctl.stats.rejected > 0 and ctl.stats.accepted == 6
    assert ctl.stats.attempts == ctl.stats.accepted + ctl.stats.rejected
    block = datafile.read(next((tmp_path / "mountaincar_episodes").glob("block_*.npz")))
    for i, (seed, attempt) in enumerate(zip(arrays["episode_seeds"], block["episode_attempts"])):
        assert seed == episode_seed(0, i, "demonstrations", int(attempt))
    assert 0 < ctl.stats.uptime <= 1


def test_attempt_bound_gives_clear_error_and_keeps_accepted_work(tmp_path):
    def enjoy(path, context, expert):
        if context.index == 2:
            raise RuntimeError("simulated crash")
        return baseline_enjoy(path, context, expert)

    ctl = Controller(enjoy, baseline_collate, episodes=4, threads=2, seed=0, path=tmp_path, max_attempts=2,
                     progress=False)
    with pytest.raises(CollectionError, match="episode 2 failed 2 attempts") as err:
        ctl.start({"game": "cartpole", "mode": "all"})
    assert "simulated crash" in str(err.value)
    assert ctl.stats.failed == 2 and [e[0] for e in ctl.stats.errors] == [2, 2]
    kept = sorted(p.name for p in (tmp_path / "cartpole_episodes").glob("episode_*.npz"))
    assert kept == ["episode_0000000.npz", "episode_0000001.npz", "episode_0000003.npz"]
    assert not (tmp_path / "cartpole.npz").exists()


def test_custom_enjoy_matches_fast_path_content(tmp_path):
    calls = []

    def enjoy(path, context, expert):
        calls.append(context.index)
        if len(calls) == 1:
            raise OSError("transient")  # retried with the next attempt's seed
        return baseline_enjoy(path, context, expert)

    ctl = Controller(enjoy, baseline_collate, episodes=3, seed=5, path=tmp_path, progress=False)
    arrays = _arrays(ctl.start({"game": "cartpole", "mode": "all"}))
    assert ctl.stats.failed == 1 and ctl.stats.accepted == 3
    assert arrays["episode_seeds"][calls[0]] == episode_seed(5, calls[0], "demonstrations", 1)
    assert np.all(arrays["episode_returns"] >= 475)


def test_play_then_collate_modes_and_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no recorded episodes"):
        Controller(episodes=2, path=tmp_path, progress=False).start({"game": "cartpole", "mode": "collate"})
    Controller(episodes=2, path=tmp_path, progress=False).start({"game": "cartpole", "mode": "play"})
    assert not (tmp_path / "cartpole.npz").exists()
    out = Controller(episodes=2, path=tmp_path, progress=False).start({"game": "cartpole", "mode": "collate"})
    assert len(_arrays(out)["episode_returns"]) == 2
    for kwargs, message in (({"threads": 0}, "threads must be >= 1"), ({"episodes": 0}, "episodes must be >= 1")):
        with pytest.raises(ValueError, match=message):
            Controller(path=tmp_path, **kwargs)
    with pytest.raises(ValueError, match="unknown mode"):
        Controller(episodes=1, path=tmp_path).start({"game": "cartpole", "mode": "everything"})
    with pytest.raises(KeyError, match="Did you mean 'cartpole'"):
        Controller(episodes=1, path=tmp_path).start({"game": "cartpol", "mode": "all"})


KILL_SCRIPT = """
import sys
from illab.controller import collect
collect("cartpole", 48, sys.argv[1], seed=11, block_size=4, n_envs=4)
"""


def test_killed_run_resumes_to_the_same_dataset(tmp_path):
    folder = tmp_path / "killed" / "cartpole_episodes"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "killed")])
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("block_*.npz"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = sorted(folder.glob("block_*.npz"))
    assert 2 <= len(done) < 12 and not (tmp_path / "killed" / "cartpole.npz").exists()
    resumed = collect("cartpole", 48, tmp_path / "killed", seed=11, block_size=4, n_envs=4)
    fresh = collect("cartpole", 48, tmp_path / "fresh", seed=11, block_size=4, n_envs=4)
    _same(_arrays(resumed), _arrays(fresh))
    assert not list(folder.glob(".*tmp*")), "no temp files are left behind"


def test_save_episodes_is_atomic(tmp_path):
    from illab import experts
    eps = run_episodes(experts.load("cartpole"), "CartPole-v1", [1, 2])
    path = save_episodes(tmp_path / "e.npz", eps)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]
    assert len(datafile.read(path)["episode_lengths"]) == 2
