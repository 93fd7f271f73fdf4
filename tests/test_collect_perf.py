"""Behaviour behind the collection speed-ups (issue 21): no timing here, only what must stay true.

- threads 1 and 2, the warm process pool and its reuse give byte-identical data;
- the Controller plays pure-Python environments on one thread, MuJoCo on several;
- the shared pool is reused across ``start`` calls, and closes cleanly (explicitly and at exit);
- collate streams block files into exactly the arrays (and member bytes) of the in-memory write,
  and a failure part-way leaves no partial file behind;
- verified bundled experts load without building an optimizer (no ``torch._dynamo`` import).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from test_controller import _arrays, _same

from illab import controller, datafile
from illab.controller import Controller, close_pools, collect, physics_seconds, process_executor, threads_pay
from illab.recording import read_meta
from illab.rollout import releases_gil

N = 12  # episodes; block_size 4 → 3 blocks


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _arrays(collect("cartpole", N, tmp_path_factory.mktemp("ref"), seed=4, threads=1, block_size=4, n_envs=4))


def test_pure_python_envs_play_on_one_thread_mujoco_on_several(tmp_path, reference, monkeypatch):
    """Threads play MuJoCo blocks in parallel only where the physics step leaves the GIL long enough
    (``controller.threads_pay``); the data is the same either way."""
    assert not releases_gil("CartPole-v1") and not releases_gil("LunarLander-v3") and releases_gil("Hopper-v5")
    ctl = Controller(episodes=N, threads=2, seed=4, path=tmp_path / "c", block_size=4, n_envs=4, progress=False)
    _same(_arrays(ctl.start({"game": "cartpole", "mode": "all"})), reference)
    assert ctl.stats.workers == 1
    runs = {}
    for name, threads, limit in (("h1", 1, 0.0), ("h2", 2, 0.0), ("h2-short", 2, 10.0)):
        monkeypatch.setattr(controller, "PARALLEL_PHYSICS_SECONDS", limit)  # 10 s: no physics step is that long
        ctl = Controller(episodes=4, threads=threads, seed=1, path=tmp_path / name, block_size=2, n_envs=2,
                         progress=False, threshold=-np.inf)
        runs[name] = (_arrays(ctl.start({"game": "hopper", "mode": "all"})), ctl.stats.workers)
    assert [runs[k][1] for k in ("h1", "h2", "h2-short")] == [1, 2, 1]
    _same(runs["h1"][0], runs["h2"][0])
    _same(runs["h1"][0], runs["h2-short"][0])


def test_physics_time_per_step_decides_whether_threads_pay(monkeypatch):
    hopper = physics_seconds("Hopper-v5")
    assert 0 < hopper < 0.1 and physics_seconds("Hopper-v5") == hopper  # measured once per process
    assert physics_seconds("CartPole-v1") == 0.0 and not threads_pay("CartPole-v1")
    monkeypatch.setattr(controller, "PARALLEL_PHYSICS_SECONDS", hopper)
    assert threads_pay("Hopper-v5")
    monkeypatch.setattr(controller, "PARALLEL_PHYSICS_SECONDS", hopper * 1.01)
    assert not threads_pay("Hopper-v5")
    assert physics_seconds("NoSuchEnv-v0") == 0.0  # unknown ids: not MuJoCo
    with pytest.raises(TypeError, match="no_such_argument"):
        physics_seconds("Hopper-v5", {"no_such_argument": 1})


def test_a_cold_pool_shares_the_work_with_the_calling_process(tmp_path, reference, monkeypatch):
    """While a WorkerPool starts up (its forkserver imports torch), the Controller plays blocks in the calling
    process; once the pool is warm it gets the rest. Either way the data is byte-identical."""
    pool = controller.WorkerPool(2)
    try:
        with monkeypatch.context() as m:  # a pool that never warms up: every block is played here
            m.setattr(controller.WorkerPool, "warm", lambda self: False)
            ctl = Controller(episodes=N, seed=4, path=tmp_path / "cold", block_size=4, n_envs=4, executor=pool,
                             progress=False)
            _same(_arrays(ctl.start({"game": "cartpole", "mode": "all"})), reference)
            assert ctl.stats.here == 3 and ctl.stats.accepted == N
        assert not pool.closed
        ctl = Controller(episodes=N, seed=4, path=tmp_path / "real", block_size=4, n_envs=4, executor=pool,
                         progress=False)
        _same(_arrays(ctl.start({"game": "cartpole", "mode": "all"})), reference)
        assert 0 <= ctl.stats.here <= 3 and ctl.stats.accepted == N
        with monkeypatch.context() as m:  # a warm pool plays everything
            m.setattr(controller.WorkerPool, "warm", lambda self: True)
            ctl = Controller(episodes=N, seed=4, path=tmp_path / "warm", block_size=4, n_envs=4, executor=pool,
                             progress=False)
            _same(_arrays(ctl.start({"game": "cartpole", "mode": "all"})), reference)
            assert ctl.stats.here == 0
    finally:
        pool.close()


def test_warm_pool_is_reused_and_gives_identical_data(tmp_path, reference):
    pool = process_executor(2)
    try:
        assert process_executor(2) is pool
        pool._warming.join(timeout=300)  # warm: the workers play (a cold pool lets the caller play meanwhile)
        first = _arrays(collect("cartpole", N, tmp_path / "a", seed=4, executor=pool, block_size=4, n_envs=4))
        pids = pool.pids()
        assert pids and not pool.closed
        second = _arrays(collect("cartpole", N, tmp_path / "b", seed=4, executor=pool, block_size=4, n_envs=4))
        assert pool.pids() == pids, "the second collection reuses the running workers"
        _same(first, reference)
        _same(second, reference)
    finally:
        pool.close()
    assert pool.closed
    with pytest.raises(RuntimeError):
        pool.submit(int)
    again = process_executor(2)
    try:
        assert again is not pool and not again.closed
    finally:
        close_pools()
    assert again.closed


def test_pool_starts_its_workers_before_the_first_task():
    """process_executor() warms up in the background: its workers exist before anything is submitted."""
    pool = process_executor(3)
    try:
        pool._warming.join(timeout=300)
        assert len(pool.pids()) == 3 and not pool.closed
        pids = pool.pids()
        assert pool.submit(int, "7").result() == 7 and pool.pids() == pids
    finally:
        pool.close()
    assert pool.closed


def test_a_new_pool_runs_with_the_callers_current_environment(monkeypatch):
    """The forkserver keeps the environment it started with; a pool made later hands its workers the caller's
    (e.g. HF_HUB_CACHE set in a notebook after a first collection)."""
    first = process_executor(2)
    try:
        assert first.submit(os.getenv, "ILLAB_POOL_TEST").result() is None
    finally:
        first.close()
    monkeypatch.setenv("ILLAB_POOL_TEST", "set after the forkserver started")
    pool = process_executor(2)
    try:
        got = {pool.submit(os.getenv, "ILLAB_POOL_TEST").result() for _ in range(4)}
        assert got == {"set after the forkserver started"}
    finally:
        pool.close()


def test_pool_workers_exit_on_close_and_at_interpreter_exit():
    code = ("from illab.controller import process_executor\n"
            "p = process_executor(2)\n"
            "assert p.submit(int, '7').result() == 7\n"
            "print(*p.pids())\n")  # no close(): the atexit hook closes it
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    pids = [int(p) for p in res.stdout.split()]
    assert pids
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    assert not alive, "pool workers outlived the Python process that started them"


def _blocks(tmp_path):
    path = collect("cartpole", N, tmp_path, seed=4, block_size=4, n_envs=4)
    files = sorted(str(f) for f in (tmp_path / "cartpole_episodes").glob("block_*.npz"))
    return path, files


def test_streaming_collate_equals_the_in_memory_write(tmp_path, reference):
    path, files = _blocks(tmp_path)
    parts = [datafile.read(f, mmap=False) for f in files]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in datafile.KEYS}
    meta = read_meta(tmp_path / "cartpole_episodes")
    memory = datafile.write(tmp_path / "memory.npz", arrays, datafile.make_card(arrays, **meta))
    streamed, in_memory = datafile.read_card(path), datafile.read_card(memory)
    assert streamed["content_hash"] == in_memory["content_hash"]
    assert streamed["file"]["members"] == in_memory["file"]["members"]  # member bytes: same CRC-32s
    assert {k: v for k, v in streamed.items() if k not in ("file", "created")} == \
        {k: v for k, v in in_memory.items() if k not in ("file", "created")}
    _same(_arrays(path), {k: arrays[k] for k in sorted(arrays)})
    _same(_arrays(path), reference)
    datafile.verify(path)


def test_streaming_collate_failure_leaves_no_partial_file(tmp_path):
    _, files = _blocks(tmp_path / "run")
    out = tmp_path / "out.npz"
    damaged = tmp_path / "damaged.npz"
    data = bytearray(Path(files[-1]).read_bytes())
    with zipfile.ZipFile(files[-1]) as zf:
        info = zf.getinfo("obs.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # one flipped byte inside obs
    damaged.write_bytes(bytes(data))
    with pytest.raises(datafile.DatasetError, match="corrupt"):
        datafile.write_concatenated(out, [*files[:-1], str(damaged)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.npz", "run"], "no partial file, no temp file"
    other = tmp_path / "other.npz"
    arrays = _arrays(files[0])
    arrays["obs"] = arrays["obs"].astype(np.float64)
    datafile.write(other, arrays)
    with pytest.raises(ValueError, match="different runs"):
        datafile.write_concatenated(out, [files[0], str(other)])
    assert not out.exists()
    datafile.write_concatenated(out, files)
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        datafile.write_concatenated(out, files)
    assert out.read_bytes() == before


def test_bundled_expert_loads_without_torch_dynamo():
    code = ("import sys\n"
            "from illab import experts\n"
            "p = experts.load('cartpole')\n"
            "print('torch._dynamo' in sys.modules, type(p.model).__name__)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "LoadedModel"]
