"""Reliability (issue 14): nothing corrupt ever loads, every bad input gets a clear error, and
re-running a cell just works. One fault test per data-loss case, then a table of bad inputs
(API and CLI). See docs/reliability.md for the promises these tests check."""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import nbformat
import numpy as np
import pytest

from illab import datafile
from illab.__main__ import _error_message, build_parser, main
from illab.controller import CollectionError, Controller, collect
from illab.data import BaselineDataset, DatasetError, from_episodes, validate
from illab.evaluate import PolicyOutputError, evaluate
from illab.recording import BatchedEnjoy, baseline_collate, baseline_enjoy, save_episodes
from illab.rollout import run_episodes


def _episodes(n: int, length: int = 5, seed: int = 0, obs_dim: int = 4) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"obs": rng.normal(size=(length + 1, obs_dim)).astype(np.float32),
             "actions": rng.integers(0, 2, size=length), "rewards": np.ones(length, np.float32)}
            for _ in range(n)]


def _write(path: Path, n: int, overwrite: bool = False, seed: int = 0) -> Path:
    """A CartPole-shaped dataset of ``n`` synthetic episodes with a full card."""
    from_episodes(_episodes(n, seed=seed), "CartPole-v1", path=path, overwrite=overwrite)
    return path


def _temps(*folders: Path) -> list[Path]:
    return [p for f in folders if f.is_dir() for p in f.iterdir() if ".tmp" in p.name]


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> Path:
    return collect("cartpole", 2, tmp_path_factory.mktemp("collected"), seed=0, block_size=2)


# ---- integrity on open ----------------------------------------------------------------------

@pytest.mark.parametrize("episodes,byte", [(3, 5), (200, 12_000)])  # a small member is read whole; a big one is not
def test_a_flipped_byte_on_disk_is_refused_on_open(tmp_path, episodes, byte):
    path = _write(tmp_path / "d.npz", episodes)
    BaselineDataset(path)
    offset = datafile.read(path)["obs"].offset  # first byte of the obs data inside the npz
    raw = bytearray(path.read_bytes())
    raw[offset + byte] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"d\.npz is corrupt.*obs\.npy.*re-collect"):
        BaselineDataset(path)
    if byte > 4096:  # the opt-out: the memory-mapped read itself never looks at the CRC
        assert len(BaselineDataset(path, verify=False)) == 5 * episodes


def test_a_changed_action_is_refused_on_open(tmp_path):
    path = _write(tmp_path / "d.npz", 3)
    arrays = datafile.read(path, mmap=False)
    arrays["actions"][0] = 1 - arrays["actions"][0]
    with open(path, "wb") as f:  # a valid npz, but not the one the card describes
        np.savez(f, **arrays)
    with pytest.raises(DatasetError, match=r"d\.npz does not match its card d\.json.*actions\.npy"):
        BaselineDataset(path)
    with pytest.raises(DatasetError):
        validate(path)


def test_an_old_card_without_file_record_falls_back_to_the_content_hash(tmp_path):
    path = _write(tmp_path / "d.npz", 3)
    card = datafile.read_card(path)
    card.pop("file")
    card["content_hash"] = "0" * 64
    datafile.card_path(path).write_text(json.dumps(card))
    with pytest.raises(DatasetError, match="content hash"):
        BaselineDataset(path)


def test_verification_is_cached_per_file_identity(tmp_path, monkeypatch):
    path = _write(tmp_path / "d.npz", 3)
    calls = []
    real = datafile._bad_member
    monkeypatch.setattr(datafile, "_bad_member", lambda p: calls.append(1) or real(p))
    BaselineDataset(path)
    BaselineDataset(path, n_episodes=2)
    assert len(calls) == 1, "a second open of the same file is not re-checked"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    BaselineDataset(path)
    assert len(calls) == 2, "a touched file (new mtime) is checked again"


# ---- the npz + card pair commits atomically ----------------------------------------------------

def test_crash_between_the_two_renames_leaves_a_pair_that_is_refused(tmp_path, monkeypatch):
    from illab import fileio
    path = _write(tmp_path / "d.npz", 6)
    real = os.replace
    calls = []

    def crash_on_card(src, dst):
        calls.append(Path(dst).name)
        if Path(dst).suffix == ".json":
            raise OSError(errno.EIO, "simulated crash before the card is renamed")
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", crash_on_card)
    with pytest.raises(OSError, match="simulated crash"):
        _write(path, 10, overwrite=True, seed=1)
    monkeypatch.undo()
    assert calls == ["d.npz", "d.json"], "the npz is committed first, the card last"
    assert datafile.read_card(path)["episodes"] == 6 and len(datafile.read(path)["episode_lengths"]) == 10
    with pytest.raises(DatasetError, match="belong together|not written together|does not match its card"):
        BaselineDataset(path)
    assert not _temps(tmp_path), "the card's temp file is removed"


