"""The Controller: seeded, batched, fault-tolerant collection of expert demonstrations.

>>> from illab import Controller
>>> from illab.recording import baseline_enjoy, baseline_collate
>>> Controller(baseline_enjoy, baseline_collate, episodes=100, threads=2).start(
...     {"game": "cartpole", "mode": "all"})                       # doctest: +SKIP
PosixPath('data/cartpole.npz')

How it is fast: with an enjoy that has the :class:`~illab.recording.BatchedEnjoy` capability
(the stock :data:`~illab.recording.baseline_enjoy` has it), the unit of work is a
*block* of ``block_size`` episodes played in lockstep over a gymnasium vector env with **one
batched policy call per step** (:func:`illab.rollout.run_episodes`). Python threads do not run
pure-Python environments in parallel (GIL), so batching is the main lever and the Controller
plays those on one thread whatever ``threads`` says (a second thread measured 0.88–0.98× of one);
where the environment step leaves the GIL long enough for a second thread to use it (MuJoCo tasks
with at least :data:`PARALLEL_PHYSICS_SECONDS` of physics per step, such as Walker2d and
Ant: :func:`threads_pay`) each thread plays its own block; elsewhere threads would
slow collection down, so one thread plays. Any ``concurrent.futures.Executor`` can be passed — the warm process
pool of :func:`process_executor` for pure-Python environments and short-physics MuJoCo tasks (HalfCheetah,
Hopper, Swimmer: about 2× with 2 processes), or
``dask.distributed.Client(...).get_executor()`` to scale out.

Why results never depend on scheduling: episode ``i`` attempt ``k`` resets with
``episode_seed(seed, i, "demonstrations", k)``, blocks are a fixed partition of the indices, and
files are collated in index order — threads 1, 2, 4, processes and dask give byte-identical data.

Faults: an episode below the expert's threshold is replaced by the next attempt of the same index
(up to ``max_attempts``); an ``enjoy`` that raises is retried the same way and reported with its
traceback; an ``enjoy`` that writes another number of episodes than one is a failed attempt
(the Controller counts what it keeps); every block/episode file is written atomically, so a
killed run resumes where it stopped, and temp files of a failed or killed run are removed.

Re-running: ``start`` on a folder that already holds exactly the requested dataset (same expert,
episodes, seed, threshold, block layout, spaces; and the file verifies) returns it, saying so in
one line and in the progress bar. A *different* request for the same file is an error naming
the difference; an existing dataset is never replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import functools
import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from illab import checks, datafile
from illab import experts as registry
from illab.fileio import atomic_write, remove_stale_temps, temp_path, torch_threads
from illab.recording import (META, BatchedEnjoy, CollateFunction, Context, EnjoyFunction, baseline_collate,
                             baseline_enjoy, format_exception, save_episodes)
from illab.rollout import make_env, releases_gil
from illab.seeds import episode_seed

MODES = ("all", "play", "collate")


#: Seconds of GIL-free physics per environment step from which a second Python thread speeds collection up.
#: A shorter stretch outside the GIL is lost to CPython's GIL hand-over: the stepping thread takes the GIL back
#: before the waiting one has woken. Measured on a 2-core VM (``docs/performance.md``, "Threads on MuJoCo by
#: physics time"), threads=2 against threads=1: HalfCheetah (~26 µs of physics) 0.75×, Swimmer (~33 µs)
#: 1.11–1.13×, Hopper (~62 µs) 0.95–1.41×, Walker2d (~90 µs) 1.55×, Ant (~150 µs) 1.68×.
PARALLEL_PHYSICS_SECONDS = 80e-6


def physics_seconds(env_id: str, env_kwargs: dict | None = None) -> float:
    """Seconds per environment step spent in MuJoCo's physics (``mj_step`` × the env's ``frame_skip``,
    which runs outside the GIL): the median of 20 steps with zero controls after the seed-0 reset and 5
    steps of warm-up, measured once per process and environment. 0.0 for environments whose step does
    not release the GIL (:func:`releases_gil`; unknown ids included).

    Raises:
        TypeError: ``env_kwargs`` the environment does not take (from ``gymnasium.make``).
    """
    if not releases_gil(env_id):
        return 0.0
    return _physics_seconds(env_id, json.dumps(env_kwargs or {}, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _physics_seconds(env_id: str, kwargs: str) -> float:
    import mujoco
    env = make_env(env_id, json.loads(kwargs))
    try:
        env.reset(seed=0)
        sim = env.unwrapped
        times = []
        for _ in range(25):
            t = time.perf_counter()
            mujoco.mj_step(sim.model, sim.data, nstep=sim.frame_skip)
            times.append(time.perf_counter() - t)
        return float(statistics.median(times[5:]))
    finally:
        env.close()


def threads_pay(env_id: str, env_kwargs: dict | None = None) -> bool:
    """Whether Python threads stepping different environments run faster than one thread: the step
    releases the GIL (:func:`releases_gil`) for at least :data:`PARALLEL_PHYSICS_SECONDS` at a time
    (:func:`physics_seconds`). The Controller plays on one thread where they do not."""
    return releases_gil(env_id) and physics_seconds(env_id, env_kwargs) >= PARALLEL_PHYSICS_SECONDS


class CollectionError(RuntimeError):
    """Some episodes could not be recorded within the attempt bound (accepted ones stay on disk)."""


@dataclass
class RunStats:
    """Report of one ``start`` call.

    Attributes:
        attempts, accepted, rejected, failed: episode counts (rejected = below threshold,
            failed = ``enjoy`` raised).
        steps: environment steps played (all attempts), wall: seconds, busy: summed worker seconds.
        workers: number of workers used; errors: ``(index, attempt, traceback)`` of failures.
        here: blocks the calling process played itself while a cold :class:`WorkerPool` started.
    """

    attempts: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    steps: int = 0
    wall: float = 0.0
    busy: float = 0.0
    workers: int = 1
    here: int = 0
    errors: list = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall if self.wall > 0 else 0.0

    @property
    def uptime(self) -> float:
        """Worker busy time / (wall time × workers), in [0, 1]."""
        return min(1.0, self.busy / (self.wall * self.workers)) if self.wall > 0 else 0.0

    def __str__(self) -> str:
        return (f"{self.accepted} accepted, {self.rejected} rejected, {self.failed} failed in {self.attempts} "
                f"attempts; {self.steps} steps in {self.wall:.2f} s ({self.steps_per_second:,.0f} steps/s); "
                f"uptime {self.uptime:.0%} over {self.workers} worker(s)")


def _cached_expert(expert_id: str):
    """The expert's policy, loaded once per process for bundled (sha256-pinned) experts, so a second
    ``start`` — or a warm pool worker's next block — does not load it again; others load fresh."""
    record = registry.get(expert_id)
    if record.sha256 is None or record.factory is not None:
        return registry.load(expert_id)
    return _load_pinned(expert_id, record.sha256)


