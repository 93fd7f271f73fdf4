"""The benchmark: experts × IL methods × training seeds under a leakage-free seed protocol.

Protocol (issue 7; metrics of IL-Datasets, Gavenski et al. 2024, arXiv 2403.00550):

1. **Demonstrations** — per environment, one dataset of ``episodes`` expert episodes collected
   by :func:`illab.controller.collect` from the ``"demonstrations"`` seed stream of
   :mod:`illab.seeds`. A dataset already on disk is reused when its card matches (expert sha256,
   episodes, seed) and the content hash of its arrays equals the card's.
2. **Test seeds** — from the ``"test"`` stream (disjoint by construction);
   :func:`illab.evaluate.select_test_seeds` replaces any seed whose start state lies within
   ``atol`` of a demonstration start state, then :func:`illab.evaluate.check_leakage` proves it
   on the final seeds. If the check fails the benchmark **refuses to report** (``LeakageError``).
   Methods select checkpoints / early-stop on the ``"validation"`` stream only.
3. **Training** — each (environment, method, training seed ``k``) cell trains with seed
   ``torch_seed(base_seed, "<expert>/<method>/<k>")``: re-running gives the identical table.
4. **Metrics** — AER (mean ± std of the undiscounted returns of ``test_episodes`` test
   episodes); normalized performance ``(X − random) / (expert − random)`` per episode, then
   mean ± std, with the random and expert reference returns stored with the expert
   (:meth:`illab.experts.Expert.reference_returns`, measured on the test stream).
5. **Aggregates** — per method across environments: mean and interquartile mean (IQM, Agarwal
   et al. 2021, arXiv 2108.13264) of the per-run normalized performances (one run = one
   environment × training seed, as in rliable).

The runner is resumable: each finished cell is written atomically to
``<out>/cells/<expert>__<method>__s<k>__<fingerprint>.json`` and reused when its fingerprint
(expert sha256, dataset content hash, method config, seeds, test seeds, and the source code of
the method and of evaluation, :func:`code_hash`) matches. Results:
``results.csv`` (one row per cell), ``summary.csv`` (per environment × method),
``aggregate.csv`` (per method) — all deterministic, no wall times — and ``provenance.json`` plus
``BENCHMARKS.md`` with package versions, dataset hashes, expert sha256, seeds and wall times.

>>> from illab.benchmark import run
>>> result = run(["cartpole"], ["bc"], seeds=1, out="results", quick=True)
>>> result.summary[0]["perf_mean"]
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from illab import datafile
from illab import experts as registry
from illab.evaluate import (LeakageError, check_leakage, dataset_start_states, evaluate, interquartile_mean,
                            normalized_performance, select_test_seeds, start_states)
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

# Published anchors placed beside illab's table (AER, normalized performance or None).
ANCHORS: dict[str, dict[tuple[str, str], tuple[float, float | None]]] = {
    "IL-Datasets (arXiv 2403.00550)": {
        ("CartPole-v1", "bc"): (500.0, 1.0), ("CartPole-v1", "bco"): (500.0, 1.0),
        ("MountainCar-v0", "bc"): (-100.23, 0.986), ("MountainCar-v0", "bco"): (-99.5, 0.993),
        ("Acrobot-v1", "bc"): (-73.56, 0.991), ("Acrobot-v1", "bco"): (-75.2, 0.988),
        ("LunarLander-v2", "bc"): (246.97, 0.976), ("LunarLander-v2", "bco"): (241.59, 0.964),
    },
    "ilpyt Table 1, 100 demonstrations": {
        ("MountainCar-v0", "bc"): (-100.80, None), ("MountainCar-v0", "dagger"): (-102.36, None),
        ("MountainCar-v0", "gail"): (-104.31, None),
        ("MountainCarContinuous-v0", "bc"): (93.35, None), ("MountainCarContinuous-v0", "dagger"): (93.20, None),
        ("MountainCarContinuous-v0", "gail"): (79.78, None),
        ("LunarLander-v2", "bc"): (244.30, None), ("LunarLander-v2", "dagger"): (230.15, None),
        ("LunarLander-v2", "gail"): (201.88, None),
    },
}
ANCHOR_ENV = {"LunarLander-v3": "LunarLander-v2"}
"""illab env id → the id the anchors were published for (gymnasium 1.x removed ``-v2``)."""

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

def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _csv_text(rows: list[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: _fmt(row.get(k)) for k in fields})
    return buf.getvalue()


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6f}"
    return v


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of every package that determines a benchmark number."""
    v = datafile.versions()
    try:
        import platform as _p
        v["machine"] = f"{_p.system()} {_p.machine()}"
    except Exception:  # pragma: no cover
        pass
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