def test_a_card_that_counts_other_episodes_is_refused_even_without_verification(tmp_path):
    path = _write(tmp_path / "d.npz", 6)
    card = datafile.read_card(path)
    card["episodes"] = 4
    datafile.card_path(path).write_text(json.dumps(card))
    with pytest.raises(DatasetError, match=r"holds 6 episodes.*says 4"):
        BaselineDataset(path, verify=False)


def test_disk_full_removes_the_temp_file_and_keeps_the_old_pair(tmp_path, monkeypatch):
    path = _write(tmp_path / "d.npz", 3)
    before = path.read_bytes(), datafile.card_path(path).read_bytes()

    def savez_disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datafile.np, "savez", savez_disk_full)
    with pytest.raises(OSError, match="No space left"):
        _write(path, 5, overwrite=True, seed=2)
    monkeypatch.undo()
    assert (path.read_bytes(), datafile.card_path(path).read_bytes()) == before
    assert not _temps(tmp_path)
    assert len(BaselineDataset(path)) == 15


def test_disk_full_during_collection_leaves_no_temp_files_and_the_rerun_finishes(tmp_path, monkeypatch):
    import illab.recording as recording
    folder = tmp_path / "cartpole_episodes"
    folder.mkdir()
    stale = [folder / ".block_0000000_0000001.99999999.tmp.npz", tmp_path / ".cartpole.99999999.tmp.npz"]
    for p in stale:  # left by a process that was killed outright (pid 99999999 is not alive)
        p.write_bytes(b"half")

    def full(path, write):
        from illab.fileio import temp_path
        temp_path(path).write_bytes(b"half")
        temp_path(path).unlink()  # what atomic_write does on failure
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recording, "atomic_write", full)
    with pytest.raises(OSError, match="No space left"):
        collect("cartpole", 2, tmp_path, seed=0, block_size=2)
    monkeypatch.undo()
    assert not any(p.exists() for p in stale), "stale temps of dead processes are cleaned on the next run"
    assert not _temps(tmp_path, folder)
    path = collect("cartpole", 2, tmp_path, seed=0, block_size=2)
    assert len(BaselineDataset(path)) == 1000 and not _temps(tmp_path, folder)


# ---- the Controller counts what it keeps; capability, not identity ------------------------------

def test_an_enjoy_that_writes_extra_episodes_is_an_error(tmp_path):
    def greedy(path, context, expert):
        eps = run_episodes(expert, context.env_id, [context.seed, context.seed + 4], n_envs=2)
        save_episodes(path, eps)
        return True

    ctl = Controller(greedy, baseline_collate, episodes=2, seed=0, path=tmp_path, max_attempts=1, progress=False)
    with pytest.raises(CollectionError, match="wrote 2 episodes to one episode file"):
        ctl.start({"game": "cartpole", "mode": "all"})
    assert not (tmp_path / "cartpole.npz").exists()
    assert not list((tmp_path / "cartpole_episodes").glob("episode_*.npz"))


def test_the_fast_path_is_a_named_capability_not_identity(tmp_path):
    calls = []

    @functools.wraps(baseline_enjoy)
    def logged(path, context, expert):
        calls.append(context.index)
        return baseline_enjoy(path, context, expert)

    class MyBatched:
        def __call__(self, path, context, expert):
            return baseline_enjoy(path, context, expert)

        def play_block(self, policy, env_id, seeds, *, n_envs, env_kwargs):
            return baseline_enjoy.play_block(policy, env_id, seeds, n_envs=n_envs, env_kwargs=env_kwargs)

    assert isinstance(baseline_enjoy, BatchedEnjoy) and Controller(baseline_enjoy).fast
    assert Controller(MyBatched()).fast
    assert not isinstance(logged, BatchedEnjoy) and not Controller(logged).fast
    path = Controller(logged, baseline_collate, episodes=2, path=tmp_path, progress=False).start(
        {"game": "cartpole", "mode": "all"})
    assert sorted(calls) == [0, 1], "a wrapper around the stock enjoy is called, never bypassed"
    assert datafile.read_card(path)["block_size"] == 1