@functools.lru_cache(maxsize=8)
def _load_pinned(expert_id: str, sha256: str):
    return registry.load(expert_id)


def _play_block(enjoy: BatchedEnjoy, expert_id: str, env_id: str, env_kwargs: dict, seed: int, indices: list[int],
                threshold: float, max_attempts: int, n_envs: int, out: str, expert=None) -> dict:
    """Worker: play a block of episodes (retrying rejected ones) and write one block file.

    A top-level function so process and dask executors can pickle it; the expert is loaded by id
    in the worker (cached per process) unless ``expert`` is passed (threads).
    """
    t0 = time.perf_counter()
    policy = expert if expert is not None else _cached_expert(expert_id)
    final: dict[int, Any] = {}
    attempts = {i: 0 for i in indices}
    pending = list(indices)
    stats = {"attempts": 0, "rejected": 0, "steps": 0}
    while pending:
        eps = enjoy.play_block(policy, env_id, [episode_seed(seed, i, "demonstrations", attempts[i]) for i in pending],
                               n_envs=n_envs, env_kwargs=env_kwargs)
        if len(eps) != len(pending):
            raise RuntimeError(f"{type(enjoy).__name__}.play_block returned {len(eps)} episodes for {len(pending)} "
                               "seeds; it must return exactly one episode per seed")
        stats["attempts"] += len(pending)
        stats["steps"] += sum(len(e) for e in eps)
        retry = []
        for i, ep in zip(pending, eps):
            if ep.ret >= threshold:
                final[i] = ep
            else:
                stats["rejected"] += 1
                attempts[i] += 1
                if attempts[i] >= max_attempts:
                    stats["busy"] = time.perf_counter() - t0
                    stats["exhausted"] = (i, max_attempts, float(ep.ret))
                    return stats
                retry.append(i)
        pending = retry
    save_episodes(out, [final[i] for i in indices], attempts=[attempts[i] for i in indices])
    stats["accepted"] = len(indices)
    stats["busy"] = time.perf_counter() - t0
    return stats


