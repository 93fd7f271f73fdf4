"""Cells of the benchmark: per-environment setup (demonstrations, leakage-checked test seeds), one
(environment, method, training seed) cell, its fingerprint, and the picklable task a worker runs.

A :class:`CellTask` carries only small, picklable facts (ids, seeds, config, the dataset's *path*
and content hash); :func:`execute_task` — the function a local process or a dask worker runs —
re-opens the dataset by path, refuses it if its arrays do not hash to the expected content hash,
trains and scores the cell with one torch thread, and returns the cell as a JSON-able dict (or the
traceback of a failure: one failing cell never stops the others).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from illab import datafile
from illab import experts as registry
from illab.evaluate import (check_leakage, dataset_start_states, evaluate, normalized_performance,
                            select_test_seeds, start_states)
from illab.fileio import torch_threads
from illab.seeds import torch_seed

ALL_METHODS = ("bc", "bco", "dagger", "gail")
"""Method names benchmarked by default (keys of :data:`illab.methods.METHODS`)."""

CLASSIC_CONTROL = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")
"""Environment ids the acceptance bar "BC ≥ 0.95 normalized" applies to."""

QUICK = {"envs": ("cartpole",), "episodes": 10, "test_episodes": 20}
"""``--quick`` defaults: one environment, tiny budgets (exercises the whole path in about a minute)."""

FULL = {"episodes": 100, "test_episodes": 100}
"""Defaults of the published table: 100 demonstrations, 100 test episodes."""

QUICK_CONFIGS: dict[str, dict[str, Any]] = {
    "bco": {"pre_demo_steps": 2000, "epochs": 10, "idm_epochs": 10, "post_iterations": 1},
    "dagger": {"rounds": 3, "episodes_per_round": 4},
    "gail": {"total_timesteps": 16_384, "eval_every": 0},
}
"""Per-method ``<Name>Config`` overrides in ``--quick`` mode: tiny budgets, so that
``--quick`` (CartPole, 10 demonstrations, 4 methods × 3 seeds) runs in about a minute on 2 cores
(measured: BC ~1 s, BCO ~3 s, DAgger ~5 s, GAIL ~10 s per cell). Not the published numbers."""

FULL_CONFIGS: dict[str, dict[str, Any]] = {}
"""Per-method ``<Name>Config`` overrides of the published table (``{}`` = the method's defaults)."""


def method_config(method_cls: type, env_id: str, override: dict[str, Any] | None, quick: bool,
                  expert_id: str | None = None) -> dict | None:
    """A cell's config overrides: the method module's own budget for the cell (its
    ``BENCHMARK_CONFIGS[expert_id]`` if there is one, else ``BENCHMARK_CONFIGS[env_id]`` — an expert id
    tells apart two experts of one environment id, e.g. ``lunarlander`` and ``lunarlander-continuous`` of
    ``LunarLander-v3`` — else ``BENCHMARK_CONFIGS["*"]``, for every task; ``QUICK_CONFIG`` with ``quick``;
    a method file states the budgets it was measured with) updated by ``override`` (the run's
    ``configs[method]``). ``None``: defaults."""
    import sys
    module = sys.modules.get(method_cls.__module__)
    table = getattr(module, "BENCHMARK_CONFIGS", {})
    own = getattr(module, "QUICK_CONFIG", None) if quick else table.get(expert_id, table.get(env_id, table.get("*")))
    merged = {**(own or {}), **(override or {})}
    return merged or None

RESULT_FIELDS = ("expert_id", "env_id", "method", "seed_index", "train_seed", "demonstrations",
                 "test_episodes", "aer_mean", "aer_std", "perf_mean", "perf_std", "random_return",
                 "expert_return", "dataset_hash", "expert_sha256")
SUMMARY_FIELDS = ("expert_id", "env_id", "method", "n_seeds", "aer_mean", "aer_std", "perf_mean", "perf_std",
                  "perf_seed_std")
AGGREGATE_FIELDS = ("method", "n_envs", "n_runs", "perf_mean", "perf_iqm")


def bundled_experts() -> list[str]:
    """Ids of every expert that ships with illab (has bundled weights and reference returns)."""
    out = []
    for eid in registry.list():
        e = registry.get(eid)
        if e.file is not None and e.expert_return is not None and e.random_return is not None:
            out.append(eid)
    return out


# ---- small utilities ------------------------------------------------------------------------

def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of every package that determines a benchmark number."""
    import platform
    v = datafile.versions()
    v["machine"] = f"{platform.system()} {platform.machine()}"
    return v


def train_seed(base_seed: int, expert_id: str, method: str, k: int) -> int:
    """The training seed of cell (``expert_id``, ``method``, training seed index ``k``): an int in [0, 2**31)."""
    return torch_seed(base_seed, f"{expert_id}/{method}/{k}") % (2 ** 31)


def _make_config(cls, overrides: dict[str, Any] | None):
    """``<Name>Config(**overrides)`` for method class ``cls`` (``None`` when there are no overrides)."""
    if not overrides:
        return None
    import sys
    cfg_cls = getattr(cls, "config_class", None) or getattr(cls, "Config", None)
    if cfg_cls is None:
        cfg_cls = getattr(sys.modules[cls.__module__], f"{cls.__name__}Config", None)
    if cfg_cls is None:
        raise TypeError(f"cannot find the config class of {cls.__name__} (expected {cls.__name__}Config)")
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"{cfg_cls.__name__} has no field(s) {unknown}; valid fields: {sorted(names)}")
    return cfg_cls(**overrides)


# ---- per-environment setup --------------------------------------------------------------------

@dataclass
class EnvSetup:
    """Everything the cells of one environment share.

    Attributes:
        expert_id, env_id, env_kwargs, expert_sha256: the task and its expert.
        dataset_path: the demonstrations ``.npz``; ``dataset`` the loaded dataset object.
        dataset_hash: content hash of its arrays (verified against its card).
        test_seeds: ``(K,)`` int64 leakage-checked test seeds; ``replaced`` how many were redrawn.
        reference: ``(random_mean, expert_mean)`` reference returns.
        collected: True if the dataset was collected in this run, False if reused.
    """

    expert_id: str
    env_id: str
    env_kwargs: dict
    expert_sha256: str | None
    dataset_path: Path
    dataset: Any
    dataset_hash: str
    test_seeds: np.ndarray
    replaced: int
    reference: tuple[float, float]
    collected: bool
    _expert_policy: Any = field(default=None, repr=False)

    def expert_policy(self):
        """The expert as a Policy (loaded once; DAgger queries it)."""
        if self._expert_policy is None:
            self._expert_policy = registry.load(self.expert_id)
        return self._expert_policy


def _verify_dataset(path: Path, expert, episodes: int, seed: int) -> str | None:
    """Content hash of a reusable dataset at ``path``, or None if there is none.

    Raises:
        ValueError: a dataset is there but does not match (other expert/episodes/seed) or its arrays
            do not hash to its card's content hash (corrupted or edited).
    """
    if not path.exists():
        return None
    card = datafile.read_card(path)
    want = {"expert_id": expert.id, "expert_sha256": expert.sha256, "episodes": episodes, "seed": seed}
    got = {k: card.get(k) for k in want}
    if got != want:
        raise ValueError(f"{path} exists but was made with {got}, not {want}; move it away or use another --out")
    actual = datafile.content_hash(datafile.read(path, mmap=False))
    if card.get("content_hash") != actual:
        raise ValueError(f"{path}: arrays hash to {actual[:12]}… but the card says {str(card.get('content_hash'))[:12]}…; "
                         "the file was corrupted or edited. Move it away and re-run to collect it again.")
    return actual


def prepare_env(expert_id: str, episodes: int, data_dir: Path, *, base_seed: int = 0, test_episodes: int = 100,
                threads: int = 1, atol: float = 1e-6, collect: Callable | None = None,
                load_dataset: Callable | None = None, progress: bool = False) -> EnvSetup:
    """Collect (or reuse) the demonstrations of ``expert_id`` and pick leakage-checked test seeds.

    Args:
        expert_id: a registered expert with reference returns.
        episodes: number of demonstration episodes (>= 1).
        data_dir: datasets go to ``data_dir/<expert>-<sha8>-n<episodes>-s<seed>/<expert>.npz``.
        base_seed: base seed of the demonstration and test streams.
        test_episodes: K test seeds.
        threads: Controller workers.
        atol: leakage tolerance (max-norm on start states).
        collect: ``collect(expert_id, episodes, path, seed=, threads=, progress=) -> Path``;
            default :func:`illab.controller.collect`.
        load_dataset: ``load_dataset(path) -> dataset`` with ``obs`` and ``episode_starts``; default
            :class:`illab.data.BaselineDataset` (all episodes as the train split).

    Raises:
        KeyError: unknown expert. ValueError: no reference returns, or a mismatching dataset on disk.
        LeakageError: a test start state equals a demonstration start state (refuses to report).
    """
    expert = registry.get(expert_id)
    reference = expert.reference_returns()
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    tag = (expert.sha256 or "scripted")[:8]
    folder = Path(data_dir) / f"{expert_id}-{tag}-n{episodes}-s{base_seed}"
    path = folder / f"{expert_id}.npz"
    dataset_hash = _verify_dataset(path, expert, episodes, base_seed)
    collected = dataset_hash is None
    if collected:
        if collect is None:
            from illab.controller import collect
        path = Path(collect(expert_id, episodes, folder, seed=base_seed, threads=threads, progress=progress))
        dataset_hash = _verify_dataset(path, expert, episodes, base_seed)
        if dataset_hash is None:
            raise FileNotFoundError(f"collect() did not produce {path}")
    if load_dataset is None:
        from illab.data import BaselineDataset as load_dataset
    ds = load_dataset(path)
    train_starts = dataset_start_states(ds.obs, ds.episode_starts)
    seeds, replaced = select_test_seeds(expert.env_id, test_episodes, train_starts, seed=base_seed,
                                        env_kwargs=expert.env_kwargs, atol=atol)
    # the proof, on the final seeds (refuses to report if it fails)
    check_leakage(train_starts, start_states(expert.env_id, seeds, expert.env_kwargs), atol=atol)
    return EnvSetup(expert_id, expert.env_id, dict(expert.env_kwargs), expert.sha256, path, ds, dataset_hash,
                    seeds, replaced, reference, collected)


# ---- cells ----------------------------------------------------------------------------------

CODE_MODULES = ("illab.methods.base", "illab.methods.networks", "illab.demonstrations", "illab.evaluate",
                "illab.rollout", "illab.policy", "illab.seeds")
"""Modules whose source is always part of a cell's fingerprint (besides the method's own modules)."""


def _method_modules(method_cls: type) -> list[str]:
    """The illab modules that define ``method_cls`` and its bases, and the illab modules they import
    (e.g. a shared trainer), sorted."""
    import ast
    import importlib
    import inspect
    found: set[str] = set()
    todo = [c.__module__ for c in method_cls.__mro__ if c.__module__.startswith("illab.")]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        except (OSError, TypeError, ImportError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("illab.methods."):
                todo.append(node.module)
    return sorted(found)


def code_hash(method_cls: type) -> str:
    """sha256 of the source of ``method_cls``'s modules (its own, its base classes' and the illab
    method modules they import) and :data:`CODE_MODULES`: an edited method or evaluation invalidates
    the cells it made (they are kept on disk, not reused). A method whose module has no source file
    (a class defined in a notebook cell) contributes its class source if ``inspect`` finds it, else
    only its qualified name."""
    import importlib
    import inspect
    h = hashlib.sha256()
    try:
        h.update(inspect.getsource(importlib.import_module(method_cls.__module__)).encode())
    except (OSError, TypeError):
        try:
            h.update(inspect.getsource(method_cls).encode())
        except (OSError, TypeError):
            h.update(method_cls.__qualname__.encode())
    for name in sorted((set(_method_modules(method_cls)) | set(CODE_MODULES)) - {method_cls.__module__}):
        h.update(inspect.getsource(importlib.import_module(name)).encode())
    return h.hexdigest()


def cell_fingerprint(setup: EnvSetup, method: str, k: int, tseed: int, config: dict | None,
                     code: str = "") -> str:
    """sha256 over everything that determines a cell's numbers (``code``: :func:`code_hash`)."""
    from illab import __version__
    return _sha({"expert_id": setup.expert_id, "expert_sha256": setup.expert_sha256, "method": method, "k": k,
                 "train_seed": tseed, "dataset_hash": setup.dataset_hash, "config": config or {},
                 "test_seeds": setup.test_seeds.tolist(), "reference": list(setup.reference), "illab": __version__,
                 "code": code})