# ---- re-running a cell ------------------------------------------------------------------------

def test_rerunning_the_same_collection_returns_the_dataset(tmp_path, capsys):
    """Notebook 02's threads slider 1 → 2 → 1 and the README quickstart run twice."""
    runs = []
    for threads in (1, 2, 1):
        ctl = Controller(baseline_enjoy, baseline_collate, episodes=2, threads=threads, seed=0, path=tmp_path,
                         block_size=2, progress=True)
        runs.append((ctl.start({"game": "cartpole", "mode": "all"}).read_bytes(), ctl.reused))
    captured = capsys.readouterr()
    assert [r for _, r in runs] == [False, True, True]
    assert runs[0][0] == runs[1][0] == runs[2][0]
    assert captured.out.count("already holds this dataset") == 2
    assert "already collected" in captured.err  # the progress bar says so too


def test_a_different_request_for_the_same_file_names_the_fix(tmp_path, collected):
    before = collected.read_bytes()
    with pytest.raises(FileExistsError, match=r"episodes: file has 2, requested 3.*overwrite=True"):
        collect("cartpole", 3, collected.parent, seed=0, block_size=2)
    assert collected.read_bytes() == before


def test_reuse_verifies_the_file_first(tmp_path):
    path = collect("cartpole", 2, tmp_path, seed=0, block_size=2)
    arrays = datafile.read(path, mmap=False)
    arrays["actions"][3] = 1 - arrays["actions"][3]
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(DatasetError, match="does not match its card"):
        collect("cartpole", 2, tmp_path, seed=0, block_size=2)