def _play_episode(enjoy: Callable, expert, path: str, ctx: Context, max_attempts: int, seed: int) -> dict:
    """Worker for a custom ``enjoy``: retries a rejected or failing episode up to ``max_attempts``."""
    t0 = time.perf_counter()
    stats = {"attempts": 0, "rejected": 0, "failed": 0, "errors": []}
    tmp = temp_path(path)
    try:
        for attempt in range(max_attempts):
            ctx.attempt, ctx.seed = attempt, episode_seed(seed, ctx.index, "demonstrations", attempt)
            stats["attempts"] += 1
            try:
                ok = enjoy(str(tmp), ctx, expert)
                if ok:
                    _check_one_episode(enjoy, tmp)
            except Exception as err:  # reported with its traceback, then retried
                stats["failed"] += 1
                stats["errors"].append((ctx.index, attempt, format_exception(err)))
                tmp.unlink(missing_ok=True)
                continue
            if ok:
                os.replace(tmp, path)
                stats["accepted"] = 1
                break
            stats["rejected"] += 1
        else:
            stats["exhausted"] = (ctx.index, max_attempts, None)
    finally:
        tmp.unlink(missing_ok=True)
    stats["busy"] = time.perf_counter() - t0
    return stats


def _check_one_episode(enjoy: Callable, path: Path) -> None:
    """The Controller counts what it keeps: an accepted episode file holds exactly one episode."""
    name = getattr(enjoy, "__name__", type(enjoy).__name__)
    if not path.exists():
        raise RuntimeError(f"enjoy {name!r} returned True but wrote no file to the path it was given; it must "
                           "save exactly one episode there (e.g. with illab.recording.save_episodes)")
    n = len(datafile.read(path)["episode_lengths"])
    if n != 1:
        raise RuntimeError(f"enjoy {name!r} wrote {n} episodes to one episode file; an enjoy records exactly one "
                           "episode per call (the Controller calls it once per episode index)")