def run_cell(setup: EnvSetup, method: str, k: int, *, base_seed: int = 0, config: dict | None = None,
             methods_registry: dict | None = None, eval_episodes: int | None = None) -> dict:
    """Train ``method`` with training seed index ``k`` on ``setup``'s dataset and score it on the test seeds.

    Returns:
        A JSON-able dict: the fields of :data:`RESULT_FIELDS` plus ``returns`` (per test episode),
        ``config`` (the overrides the cell trained with) and ``wall_seconds``.

    Raises:
        KeyError: unknown method name (lists the known ones).
    """
    if methods_registry is None:
        from illab.methods import METHODS as methods_registry
    if method not in methods_registry:
        raise KeyError(f"unknown method {method!r}; known methods: {', '.join(sorted(methods_registry))}")
    cls = methods_registry[method]
    tseed = train_seed(base_seed, setup.expert_id, method, k)
    t0 = time.perf_counter()
    model = cls.from_dataset(setup.dataset, config=_make_config(cls, config), seed=tseed)
    kwargs = dict(env_id=setup.env_id, env_kwargs=setup.env_kwargs, expert=setup.expert_policy(), progress=False)
    if eval_episodes is not None:
        kwargs["eval_episodes"] = eval_episodes
    model.fit(setup.dataset, **kwargs)
    res = evaluate(model, setup.env_id, env_kwargs=setup.env_kwargs, stream="test", seeds=setup.test_seeds)
    random_ret, expert_ret = setup.reference
    perf = normalized_performance(res.returns, random_ret, expert_ret)
    return {
        "expert_id": setup.expert_id, "env_id": setup.env_id, "method": method, "seed_index": k,
        "train_seed": tseed, "demonstrations": int(np.sum(np.asarray(setup.dataset.episode_starts))),
        "test_episodes": len(res.returns), "aer_mean": res.mean, "aer_std": res.std,
        "perf_mean": float(perf.mean()), "perf_std": float(perf.std()), "random_return": random_ret,
        "expert_return": expert_ret, "dataset_hash": setup.dataset_hash, "expert_sha256": setup.expert_sha256,
        "returns": res.returns.tolist(), "config": config or {},
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }



# ---- the unit of work a worker runs -----------------------------------------------------------

@dataclass(frozen=True)
class CellTask:
    """One cell as a small picklable message for a worker (local process or dask.distributed).

    The dataset travels by ``dataset_path`` (a file every worker can read: local disk for
    ``--workers``, shared storage for a cluster) and is checked against ``dataset_hash`` (sha256
    of its arrays, :func:`illab.datafile.content_hash`) before use; the test seeds travel as a
    list of ints. ``methods_registry`` / ``load_dataset`` are ``None`` for the defaults
    (:data:`illab.methods.METHODS`, :class:`illab.data.BaselineDataset`) or importable objects.
    """

    expert_id: str
    env_id: str
    env_kwargs: dict
    expert_sha256: str | None
    method: str
    k: int
    base_seed: int
    config: dict | None
    eval_episodes: int | None
    dataset_path: str
    dataset_hash: str
    test_seeds: tuple[int, ...]
    reference: tuple[float, float]
    fingerprint: str
    expected_seconds: float = 0.0
    methods_registry: Any = None
    load_dataset: Any = None

    @property
    def key(self) -> tuple[str, str, int]:
        """``(expert_id, method, k)``."""
        return (self.expert_id, self.method, self.k)


def make_task(setup: EnvSetup, method: str, k: int, *, base_seed: int, config: dict | None,
              eval_episodes: int | None, code: str, methods_registry=None, load_dataset=None,
              expected_seconds: float = 0.0) -> CellTask:
    """The :class:`CellTask` of cell (``setup.expert_id``, ``method``, ``k``) with its fingerprint."""
    tseed = train_seed(base_seed, setup.expert_id, method, k)
    fp = cell_fingerprint(setup, method, k, tseed, config, code)
    return CellTask(setup.expert_id, setup.env_id, dict(setup.env_kwargs), setup.expert_sha256, method, k,
                    base_seed, config, eval_episodes, str(setup.dataset_path), setup.dataset_hash,
                    tuple(int(s) for s in setup.test_seeds), tuple(setup.reference), fp, float(expected_seconds),
                    methods_registry, load_dataset)