def test_course_never_overwrites_executed_notebooks_without_a_flag(tmp_path):
    src, out = tmp_path / "nb", tmp_path / "out"
    src.mkdir(), out.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nbformat.write(nb, src / "01_x.ipynb")
    (out / "01_x.ipynb").write_text("my notes")
    cmd = [sys.executable, "-m", "illab", "course", "--notebooks", str(src), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "--overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "01_x.ipynb").read_text() == "my notes"
    proc = subprocess.run(cmd + ["--overwrite"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "42" in (out / "01_x.ipynb").read_text() and not _temps(out)


# ---- bad inputs: a clear error naming the argument and the fix ------------------------------------

class _Const:
    """A policy that returns ``action`` for every observation of a batch."""

    def __init__(self, action, dtype=None):
        self.action, self.dtype = action, dtype

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        a = np.asarray(self.action, dtype=self.dtype)
        return np.stack([a] * len(obs)), state


def _file_case(kind: str, tmp: Path):
    """Make a bad file of ``kind`` in ``tmp`` and open it."""
    if kind == "text":
        p = tmp / "notes.npz"
        p.write_text("these are my notes, not arrays\n")
        return BaselineDataset(p)
    if kind == "imitation":
        p = tmp / "traj.npz"
        np.savez(p, obs=np.zeros((6, 4), np.float32), acts=np.zeros(4, np.int64), indices=np.array([2]),
                 terminal=np.array([True, True]))
        return BaselineDataset(p)
    if kind == "truncated-card":
        p = _write(tmp / "d.npz", 2)
        text = datafile.card_path(p).read_text()
        datafile.card_path(p).write_text(text[: len(text) // 2])
        return BaselineDataset(p)
    if kind == "obs-shape":
        arrays = from_episodes(_episodes(2), "CartPole-v1")
        card = datafile.make_card(arrays, env_id="CartPole-v1",
                                  observation_space=datafile.space_to_json(gym.spaces.Box(-1, 1, (6,))),
                                  action_space=datafile.space_to_json(gym.spaces.Discrete(2)))
        p = datafile.write(tmp / "d.npz", arrays, card)
        return BaselineDataset(p)
    if kind == "from-episodes-spaces":  # 6-d observations for CartPole (4-d)
        return from_episodes(_episodes(2, obs_dim=6), "CartPole-v1", path=tmp / "d.npz")
    raise AssertionError(kind)


def _lead(case):  # method-level checks: illab/demonstrations.py and ConfigBase
    return pytest.param(*case, id=case[0])


def _demos(**kw):
    from illab.demonstrations import Demonstrations
    base = dict(obs=np.zeros((4, 3), np.float32), actions=np.array([0, 1, 1, 0]),
                action_space=gym.spaces.Discrete(2))
    return Demonstrations(**{**base, **kw})


def _bc_config(**kw):
    from illab.methods.bc import BCConfig
    return BCConfig(**kw)


BAD_INPUTS = [
    # (id, call(tmp_path, collected), exception, message pattern)
    ("episodes=2.5", lambda t, c: Controller(episodes=2.5), ValueError, r"episodes must be a whole number.*2 or 3"),
    ("episodes='ten'", lambda t, c: Controller(episodes="ten"), TypeError, r"episodes must be an int.*'ten'"),
    ("seed='abc'", lambda t, c: Controller(seed="abc"), TypeError, r"seed must be an int.*'abc'"),
    ("seed=-1", lambda t, c: Controller(seed=-1), ValueError, r"seed must be >= 0"),
    ("threads=0", lambda t, c: Controller(threads=0), ValueError, r"threads must be >= 1"),
    ("threshold=nan", lambda t, c: Controller(threshold=math.nan), ValueError, r"threshold must be a finite"),
    ("enjoy=None", lambda t, c: Controller(None), TypeError, r"enjoy must be a function"),
    ("collect episodes=2.5", lambda t, c: collect("cartpole", 2.5, t), ValueError, r"episodes must be a whole"),
    ("n_episodes=2.7", lambda t, c: BaselineDataset(c, n_episodes=2.7), ValueError, r"n_episodes must be a whole"),
    ("n_episodes='1'", lambda t, c: BaselineDataset(c, n_episodes="1"), TypeError, r"n_episodes must be an int"),
    ("text file", lambda t, c: _file_case("text", t), DatasetError, r"notes\.npz is not an \.npz dataset file"),
    ("imitation npz", lambda t, c: _file_case("imitation", t), DatasetError, r"traj\.npz.*from_imitation_npz"),
    ("truncated card", lambda t, c: _file_case("truncated-card", t), DatasetError,
     r"card .*d\.json is not valid JSON.*truncated"),
    ("obs shape vs card", lambda t, c: _file_case("obs-shape", t), DatasetError,
     r"(?s)d\.npz.*obs rows have shape \(4,\) but the observation space has shape \(6,\)"),
    ("from_episodes vs env spaces", lambda t, c: _file_case("from-episodes-spaces", t), DatasetError,
     r"(?s)CartPole-v1.*obs rows have shape \(6,\).*\(4,\).*env_kwargs"),
    ("missing file", lambda t, c: BaselineDataset(t / "nope.npz"), FileNotFoundError, r"nope\.npz"),
    ("evaluate a path", lambda t, c: evaluate("runs/bc.pt", "CartPole-v1", 1), TypeError,
     r"policy is a path.*load it first"),
    ("evaluate n_episodes=2.5", lambda t, c: evaluate(_Const(0), "CartPole-v1", 2.5), ValueError,
     r"n_episodes must be a whole"),
    ("evaluate seed='abc'", lambda t, c: evaluate(_Const(0), "CartPole-v1", 1, seed="abc"), TypeError,
     r"seed must be an int"),
    ("policy returns NaN", lambda t, c: evaluate(_Const([np.nan], np.float32), "Pendulum-v1", 1, n_envs=1),
     PolicyOutputError, r"NaN or inf actions"),
    ("policy out of bounds", lambda t, c: evaluate(_Const([5.0], np.float32), "Pendulum-v1", 1, n_envs=1),
     PolicyOutputError, r"outside the action space.*np\.clip"),
    ("policy wrong shape", lambda t, c: evaluate(_Const([0.0, 0.0], np.float32), "Pendulum-v1", 1, n_envs=1),
     PolicyOutputError, r"shape \(1, 2\).*needs shape \(1, 1\)"),
    ("policy floats for Discrete", lambda t, c: evaluate(_Const(1.0, np.float32), "CartPole-v1", 1, n_envs=1),
     PolicyOutputError, r"float32 actions for Discrete\(2\).*never cast"),
    ("policy action out of Discrete", lambda t, c: evaluate(_Const(2), "CartPole-v1", 1, n_envs=1),
     PolicyOutputError, r"action 2 .*outside Discrete\(2"),
    _lead(("method: empty dataset", lambda t, c: _demos(obs=np.zeros((0, 3), np.float32), actions=np.zeros(0, int)),
           (ValueError, TypeError), r"empty")),
    _lead(("method: float actions into Discrete", lambda t, c: _demos(actions=np.array([0.2, 1.0, 0.7, 0.0])),
           (ValueError, TypeError), r"actions")),
    _lead(("method: Discrete data into Box", lambda t, c: _demos(action_space=gym.spaces.Box(-1, 1, (2,))),
           (ValueError, TypeError), r"actions")),
    _lead(("method: NaN observations", lambda t, c: _demos(obs=np.full((4, 3), np.nan, np.float32)),
           (ValueError, TypeError), r"obs")),
    _lead(("method: hidden_sizes=(0,)", lambda t, c: _bc_config(hidden_sizes=(0,)), (ValueError, TypeError),
           r"hidden_sizes")),
    _lead(("method: epochs=2.5", lambda t, c: _bc_config(epochs=2.5), (ValueError, TypeError), r"epochs")),
]


@pytest.mark.parametrize("name,call,exc,pattern",
                         [c if hasattr(c, "marks") else pytest.param(*c, id=c[0]) for c in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(name, call, exc, pattern, tmp_path, collected):
    with pytest.raises(exc, match=pattern):
        call(tmp_path, collected)


CLI_USAGE = [  # argparse rejects these before anything runs (exit status 2)
    (["run", "cartpole", "--episodes", "0"], "--episodes: must be >= 1, got 0"),
    (["run", "cartpole", "--test-episodes", "0"], "--test-episodes: must be >= 1, got 0"),
    (["benchmark", "--episodes", "0"], "--episodes: must be >= 1, got 0"),
    (["benchmark", "--test-episodes", "0"], "--test-episodes: must be >= 1, got 0"),
    (["collect", "cartpole", "--episodes", "2.5"], "expected a whole number, got '2.5'"),
    (["collect", "cartpole", "--seed", "abc"], "expected a whole number, got 'abc'"),
    (["train", "bc", "d.npz", "--out", "m.pt", "--n-episodes", "ten"], "expected a whole number, got 'ten'"),
]


@pytest.mark.parametrize("argv,message", CLI_USAGE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_cli_counts_are_never_silently_replaced(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def _raiser(err):
    def cmd(args):
        raise err
    return cmd


CLI_ERRORS = [  # each becomes one "illab <command>: error: ..." line and exit status 1
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/data"), "Permission denied"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "data/x.npz"), "Not a directory"),
    (CollectionError("1 unit(s) could not be completed"), "could not be completed"),
    (RuntimeError("could not get org/expert from the Hugging Face Hub"), "Hugging Face Hub"),
    (TypeError("policy must have a predict method"), "predict method"),
    (KeyError("method"), "missing or unknown key 'method'"),
    (KeyError("unknown expert id 'cartpol'. Did you mean 'cartpole'?"), "Did you mean 'cartpole'"),
]


@pytest.mark.parametrize("err,message", CLI_ERRORS, ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None)
def test_cli_reports_every_failure_in_one_line(err, message, capsys, monkeypatch):
    import illab.__main__ as cli
    monkeypatch.setattr(cli, "cmd_experts", _raiser(err))
    monkeypatch.setattr(cli, "build_parser", functools.partial(_parser_with, cli, _raiser(err)))
    assert cli.main(["experts"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("illab experts: error: ") and message in lines[0]


def _parser_with(cli, func):
    parser = build_parser()
    parser._subparsers._group_actions[0].choices["experts"].set_defaults(func=func)
    return parser


def test_key_error_message_is_a_sentence():
    assert _error_message(KeyError("foo")) == "missing or unknown key 'foo' (a file written by another illab " \
                                              "version, or a typo?)"


def test_cli_bad_files_end_in_one_clean_line(tmp_path):
    notes = tmp_path / "notes.npz"
    notes.write_text("not arrays")
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    (tmp_path / "m.json").write_text('{"env_id": "CartPole-v1"}')
    for argv, message in ((["train", "bc", str(notes), "--out", str(tmp_path / "bc.pt")], "is not an .npz"),
                          (["evaluate", str(model)], "not a model record written by `illab train`"),
                          (["collect", "cartpole", "--episodes", "1", "--out", str(notes)], "Not a directory")):
        proc = subprocess.run([sys.executable, "-m", "illab", *argv], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and message in proc.stderr, proc.stderr


def test_cli_collect_reuses_or_names_the_flag(tmp_path, capsys):
    argv = ["collect", "cartpole", "--episodes", "2", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0 and main(argv) == 0
    assert capsys.readouterr().out.count("already holds this dataset") == 1
    before = (tmp_path / "cartpole.npz").read_bytes()
    assert main(argv[:3] + ["3"] + argv[4:]) == 1
    err = capsys.readouterr().err
    assert "episodes: file has 2, requested 3" in err and "pass --overwrite" in err
    assert (tmp_path / "cartpole.npz").read_bytes() == before