CODE_MODULES = ("illab.methods.base", "illab.evaluate", "illab.rollout", "illab.policy", "illab.seeds")
"""Modules whose source (with the method's own module) is part of a cell's fingerprint."""


def code_hash(method_cls: type) -> str:
    """sha256 of the source of ``method_cls``'s module and :data:`CODE_MODULES`: an edited method or
    evaluation invalidates the cells it made (they are kept on disk, not reused). A method whose
    module has no source file (a class defined in a notebook cell) contributes its class source if
    ``inspect`` finds it, else only its qualified name."""
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
    for name in CODE_MODULES:
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
        ``history`` (the method's last training losses/validation returns, if any) and
        ``wall_seconds``.

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


# ---- the runner -----------------------------------------------------------------------------

@dataclass
class BenchmarkResult:
    """What :func:`run` produced.

    Attributes:
        cells: one dict per finished cell (fields of :data:`RESULT_FIELDS` + ``returns``).
        summary: one dict per environment × method (:data:`SUMMARY_FIELDS`).
        aggregate: one dict per method (:data:`AGGREGATE_FIELDS`).
        missing: ``(expert_id, method, k)`` cells not run (``--report-only`` or failures).
        out: the output folder; ``markdown`` the Markdown path.
    """

    cells: list[dict]
    summary: list[dict]
    aggregate: list[dict]
    missing: list[tuple[str, str, int]]
    out: Path
    markdown: Path

    def perf(self, expert_id: str, method: str) -> float:
        """Mean normalized performance of ``method`` on ``expert_id`` (KeyError if absent)."""
        for row in self.summary:
            if row["expert_id"] == expert_id and row["method"] == method:
                return row["perf_mean"]
        raise KeyError(f"no result for {expert_id!r} × {method!r}")


def summarize(cells: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per environment × method summary and per method aggregate of finished cells.

    Summary: AER and normalized performance mean ± std over the pooled test episodes of all
    training seeds, and ``perf_seed_std`` (std of the per-seed means). Aggregate: over runs
    (environment × seed) of each method, ``perf_mean`` and ``perf_iqm``
    (:func:`illab.evaluate.interquartile_mean`, arXiv 2108.13264).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for c in cells:
        groups.setdefault((c["expert_id"], c["method"]), []).append(c)
    summary = []
    for (eid, method), cs in sorted(groups.items()):
        rets = np.concatenate([np.asarray(c["returns"], dtype=np.float64) for c in cs])
        perf = normalized_performance(rets, cs[0]["random_return"], cs[0]["expert_return"])
        summary.append({"expert_id": eid, "env_id": cs[0]["env_id"], "method": method, "n_seeds": len(cs),
                        "aer_mean": float(rets.mean()), "aer_std": float(rets.std()),
                        "perf_mean": float(perf.mean()), "perf_std": float(perf.std()),
                        "perf_seed_std": float(np.std([c["perf_mean"] for c in cs]))})
    aggregate = []
    for method in sorted({c["method"] for c in cells}, key=_method_order):
        runs = [c["perf_mean"] for c in cells if c["method"] == method]
        aggregate.append({"method": method, "n_envs": len({c["expert_id"] for c in cells if c["method"] == method}),
                          "n_runs": len(runs), "perf_mean": float(np.mean(runs)),
                          "perf_iqm": interquartile_mean(runs)})
    return summary, aggregate


def _method_order(m: str):
    return (ALL_METHODS.index(m) if m in ALL_METHODS else len(ALL_METHODS), m)


def run(envs: Sequence[str] | None = None, methods: Sequence[str] | None = None, seeds: int = 3,
        out: str | os.PathLike = "results", *, quick: bool = False, episodes: int | None = None,
        test_episodes: int | None = None, base_seed: int = 0, configs: dict[str, dict] | None = None,
        eval_episodes: int | None = None, markdown: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None, threads: int = 1, atol: float = 1e-6,
        report_only: bool = False, progress: bool = True, command: str | None = None,
        torch_threads: int | None = 1, collect: Callable | None = None, load_dataset: Callable | None = None,
        methods_registry: dict | None = None) -> BenchmarkResult:
    """Run (or resume) the benchmark and write its tables.

    Args:
        envs: expert ids (default: every bundled expert; ``--quick``: ``cartpole``).
        methods: method names (default ``bc, bco, dagger, gail``).
        seeds: training seeds per cell (>= 1).
        out: output folder (``cells/``, ``data/``, CSVs, ``provenance.json``, ``BENCHMARKS.md``).
        quick: tiny budgets (:data:`QUICK`, :data:`QUICK_CONFIGS`) for CI.
        episodes: demonstrations per environment (default 100; quick 10).
        test_episodes: test episodes per cell (default 100; quick 20).
        base_seed: base seed of all streams and training seeds.
        configs: per-method config overrides (default :data:`FULL_CONFIGS` / :data:`QUICK_CONFIGS`).
        eval_episodes: validation episodes passed to ``fit`` (method default if None).
        markdown: also write the Markdown report here (e.g. ``BENCHMARKS.md``).
        data_dir: where datasets live (default ``<out>/data``; share it to reuse datasets).
        threads: Controller workers for collection.
        atol: leakage tolerance.
        report_only: run nothing; write the tables from the cells already on disk.
        progress: a tqdm progress bar over cells.
        command: the command line recorded in the report.
        torch_threads: ``torch.set_num_threads`` during the run (restored afterwards; ``None``
            leaves it). 1 is fastest for these small networks on a busy machine (OpenMP threads
            spin: a (8, 2) softmax took 8 ms with 2 threads vs 2 µs with 1 here) and keeps float
            results independent of the core count.
        collect, load_dataset, methods_registry: injectable pieces (defaults: the Controller,
            ``BaselineDataset``, :data:`illab.methods.METHODS`).

    Returns:
        :class:`BenchmarkResult`.

    Raises:
        ValueError: ``seeds < 1``, unknown method config fields, a mismatching dataset on disk.
        KeyError: unknown expert id or method name.
        LeakageError: the leakage check failed for an environment (nothing is reported).
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    envs = list(envs) if envs else (list(QUICK["envs"]) if quick else bundled_experts())
    methods = list(methods) if methods else list(ALL_METHODS)
    for eid in envs:
        registry.get(eid).reference_returns()  # unknown id / no reference returns: fail before any work
    if methods_registry is None and not report_only:
        from illab.methods import METHODS as methods_registry
    if methods_registry is not None:
        unknown = [m for m in methods if m not in methods_registry]
        if unknown:
            raise KeyError(f"unknown method(s) {unknown}; known: {', '.join(sorted(methods_registry))}")
    defaults = QUICK if quick else FULL
    episodes = int(episodes or defaults["episodes"])
    test_episodes = int(test_episodes or defaults["test_episodes"])
    configs = dict(QUICK_CONFIGS if quick else FULL_CONFIGS, **(configs or {}))
    out = Path(out)
    cells_dir = out / "cells"
    data_dir = Path(data_dir) if data_dir is not None else out / "data"
    t_start = time.perf_counter()

    import torch
    old_threads = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    plan = [(eid, m, k) for eid in envs for m in methods for k in range(seeds)]
    codes = {} if report_only else {m: code_hash(methods_registry[m]) for m in methods}
    cells: list[dict] = []
    missing: list[tuple[str, str, int]] = []
    setups: dict[str, EnvSetup] = {}
    from tqdm.auto import tqdm
    bar = tqdm(total=len(plan), desc="benchmark", unit="cell", disable=not progress)
    try:
        for eid in envs:
            if report_only:
                for m in methods:
                    for k in range(seeds):
                        found = _find_cell(cells_dir, eid, m, k, base_seed)
                        (cells.append(found) if found else missing.append((eid, m, k)))
                        bar.update(1)
                continue
            bar.set_postfix_str(f"{eid}: demonstrations")
            setup = setups[eid] = prepare_env(eid, episodes, data_dir, base_seed=base_seed,
                                              test_episodes=test_episodes, threads=threads, atol=atol,
                                              collect=collect, load_dataset=load_dataset)
            for m in methods:
                for k in range(seeds):
                    tseed = train_seed(base_seed, eid, m, k)
                    fp = cell_fingerprint(setup, m, k, tseed, configs.get(m), codes[m])
                    path = cells_dir / f"{eid}__{m}__s{k}__{fp[:12]}.json"
                    bar.set_postfix_str(f"{eid} {m} seed {k}")
                    if path.exists():
                        cell = json.loads(path.read_text())
                    else:
                        cell = run_cell(setup, m, k, base_seed=base_seed, config=configs.get(m),
                                        methods_registry=methods_registry, eval_episodes=eval_episodes)
                        cell["fingerprint"] = fp
                        cell["base_seed"] = base_seed
                        _atomic_write_text(path, json.dumps(cell, indent=1) + "\n")
                    cells.append(cell)
                    bar.update(1)
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
    summary, aggregate = summarize(cells)
    md_path = write_reports(out, cells, summary, aggregate, missing, setups, markdown=markdown,
                            meta={"envs": envs, "methods": methods, "seeds": seeds, "base_seed": base_seed,
                                  "episodes": episodes, "test_episodes": test_episodes, "quick": quick,
                                  "configs": configs, "atol": atol, "command": command,
                                  "wall_seconds": round(time.perf_counter() - t_start, 1)})
    return BenchmarkResult(cells, summary, aggregate, missing, out, md_path)


def _find_cell(cells_dir: Path, eid: str, method: str, k: int, base_seed: int) -> dict | None:
    """Latest finished cell for (eid, method, k) with ``base_seed`` (``--report-only``)."""
    found = []
    for p in sorted(cells_dir.glob(f"{eid}__{method}__s{k}__*.json")):
        c = json.loads(p.read_text())
        if c.get("base_seed", 0) == base_seed:
            found.append((p.stat().st_mtime, p.name, c))
    return max(found, key=lambda t: (t[0], t[1]))[2] if found else None


# ---- reports --------------------------------------------------------------------------------

def write_reports(out: Path, cells: list[dict], summary: list[dict], aggregate: list[dict],
                  missing: list, setups: dict[str, EnvSetup], *, markdown=None, meta: dict) -> Path:
    """Write ``results.csv``, ``summary.csv``, ``aggregate.csv`` (deterministic), ``provenance.json``
    and ``BENCHMARKS.md`` (with wall times) into ``out``; copy the Markdown to ``markdown`` if given."""
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(cells, key=lambda c: (c["expert_id"], _method_order(c["method"]), c["seed_index"]))
    _atomic_write_text(out / "results.csv", _csv_text(ordered, RESULT_FIELDS))
    _atomic_write_text(out / "summary.csv", _csv_text(summary, SUMMARY_FIELDS))
    _atomic_write_text(out / "aggregate.csv", _csv_text(aggregate, AGGREGATE_FIELDS))
    datasets = {eid: {"path": str(s.dataset_path), "content_hash": s.dataset_hash, "expert_sha256": s.expert_sha256,
                      "reused": not s.collected, "test_seeds": s.test_seeds.tolist(), "test_seeds_replaced": s.replaced,
                      "reference_returns": {"random": s.reference[0], "expert": s.reference[1]}}
                for eid, s in setups.items()}
    for c in ordered:  # --report-only: provenance from the cells themselves
        datasets.setdefault(c["expert_id"], {"content_hash": c["dataset_hash"], "expert_sha256": c["expert_sha256"]})
    provenance = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions(),
                  "python": platform.python_version(), **meta, "datasets": datasets,
                  "cells": [{k: c.get(k) for k in ("expert_id", "method", "seed_index", "train_seed", "wall_seconds",
                                                   "fingerprint")} for c in ordered],
                  "missing": [list(m) for m in missing]}
    _atomic_write_text(out / "provenance.json", json.dumps(provenance, indent=1, default=str) + "\n")
    # render from exactly what the files hold, so read_tables(out) reproduces the Markdown
    text = markdown_report(*read_tables(out))
    md = out / "BENCHMARKS.md"
    _atomic_write_text(md, text)
    if markdown is not None:
        _atomic_write_text(Path(markdown), text)
        md = Path(markdown)
    return md


def read_tables(out: str | os.PathLike) -> tuple[list[dict], list[dict], dict]:
    """``(summary, aggregate, provenance)`` read back from the files :func:`run` wrote into ``out``
    (numbers as floats/ints); ``markdown_report(*read_tables(out))`` is the ``BENCHMARKS.md`` it wrote.

    Raises:
        FileNotFoundError: ``out`` lacks ``summary.csv``, ``aggregate.csv`` or ``provenance.json``.
    """
    out = Path(out)

    def rows(name: str) -> list[dict]:
        with open(out / name, newline="", encoding="utf-8") as f:
            return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]

    return rows("summary.csv"), rows("aggregate.csv"), json.loads((out / "provenance.json").read_text())


def _parse(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _pm(mean, std, digits=2):
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_report(summary: list[dict], aggregate: list[dict], provenance: dict) -> str:
    """The Markdown report: results table, aggregates, anchors with the differences, provenance."""
    methods = sorted({r["method"] for r in summary}, key=_method_order)
    envs = []
    for r in summary:
        if (r["expert_id"], r["env_id"]) not in envs:
            envs.append((r["expert_id"], r["env_id"]))
    cell = {(r["expert_id"], r["method"]): r for r in summary}
    L = ["# illab benchmark", ""]
    if provenance.get("command"):
        L += ["Produced by:", "", "```", provenance["command"], "```", ""]
    meta = provenance
    L += [f"Protocol: {meta.get('episodes')} demonstrations per environment (seed stream `demonstrations`), "
          f"{meta.get('seeds')} training seeds per cell, {meta.get('test_episodes')} test episodes per cell "
          "(seed stream `test`, start states checked against every demonstration start state: "
          f"no leak within atol={meta.get('atol')}); model selection only on the `validation` stream. "
          "Entries: normalized performance `(X − random) / (expert − random)` per test episode "
          "(IL-Datasets, arXiv 2403.00550), mean ± std over all test episodes of all seeds; below it the "
          "AER (average episodic return) mean ± std.", ""]
    if meta.get("quick"):
        L += ["**Quick mode** (tiny budgets, for CI): these numbers are not the published table.", ""]
    if meta.get("missing"):
        miss = ", ".join(f"{e}/{m}/s{k}" for e, m, k in meta["missing"])
        L += [f"**Incomplete**: {len(meta['missing'])} cell(s) not finished yet: {miss}. "
              "Re-run the same command to resume (finished cells are kept).", ""]
    L += ["## Normalized performance (AER)", "",
          "| environment | expert | " + " | ".join(methods) + " |",
          "|---|---|" + "---|" * len(methods)]
    for eid, env_id in envs:
        row = [f"{env_id}", f"`{eid}`"]
        for m in methods:
            r = cell.get((eid, m))
            row.append(f"**{_pm(r['perf_mean'], r['perf_std'])}**<br>({_pm(r['aer_mean'], r['aer_std'], 1)})"
                       if r else "—")
        L.append("| " + " | ".join(row) + " |")
    agg = {a["method"]: a for a in aggregate}
    L.append("| **mean** over runs | | " + " | ".join(f"{agg[m]['perf_mean']:.3f}" if m in agg else "—"
                                                   for m in methods) + " |")
    L.append("| **IQM** over runs | | " + " | ".join(f"{agg[m]['perf_iqm']:.3f}" if m in agg else "—"
                                                  for m in methods) + " |")
    L += ["", "A run is one environment × training seed; IQM = interquartile mean (Agarwal et al. 2021, "
          "arXiv 2108.13264). Seed-to-seed spread (std of per-seed mean performance) is in `summary.csv` "
          "(`perf_seed_std`).", ""]
    bc = [(r["env_id"], r["perf_mean"]) for r in summary if r["method"] == "bc" and r["env_id"] in CLASSIC_CONTROL]
    if bc:
        ok = all(p >= 0.95 for _, p in bc)
        L += [f"Acceptance — BC ≥ 0.95 normalized on every classic-control environment: "
              f"**{'yes' if ok else 'no'}** (" + ", ".join(f"{e} {p:.3f}" for e, p in bc) + ").", ""]
    L += ["## Published anchors beside illab", "",
          "| environment | method | illab AER | illab perf. | " + " | ".join(ANCHORS) + " |",
          "|---|---|---|---|" + "---|" * len(ANCHORS)]
    keys = []
    for src in ANCHORS.values():
        for key in src:
            if key not in keys:
                keys.append(key)
    for env_a, m in keys:
        ours = [r for r in summary if ANCHOR_ENV.get(r["env_id"], r["env_id"]) == env_a and r["method"] == m]
        ours_txt = [f"{r['aer_mean']:.2f} (`{r['expert_id']}`)" for r in ours] or ["not run"]
        perf_txt = [f"{r['perf_mean']:.3f}" for r in ours] or ["—"]
        anchors = []
        for src in ANCHORS.values():
            a = src.get((env_a, m))
            anchors.append("—" if a is None else (f"{a[0]} \\| {a[1]}" if a[1] is not None else f"{a[0]}"))
        L.append(f"| {env_a} | {m} | {'<br>'.join(ours_txt)} | {'<br>'.join(perf_txt)} | " + " | ".join(anchors) + " |")
    L += ["", "### Where and why illab differs", "",
          "- **Environment versions.** gymnasium 1.x removed `LunarLander-v2`; illab uses `LunarLander-v3` "
          "(fixed wind/turbulence handling and a corrected reset), so LunarLander numbers compare only "
          "approximately. illab's MuJoCo tasks are `-v5`.",
          "- **Leakage-free seeds.** IL-Datasets resets every episode unseeded and selects checkpoints on the "
          "same episodes it reports; illab reports on a disjoint `test` stream whose start states are checked "
          "against every demonstration start state, and selects on a separate `validation` stream. Scores "
          "can be lower than selection-on-test scores, never optimistically biased.",
          "- **Experts and references.** Normalized performance uses illab's own bundled experts and their "
          "reference returns measured on the test stream (random and expert means stored with the expert), "
          "so 1.0 means *this* expert's level; the anchors normalize with their own experts.",
          "- **GAIL's survival bonus.** GAIL's reward `−log(1 − D)` is always positive, so the learner is paid "
          "for every step it stays in an episode. Where episodes end on success (MountainCar, Acrobot) that "
          "teaches it to avoid the goal; runs that reached the goal during training are rescued by model "
          "selection on the validation stream, the others stay near random level. Absorbing states (DAC, "
          "Kostrikov et al. 2019, arXiv 1809.02925) remove this bias; tried here, they did not lift GAIL on "
          "MountainCar (0.08) or MountainCarContinuous (0.12) within the budget — the learner rarely "
          "reaches the goal at all, an exploration problem — so illab's GAIL stays the paper's "
          "(Ho & Ermon 2016, arXiv 1606.03476) with a fixed budget of `total_timesteps` PPO steps, which is "
          "also far below what MuJoCo tasks need (imitation trains GAIL for millions of steps there).",
          "- **ilpyt** reports AER only (no normalized performance) with its own experts and 100 "
          "demonstrations; illab's BCO/DAgger/GAIL budgets are stated in `provenance.json` (`configs`).",
          ""]
    L += ["## Provenance", ""]
    v = meta.get("versions", {})
    L.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    L += [f"Base seed {meta.get('base_seed')}; training seed of a cell = "
          "`illab.seeds.torch_seed(base_seed, '<expert>/<method>/<k>') % 2**31`; created "
          f"{meta.get('created')}; wall time of this invocation {meta.get('wall_seconds')} s (finished cells are "
          "reused), sum of the cells' own wall times "
          f"{sum(float(c.get('wall_seconds') or 0.0) for c in meta.get('cells', [])):.0f} s.", ""]
    L += ["| expert | expert sha256 | dataset content hash | test seeds redrawn |", "|---|---|---|---|"]
    for eid, d in sorted(meta.get("datasets", {}).items()):
        L.append(f"| `{eid}` | `{str(d.get('expert_sha256'))[:16]}…` | `{str(d.get('content_hash'))[:16]}…` | "
                 f"{d.get('test_seeds_replaced', '—')} |")
    walls: dict[tuple[str, str], float] = {}
    for c in meta.get("cells", []):
        walls[(c["expert_id"], c["method"])] = walls.get((c["expert_id"], c["method"]), 0.0) + float(
            c.get("wall_seconds") or 0.0)
    if walls:
        L += ["", "Training + evaluation wall time per environment × method (s, all seeds; cached cells "
              "keep the time of the run that made them):", "",
              "| environment | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for eid, _ in envs:
            L.append(f"| `{eid}` | " + " | ".join(f"{walls[(eid, m)]:.0f}" if (eid, m) in walls else "—"
                                              for m in methods) + " |")
    L += ["", "Machine-readable: `results.csv` (per cell), `summary.csv`, `aggregate.csv`, `provenance.json` "
          "in the output folder.", ""]
    return "\n".join(L)