_LOADED: dict[tuple[str, str], Any] = {}
"""Per-process cache of datasets a worker has opened and verified: ``(path, content hash) → dataset``."""


def _open_dataset(task: CellTask):
    key = (task.dataset_path, task.dataset_hash)
    if key not in _LOADED:
        actual = datafile.content_hash(datafile.read(task.dataset_path, mmap=False))
        if actual != task.dataset_hash:
            raise ValueError(f"{task.dataset_path}: arrays hash to {actual[:12]}… but the benchmark expected "
                             f"{task.dataset_hash[:12]}…; the worker sees another or a changed file (on a cluster, "
                             "put --data on storage every worker reads).")
        load = task.load_dataset
        if load is None:
            from illab.data import BaselineDataset as load
        if len(_LOADED) >= 16:  # bound the memory of a long-lived worker
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load(task.dataset_path)
    return _LOADED[key]


def execute_task(task: CellTask) -> dict:
    """Run one cell in this process: the function workers execute.

    Returns:
        ``{"ok": True, "cell": <run_cell dict + fingerprint, base_seed>}`` or, if anything raised,
        ``{"ok": False, "key": (expert_id, method, k), "error": <formatted traceback>}`` — the
        traceback is formatted here because a remote worker's exception object may not survive
        the trip back.
    """
    try:
        if threading.current_thread() is threading.main_thread():
            ctx = torch_threads(1)
        else:  # a dask worker thread: torch's thread count is per calling thread (OpenMP), set it here
            import contextlib

            import torch
            torch.set_num_threads(1)
            ctx = contextlib.nullcontext()
        with ctx:
            dataset = _open_dataset(task)
            setup = EnvSetup(task.expert_id, task.env_id, dict(task.env_kwargs), task.expert_sha256,
                             Path(task.dataset_path), dataset, task.dataset_hash,
                             np.asarray(task.test_seeds, dtype=np.int64), 0, tuple(task.reference), False)
            cell = run_cell(setup, task.method, task.k, base_seed=task.base_seed, config=task.config,
                            methods_registry=task.methods_registry, eval_episodes=task.eval_episodes)
        cell["fingerprint"] = task.fingerprint
        cell["base_seed"] = task.base_seed
        return {"ok": True, "cell": cell}
    except Exception:
        return {"ok": False, "key": task.key, "error": traceback.format_exc()}