class Controller:
    """Collect expert demonstrations into one dataset file (IL-Datasets' ``Controller``).

    Args:
        enjoy: an :class:`~illab.recording.EnjoyFunction` that records one episode:
            ``enjoy(path, context, expert) -> bool`` (kept if True). One with the
            :class:`~illab.recording.BatchedEnjoy` capability (the stock ``baseline_enjoy``)
            switches on the batched fast path (block files); any other callable, including a
            wrapper around ``baseline_enjoy``, is called once per episode.
        collate: a :class:`~illab.recording.CollateFunction`,
            ``collate(path, episode_files) -> bool``, builds the dataset file.
        episodes: number of episodes to keep (>= 1).
        threads: worker threads (>= 1); ignored when ``executor`` is given. On the fast path they
            are used only where the environment step releases the GIL (MuJoCo): pure-Python
            environments play on one thread, since more only contend for the GIL (``stats.workers``
            says how many ran). A custom ``enjoy`` always gets ``threads`` threads.
        executor: any ``concurrent.futures.Executor`` (:func:`process_executor` — the shared, warm
            process pool — or a dask client's ``get_executor()``); the Controller never shuts it
            down, so it is reused by the next ``start``. On the fast path process/dask workers load the
            expert by id (use bundled/hub experts there); a custom ``enjoy`` gets the loaded
            expert object, so run it with threads.
        seed: base seed of the demonstration seed stream.
        path: output folder: ``<path>/<game>.npz`` + ``<game>.json``, episode files in
            ``<path>/<game>_episodes/`` (kept, so a repeated or interrupted run resumes).
        overwrite: replace an existing dataset file (never done otherwise).
        block_size: episodes per unit of work on the fast path (part of the data's identity:
            changing it may change float rounding of batched network calls).
        n_envs: lockstep slots per block (batch size of each policy call).
        max_attempts: bound on tries per episode (rejections and failures).
        threshold: minimum return to keep an episode (default: the expert's threshold).
        progress: show a ``tqdm.auto`` progress bar.

    Raises:
        TypeError: a count or seed that is not a number (``episodes="ten"``), or an ``enjoy`` /
            ``collate`` that is not callable.
        ValueError: a count below 1 or fractional (``episodes=2.5``), a negative seed, or a NaN
            ``threshold``.
    """

    def __init__(self, enjoy: EnjoyFunction = baseline_enjoy, collate: CollateFunction = baseline_collate,
                 episodes: int = 100, threads: int = 1, *, executor: cf.Executor | None = None, seed: int = 0,
                 path: str | os.PathLike = "data", overwrite: bool = False, block_size: int = 32,
                 n_envs: int = 32, max_attempts: int = 10, threshold: float | None = None, progress: bool = True):
        for name, fn in (("enjoy", enjoy), ("collate", collate)):
            if not callable(fn):
                raise TypeError(f"{name} must be a function, got {type(fn).__name__} {fn!r}; pass e.g. "
                                f"illab.recording.baseline_{name}")
        self.enjoy, self.collate = enjoy, collate
        self.episodes = checks.count(episodes, "episodes")
        self.threads = checks.count(threads, "threads")
        self.block_size = checks.count(block_size, "block_size")
        self.n_envs = checks.count(n_envs, "n_envs")
        self.max_attempts = checks.count(max_attempts, "max_attempts")
        self.seed = checks.seed(seed)
        self.executor, self.path, self.overwrite = executor, Path(path), bool(overwrite)
        self.threshold = None if threshold is None else checks.real(threshold, "threshold", allow_neg_inf=True)
        self.progress = progress
        self.reused = False
        self.stats = RunStats()

    # ---- public ----------------------------------------------------------------------------

    def start(self, arguments: dict[str, Any]) -> Path:
        """Run ``{"game": <expert id>, "mode": "all" | "play" | "collate"}``; return the dataset path.

        Raises:
            KeyError: unknown expert id (the message lists the known ids).
            ValueError: unknown mode, missing ``game``, ``collate`` with no episodes on disk, or an
                episode folder that belongs to a different run.
            FileExistsError: the dataset exists, holds a *different* dataset than requested (the
                message names the differences), and ``overwrite`` is False. When it holds exactly
                the requested one it is returned instead (``self.reused`` is True).
            CollectionError: some episodes exhausted ``max_attempts`` (the others stay on disk), or
                ``collate`` wrote another number of episodes than requested.
        """
        game = arguments.get("game")
        mode = arguments.get("mode", "all")
        if not game:
            raise ValueError('start() needs {"game": <expert id>, "mode": "all"|"play"|"collate"}')
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
        expert = registry.get(game)
        out = self.path / f"{game}.npz"
        folder = self.path / f"{game}_episodes"
        meta = self._meta(expert)
        self.reused = False
        if out.exists() and not self.overwrite and mode in ("all", "collate"):
            self._reuse_or_refuse(out, meta, expert.id)
            self.reused = True
            return out
        remove_stale_temps(self.path)
        remove_stale_temps(folder)
        self._prepare(folder, meta)
        if mode in ("all", "play"):
            with torch_threads(1):  # small batches: intra-op threads only contend with the workers
                self._play(expert, folder)
        if mode in ("all", "collate"):
            files = self._files(folder)
            if not files:
                raise ValueError(f"no recorded episodes in {folder}: run mode='play' or 'all' first")
            missing = self.episodes - self._count(files)
            if missing > 0:
                raise ValueError(f"{folder} holds {self.episodes - missing} of {self.episodes} episodes; "
                                 "run mode='play' to record the rest")
            if missing < 0:
                raise CollectionError(f"{folder} holds {self.episodes - missing} episodes for a run of "
                                      f"{self.episodes}; an enjoy wrote extra episodes. Move the folder away and "
                                      "collect again")
            if self.overwrite:
                self._write_meta(folder, {**meta, "_overwrite": True})
            try:
                self.collate(str(out), [str(f) for f in files])
            finally:
                self._write_meta(folder, meta)
            if out.exists():
                got = len(datafile.read(out)["episode_lengths"])
                if got != self.episodes:
                    raise CollectionError(f"collate wrote {got} episodes to {out} but {self.episodes} were "
                                          "requested; check the collate function (it must concatenate the given "
                                          "episode files, once each)")
        return out

    # ---- internals -------------------------------------------------------------------------

    @property
    def fast(self) -> bool:
        """True when ``enjoy`` has the :class:`~illab.recording.BatchedEnjoy` capability (block files)."""
        return isinstance(self.enjoy, BatchedEnjoy)

    def _reuse_or_refuse(self, out: Path, meta: dict, expert_id: str) -> None:
        """Return quietly if ``out`` holds exactly the requested dataset, else raise FileExistsError."""
        card = datafile.read_card(out)
        want = {**json.loads(json.dumps(meta)), "episodes": self.episodes}
        diff = sorted(k for k in want if card.get(k) != want[k])
        if diff:
            detail = ", ".join(f"{k}: file has {card.get(k)!r}, requested {want[k]!r}" for k in diff[:4]
                               if k not in ("observation_space", "action_space")) or ", ".join(diff)
            raise FileExistsError(f"{out} already holds a different dataset ({detail}) and was left untouched; "
                                  "pass overwrite=True to replace it, or choose another path")
        datafile.verify(out, card)
        line = f"{out} already holds this dataset ({self.episodes} episodes of {expert_id}, seed {self.seed}): reusing it"
        if self.progress:
            from tqdm.auto import tqdm
            with tqdm(total=self.episodes, initial=self.episodes, unit="episode",
                      desc=f"{expert_id}: already collected, reusing {out.name}") as bar:
                bar.refresh()
        print(line)

    def _meta(self, expert) -> dict:
        env = make_env(expert.env_id, expert.env_kwargs)
        return {"env_id": expert.env_id, "env_kwargs": expert.env_kwargs, "expert_id": expert.id,
                "expert_sha256": expert.sha256, "seed": self.seed, "seed_stream": "demonstrations",
                "threshold": float(self.threshold if self.threshold is not None else expert.threshold),
                "block_size": self.block_size if self.fast else 1, "n_envs": self.n_envs if self.fast else 1,
                "observation_space": datafile.space_to_json(env.observation_space),
                "action_space": datafile.space_to_json(env.action_space)}

    def _prepare(self, folder: Path, meta: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        old = {k: v for k, v in json.loads((folder / META).read_text()).items() if k in meta} \
            if (folder / META).exists() else None
        if old is not None and old != json.loads(json.dumps(meta)):
            diff = sorted(k for k in meta if old.get(k) != json.loads(json.dumps(meta)).get(k))
            raise ValueError(f"{folder} holds episodes of a different run (differs in {diff}); use another "
                             "path, or move that folder away")
        self._write_meta(folder, meta)

    @staticmethod
    def _write_meta(folder: Path, meta: dict) -> None:
        atomic_write(folder / META, json.dumps(meta, indent=2))

    def _units(self) -> list[list[int]]:
        size = self.block_size if self.fast else 1
        return [list(range(s, min(s + size, self.episodes))) for s in range(0, self.episodes, size)]

    def _unit_path(self, folder: Path, unit: list[int]) -> Path:
        return folder / (f"block_{unit[0]:07d}_{unit[-1]:07d}.npz" if self.fast else f"episode_{unit[0]:07d}.npz")

    def _files(self, folder: Path) -> list[Path]:
        return [p for p in (self._unit_path(folder, u) for u in self._units()) if p.exists()]

    def _count(self, files: list[Path]) -> int:
        return sum(len(datafile.read(f)["episode_lengths"]) for f in files)

    def _play(self, expert_rec, folder: Path) -> None:
        from tqdm.auto import tqdm

        todo = [u for u in self._units() if not self._unit_path(folder, u).exists()]
        threshold = float(self.threshold if self.threshold is not None else expert_rec.threshold)
        own = self.executor is None
        # a second thread only contends for the GIL unless the step leaves it long enough (threads_pay)
        threads = self.threads if (not own or not self.fast or self.threads == 1 or
                                   threads_pay(expert_rec.env_id, expert_rec.env_kwargs)) else 1
        executor = self.executor or cf.ThreadPoolExecutor(max_workers=threads)
        workers = threads if own else getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        stats = self.stats = RunStats(workers=workers)
        bar = tqdm(total=self.episodes, initial=self.episodes - sum(len(u) for u in todo), unit="episode",
                   desc=f"collecting {expert_rec.id}", disable=not self.progress)
        t0 = time.perf_counter()
        exhausted = []
        # While a WorkerPool starts up (its forkserver imports torch), this process plays the blocks itself
        # on one helper thread, so the first collection on a fresh pool does not wait for it; once the pool
        # is warm it gets every block that is left.
        cold = self.fast and isinstance(executor, WorkerPool) and not executor.warm()
        helper = cf.ThreadPoolExecutor(max_workers=1) if cold else None
        try:
            if own or not self.fast or cold:
                policy = _cached_expert(expert_rec.id) if self.fast else registry.load(expert_rec.id)

            def submit(ex: cf.Executor, unit: list[int], expert=None) -> cf.Future:
                path = str(self._unit_path(folder, unit))
                if self.fast:
                    return ex.submit(_play_block, self.enjoy, expert_rec.id, expert_rec.env_id, expert_rec.env_kwargs,
                                     self.seed, unit, threshold, self.max_attempts, self.n_envs, path, expert)
                ctx = Context(index=unit[0], attempt=0, seed=0, env_id=expert_rec.env_id,
                              env_kwargs=expert_rec.env_kwargs, threshold=threshold)
                return ex.submit(_play_episode, self.enjoy, policy, path, ctx, self.max_attempts, self.seed)

            pending, futures = collections.deque(todo), {}
            while pending or futures:
                cold = cold and not executor.warm()
                while pending and not cold:
                    futures[submit(executor, pending.popleft(), policy if own else None)] = "pool"
                if cold and pending and "here" not in futures.values():
                    futures[submit(helper, pending.popleft(), policy)] = "here"
                done, _ = cf.wait(futures, timeout=0.05 if cold else None, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    res = fut.result()
                    stats.here += futures.pop(fut) == "here"
                    stats.attempts += res.get("attempts", 0)
                    stats.rejected += res.get("rejected", 0)
                    stats.failed += res.get("failed", 0)
                    stats.accepted += res.get("accepted", 0)
                    stats.steps += res.get("steps", 0)
                    stats.busy += res.get("busy", 0.0)
                    stats.errors.extend(res.get("errors", []))
                    if "exhausted" in res:
                        exhausted.append(res["exhausted"])
                    bar.update(res.get("accepted", 0))
                    stats.wall = time.perf_counter() - t0
                    bar.set_postfix(steps_s=f"{stats.steps_per_second:,.0f}", rejected=stats.rejected,
                                    failed=stats.failed)
        finally:
            stats.wall = time.perf_counter() - t0
            bar.close()
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
            if helper is not None:
                helper.shutdown(wait=True, cancel_futures=True)
        if exhausted:
            detail = "; ".join(f"episode {i} failed {n} attempts" + (f" (last return {r:.1f})" if r is not None else "")
                               for i, n, r in sorted(exhausted)[:5])
            errors = f"\nfirst error:\n{stats.errors[0][2]}" if stats.errors else ""
            raise CollectionError(f"{len(exhausted)} unit(s) could not be completed: {detail}. Accepted episodes "
                                  f"are kept in {folder}; raise max_attempts or lower the threshold, then run "
                                  f"start() again to resume.{errors}")


#: Modules the pool's forkserver imports once, so each worker starts as a fork of a process that
#: already holds torch, gymnasium, SB3 and illab (``__main__`` first, as ``spawn`` would import it).
PRELOAD = ["__main__", "illab.controller", "stable_baselines3"]
_POOLS: dict[int, "WorkerPool"] = {}


def _in_environment(environ: dict[str, str], fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a pool worker with ``os.environ`` set to ``environ`` (the submitting process's)."""
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    return fn(*args, **kwargs)


class WorkerPool(cf.ProcessPoolExecutor):
    """A process pool for the Controller, started once and reused (get it with :func:`process_executor`).

    Workers are forked from a *forkserver* that imported :data:`PRELOAD` once (``spawn`` where the
    platform has no forkserver): never from the caller, whose torch thread pool or locks may be in
    use (forking those can deadlock the child). The forkserver and the workers start in a background
    thread as soon as the pool is made, so a pool made ahead of its first use is warm by then; until it
    is warm (:meth:`warm`), the Controller plays blocks in the calling process instead of waiting for it
    (``stats.here``), so the first ``start`` on a pool made and used at once does not wait for it. Each
    worker keeps the experts it loaded, so the second collection on a warm pool pays no start-up at all.
    Each task runs with the environment variables of the process that submits it, as they are at
    submission (e.g. ``HF_HUB_OFFLINE``, ``HF_HUB_CACHE`` set in a notebook after a first collection):
    the forkserver's own environment is the one it started with.

    Shut it down with :meth:`close` (or ``shutdown``, or a ``with`` block); pools still open when
    Python exits are closed by an ``atexit`` hook. After that :func:`process_executor` starts a
    new one.
    """

    def __init__(self, workers: int):
        import multiprocessing
        try:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
        except ValueError:  # no forkserver on this platform (Windows)
            ctx = multiprocessing.get_context("spawn")
        super().__init__(max_workers=workers, mp_context=ctx)
        self.workers = workers
        self.closed = False
        # Start the forkserver (its imports take about a second) and the workers now, in the
        # background, instead of inside the first ``start``: a pool made before it is needed (a
        # notebook cell ahead, or while the caller prepares its run) is warm by then.
        self._warming = threading.Thread(target=self._warm_up, name="illab-pool-warm-up", daemon=True)
        self._warming.start()

    def _warm_up(self) -> None:
        # ProcessPoolExecutor spawns a worker for a submitted task only while no worker is idle, and a
        # spawn through the forkserver is slow, so a trivial task would free its worker before the next
        # submit and fewer workers would start: short sleeps keep the started ones busy (a few rounds at most)
        try:
            for _ in range(5):
                for future in [self.submit(time.sleep, 0.2) for _ in range(self.workers)]:
                    future.result()
                if self.closed or len(self.pids()) >= self.workers:
                    return
        except Exception:  # closed or broken while warming up: the caller's next submit says so
            pass

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:
        """``ProcessPoolExecutor.submit``, with the caller's current environment variables in the worker."""
        return super().submit(_in_environment, dict(os.environ), fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers (waiting for running tasks if ``wait``); the pool cannot be reused after."""
        self.closed = True
        if _POOLS.get(self.workers) is self:
            del _POOLS[self.workers]
        super().shutdown(wait=wait, cancel_futures=cancel_futures)

    def close(self) -> None:
        """``shutdown(wait=True)``: the workers finish what they run and exit."""
        self.shutdown(wait=True)

    def warm(self) -> bool:
        """Whether the pool's start-up is over: its workers have run a first task (until then the
        forkserver may still be importing torch, ~1.5 s after the pool was made)."""
        return not self._warming.is_alive()

    def pids(self) -> list[int]:
        """Process ids of the workers started so far (the pool starts them on demand)."""
        return sorted(getattr(self, "_processes", None) or {})


def process_executor(workers: int = 2) -> WorkerPool:
    """The shared, warm :class:`WorkerPool` of ``workers`` processes for the Controller's ``executor``.

    The first call starts it; later calls (other ``start`` calls, other notebook cells) return the
    same pool with its workers already running and their experts loaded, until it is closed
    (``pool.close()``, a ``with process_executor(2) as pool:`` block, :func:`close_pools`, or
    Python's exit). A closed or broken pool is replaced by a new one.

    Raises:
        TypeError / ValueError: ``workers`` is not a whole number >= 1.
    """
    workers = checks.count(workers, "workers")
    pool = _POOLS.get(workers)
    if pool is None or pool.closed or getattr(pool, "_broken", False):
        if pool is not None and not pool.closed:
            pool.shutdown(wait=False)
        pool = _POOLS[workers] = WorkerPool(workers)
    return pool


@atexit.register
def close_pools() -> None:
    """Close every pool :func:`process_executor` started (also run at Python's exit)."""
    for pool in list(_POOLS.values()):
        pool.close()


def collect(expert_id: str, episodes: int, path: str | os.PathLike = "data", seed: int = 0, threads: int = 1,
            executor: cf.Executor | None = None, overwrite: bool = False, progress: bool = False,
            **kwargs: Any) -> Path:
    """One-line collection with the stock enjoy/collate; returns the dataset path.

    Keyword arguments are passed to :class:`Controller` (``block_size``, ``max_attempts``, ...).
    Re-running the same call returns the existing dataset (see :meth:`Controller.start`).
    """
    return Controller(baseline_enjoy, baseline_collate, episodes=episodes, threads=threads, executor=executor,
                      seed=seed, path=path, overwrite=overwrite, progress=progress, **kwargs).start(
        {"game": expert_id, "mode": "all"})


def stats_dict(stats: RunStats) -> dict:
    """JSON-able view of :class:`RunStats` (errors summarised)."""
    d = asdict(stats)
    d["errors"] = [(i, a) for i, a, _ in stats.errors]
    d.update(steps_per_second=stats.steps_per_second, uptime=stats.uptime)
    return d
