"""The benchmark runner: plan the cells, dispatch them to an executor, write the tables.

Datasets are collected (or reused) once per environment in this process before any cell is
dispatched; cells then go to ``executor`` — ``None`` runs them here one after another, a
:class:`concurrent.futures.ProcessPoolExecutor` (``workers=N``: spawn context, one torch thread per
worker) runs them on this machine's cores, and a dask.distributed ``client.get_executor()``
(``scheduler="tcp://host:8786"``) runs them on a cluster — the same code path. Each finished cell
is written atomically to ``<out>/cells/`` as soon as it comes back (an interrupted run resumes
without redoing it); a failing cell is reported with its traceback and does not stop the others;
cells are dispatched longest-expected first (wall times of earlier runs, else a per-method prior).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from illab import experts as registry
from illab.benchmark.cells import (ALL_METHODS, method_config, FULL, FULL_CONFIGS, QUICK, QUICK_CONFIGS, CellTask, EnvSetup,
                                   _make_config, bundled_experts, code_hash, execute_task, make_task, prepare_env)
from illab.benchmark.report import demos_rows, summarize, write_demos, write_reports
from illab.fileio import atomic_write, torch_threads as _torch_threads

PRIOR_SECONDS = {"gail": 120.0, "dagger": 30.0, "bco": 20.0, "bc": 5.0}
"""Expected seconds per cell of a method never timed before (only the order matters)."""


@dataclass
class BenchmarkResult:
    """What :func:`run` produced.

    Attributes:
        cells: one dict per finished cell (fields of :data:`RESULT_FIELDS` + ``returns``).
        summary: one dict per environment × method (:data:`SUMMARY_FIELDS`).
        aggregate: one dict per method (:data:`AGGREGATE_FIELDS`).
        missing: ``(expert_id, method, k)`` cells not run (``--report-only`` or failures).
        out: the output folder; ``markdown`` the Markdown path.
        failed: ``{(expert_id, method, k): traceback text}`` of cells that raised.
    """

    cells: list[dict]
    summary: list[dict]
    aggregate: list[dict]
    missing: list[tuple[str, str, int]]
    out: Path
    markdown: Path
    failed: dict = field(default_factory=dict)

    def perf(self, expert_id: str, method: str) -> float:
        """Mean normalized performance of ``method`` on ``expert_id`` (KeyError if absent)."""
        for row in self.summary:
            if row["expert_id"] == expert_id and row["method"] == method:
                return row["perf_mean"]
        raise KeyError(f"no result for {expert_id!r} × {method!r}")


def _find_cell(cells_dir: Path, eid: str, method: str, k: int, base_seed: int) -> dict | None:
    """Latest finished cell for (eid, method, k) with ``base_seed`` (``--report-only``)."""
    found = []
    for p in sorted(cells_dir.glob(f"{eid}__{method}__s{k}__*.json")):
        c = json.loads(p.read_text())
        if c.get("base_seed", 0) == base_seed:
            found.append((p.stat().st_mtime, p.name, c))
    return max(found, key=lambda t: (t[0], t[1]))[2] if found else None


def expected_seconds(cells_dir: Path, out: Path) -> dict[tuple[str, str], float]:
    """Mean wall time per (expert, method) cell from earlier runs: finished cells in ``cells_dir``
    (any fingerprint) and ``out/provenance.json``; used to dispatch the longest cells first."""
    times: dict[tuple[str, str], list[float]] = {}
    prov = out / "provenance.json"
    if prov.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            for c in json.loads(prov.read_text()).get("cells", []):
                if c.get("wall_seconds") is not None:
                    times.setdefault((c["expert_id"], c["method"]), []).append(float(c["wall_seconds"]))
    for p in cells_dir.glob("*__*__s*__*.json") if cells_dir.is_dir() else []:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            c = json.loads(p.read_text())
            times.setdefault((c["expert_id"], c["method"]), []).append(float(c["wall_seconds"]))
    return {k: sum(v) / len(v) for k, v in times.items()}


def _estimate(known: dict, eid: str, method: str) -> float:
    if (eid, method) in known:
        return known[(eid, method)]
    same = [v for (e, m), v in known.items() if m == method]
    return sum(same) / len(same) if same else PRIOR_SECONDS.get(method, 60.0)


@dataclass
class _Table:
    """One table to produce: an output folder and the number of demonstrations per environment."""

    out: Path
    episodes: int
    markdown: str | os.PathLike | None = None
    setups: dict[str, EnvSetup] = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)
    missing: list[tuple[str, str, int]] = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    pending: list[tuple[CellTask, Path]] = field(default_factory=list)

    @property
    def cells_dir(self) -> Path:
        return self.out / "cells"


def _describe(executor, workers: int | None, scheduler: str | None) -> str:
    if scheduler:
        return f"dask.distributed scheduler {scheduler}"
    if workers and workers > 1:
        return f"{workers} local worker processes"
    if executor is not None:
        return type(executor).__name__
    return "1 process"


@contextlib.contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None):
    """The executor for ``workers`` local processes or a dask ``scheduler`` address (``None`` when
    cells should run in this process: ``workers`` in (None, 1) and no scheduler); shut down on exit.

    Local processes use the spawn context (no forked torch/OpenMP state) and one torch thread each.
    A scheduler address connects a ``dask.distributed.Client`` and uses ``client.get_executor()``.

    Raises:
        ValueError: ``workers < 1``, or both ``workers > 1`` and ``scheduler``.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler and workers and workers > 1:
        raise ValueError("give either --workers (local processes) or --scheduler (a dask cluster), not both")
    if scheduler:
        from dask.distributed import Client
        with Client(scheduler) as client:
            yield client.get_executor(pure=False)
        return
    if not workers or workers == 1:
        yield None
        return
    import multiprocessing
    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _dispatch(tasks: list[tuple[CellTask, _Table, Path]], executor, bar, log: Callable[[str], None]) -> None:
    """Run ``tasks`` (longest expected first) inline or on ``executor``; store each result as it lands."""
    tasks = sorted(tasks, key=lambda t: -t[0].expected_seconds)

    def land(res: dict, task: CellTask, table: _Table, path: Path) -> None:
        if res.get("ok"):
            cell = res["cell"]
            atomic_write(path, json.dumps(cell, indent=1) + "\n")
            table.cells.append(cell)
        else:
            table.failed[task.key] = res["error"]
            table.missing.append(task.key)
            log(f"cell {'/'.join(map(str, task.key))} failed (the others go on):\n{res['error']}")
        bar.update(1)

    if executor is None:
        for task, table, path in tasks:
            bar.set_postfix_str(f"{task.expert_id} {task.method} seed {task.k}")
            land(execute_task(task), task, table, path)
        return
    futures = {executor.submit(execute_task, task): (task, table, path) for task, table, path in tasks}
    try:
        for fut in cf.as_completed(futures):
            task, table, path = futures[fut]
            try:
                res = fut.result()
            except BaseException as e:  # the worker died (killed, out of memory) or the result was lost
                if isinstance(e, KeyboardInterrupt):
                    raise
                import traceback
                res = {"ok": False, "key": task.key, "error": "".join(traceback.format_exception(e))}
            land(res, task, table, path)
    finally:
        for fut in futures:
            fut.cancel()


def _run_tables(tables: list[_Table], envs: list[str], methods: list[str], seeds: int, *, base_seed: int,
                test_episodes: int, configs: dict, eval_episodes, data_dir, threads, atol, collect, load_dataset,
                methods_registry, custom_registry: bool, executor, workers, scheduler, report_only: bool,
                progress: bool, torch_threads, quick: bool = False) -> None:
    from tqdm.auto import tqdm
    total = len(tables) * len(envs) * len(methods) * seeds
    bar = tqdm(total=total, desc="benchmark", unit="cell", disable=not progress, smoothing=0.1)
    def log(s: str) -> None:
        (tqdm.write(s, file=sys.stderr) if progress else print(s, file=sys.stderr))

    try:
        if report_only:
            for t in tables:
                for eid in envs:
                    for m in methods:
                        for k in range(seeds):
                            found = _find_cell(t.cells_dir, eid, m, k, base_seed)
                            (t.cells.append(found) if found else t.missing.append((eid, m, k)))
                            bar.update(1)
            return
        codes = {m: code_hash(methods_registry[m]) for m in methods}
        todo: list[tuple[CellTask, _Table, Path]] = []
        with _torch_threads(torch_threads) if torch_threads is not None else contextlib.nullcontext():
            for t in tables:  # every dataset is ready before the first cell is dispatched
                known = expected_seconds(t.cells_dir, t.out)
                for eid in envs:
                    bar.set_postfix_str(f"{eid}: demonstrations (n={t.episodes})")
                    setup = t.setups[eid] = prepare_env(eid, t.episodes, data_dir, base_seed=base_seed,
                                                        test_episodes=test_episodes, threads=threads, atol=atol,
                                                        collect=collect, load_dataset=load_dataset)
                    for m in methods:
                        for k in range(seeds):
                            config = method_config(methods_registry[m], setup.env_id, configs.get(m), quick,
                                                   expert_id=eid)
                            task = make_task(setup, m, k, base_seed=base_seed, config=config,
                                             eval_episodes=eval_episodes, code=codes[m],
                                             methods_registry=methods_registry if custom_registry else None,
                                             load_dataset=load_dataset, expected_seconds=_estimate(known, eid, m))
                            path = t.cells_dir / f"{eid}__{m}__s{k}__{task.fingerprint[:12]}.json"
                            if path.exists():
                                t.cells.append(json.loads(path.read_text()))
                            else:
                                todo.append((task, t, path))
            reused = total - len(todo)
            bar.reset(total=len(todo))  # the ETA counts only cells that run now
            bar.set_description(f"benchmark ({reused} cells reused)" if reused else "benchmark")
            if executor is not None:
                _dispatch(todo, executor, bar, log)
            else:
                with open_executor(workers, scheduler) as ex:
                    _dispatch(todo, ex, bar, log)
    finally:
        bar.close()


def _count(value, name: str) -> int:
    """A positive number of episodes, or a ``ValueError`` naming the argument."""
    from illab.checks import count
    return count(value, name, minimum=1)


def _resolve(envs, methods, seeds, quick, test_episodes, configs, methods_registry, report_only):
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    envs = list(envs) if envs else (list(QUICK["envs"]) if quick else bundled_experts())
    methods = list(methods) if methods else list(ALL_METHODS)
    for eid in envs:
        registry.get(eid).reference_returns()  # unknown id / no reference returns: fail before any work
    custom = methods_registry is not None
    if methods_registry is None and not report_only:
        from illab.methods import METHODS as methods_registry
    if methods_registry is not None:
        unknown = [m for m in methods if m not in methods_registry]
        if unknown:
            raise KeyError(f"unknown method(s) {unknown}; known: {', '.join(sorted(methods_registry))}")
    defaults = QUICK if quick else FULL
    test_episodes = defaults["test_episodes"] if test_episodes is None else _count(test_episodes, "test_episodes")
    configs = dict(QUICK_CONFIGS if quick else FULL_CONFIGS, **(configs or {}))
    if methods_registry is not None:
        for m in methods:  # unknown config fields fail here, before any dataset or cell
            _make_config(methods_registry[m], configs.get(m))
    return envs, methods, test_episodes, configs, methods_registry, custom


def run(envs: Sequence[str] | None = None, methods: Sequence[str] | None = None, seeds: int = 3,
        out: str | os.PathLike = "results", *, quick: bool = False, episodes: int | None = None,
        test_episodes: int | None = None, base_seed: int = 0, configs: dict[str, dict] | None = None,
        eval_episodes: int | None = None, markdown: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None, threads: int = 1, atol: float = 1e-6,
        report_only: bool = False, progress: bool = True, command: str | None = None,
        torch_threads: int | None = 1, collect: Callable | None = None, load_dataset: Callable | None = None,
        methods_registry: dict | None = None, executor: cf.Executor | None = None, workers: int | None = None,
        scheduler: str | None = None) -> BenchmarkResult:
    """Run (or resume) the benchmark and write its tables.

    Args:
        envs: expert ids (default: every bundled expert; ``--quick``: ``cartpole``).
        methods: method names (default ``bc, bco, dagger, gail``).
        seeds: training seeds per cell (>= 1).
        out: output folder (``cells/``, ``data/``, CSVs, ``provenance.json``, ``BENCHMARKS.md``).
        quick: tiny budgets (:data:`QUICK`, :data:`QUICK_CONFIGS`) for CI.
        episodes: demonstrations per environment (default 100; quick 10).
        test_episodes: test episodes per cell (default 100; quick 20).
        base_seed: base seed of all streams, training seeds and the bootstrap.
        configs: per-method config overrides (default :data:`FULL_CONFIGS` / :data:`QUICK_CONFIGS`).
        eval_episodes: validation episodes passed to ``fit`` (method default if None).
        markdown: also write the Markdown report here (e.g. ``BENCHMARKS.md``).
        data_dir: where datasets live (default ``<out>/data``; share it to reuse datasets; on a
            cluster it must be storage every worker reads).
        threads: Controller workers for collection.
        atol: leakage tolerance.
        report_only: run nothing; write the tables from the cells already on disk.
        progress: one tqdm progress bar over cells (with ETA).
        command: the command line recorded in the report.
        torch_threads: torch threads in this process while datasets are prepared (``None`` leaves
            it). Every cell runs with one torch thread wherever it runs: faster for these small
            networks on a busy machine (OpenMP threads spin) and float results independent of the
            core count, so the CSVs are identical for any executor.
        collect, load_dataset, methods_registry: injectable pieces (defaults: the Controller,
            ``BaselineDataset``, :data:`illab.methods.METHODS`); with an executor they must be
            picklable (module-level).
        executor: a :class:`concurrent.futures.Executor` to run the cells on (e.g. a
            ``ProcessPoolExecutor`` or a dask ``client.get_executor()``); it is not shut down here.
        workers: without ``executor``: that many local worker processes (1 or ``None``: in this
            process).
        scheduler: without ``executor``: the address of a dask.distributed scheduler.

    Returns:
        :class:`BenchmarkResult` (``failed`` lists cells that raised; they are also in ``missing``).

    Raises:
        ValueError: ``seeds < 1`` / ``workers < 1``, unknown method config fields, a mismatching
            dataset on disk.
        KeyError: unknown expert id or method name.
        LeakageError: the leakage check failed for an environment (nothing is reported).
    """
    envs, methods, test_episodes, configs, methods_registry, custom = _resolve(
        envs, methods, seeds, quick, test_episodes, configs, methods_registry, report_only)
    episodes = (QUICK if quick else FULL)["episodes"] if episodes is None else _count(episodes, "episodes")
    out = Path(out)
    data_dir = Path(data_dir) if data_dir is not None else out / "data"
    t_start = time.perf_counter()
    table = _Table(out, episodes, markdown)
    _run_tables([table], envs, methods, seeds, base_seed=base_seed, test_episodes=test_episodes, configs=configs, quick=quick,
                eval_episodes=eval_episodes, data_dir=data_dir, threads=threads, atol=atol, collect=collect,
                load_dataset=load_dataset, methods_registry=methods_registry, custom_registry=custom,
                executor=executor, workers=workers, scheduler=scheduler, report_only=report_only,
                progress=progress, torch_threads=torch_threads)
    meta = {"envs": envs, "methods": methods, "seeds": seeds, "base_seed": base_seed, "episodes": episodes,
            "test_episodes": test_episodes, "quick": quick, "configs": configs, "atol": atol, "command": command,
            "wall_seconds": round(time.perf_counter() - t_start, 1),
            "executor": _describe(executor, workers, scheduler)}
    return _finish(table, meta)


def _finish(table: _Table, meta: dict) -> BenchmarkResult:
    if table.failed:
        meta["failed"] = [{"key": list(k), "traceback": tb} for k, tb in sorted(table.failed.items())]
    summary, aggregate = summarize(table.cells)
    md = write_reports(table.out, table.cells, summary, aggregate, sorted(table.missing), table.setups,
                       markdown=table.markdown, meta=meta)
    return BenchmarkResult(table.cells, summary, aggregate, sorted(table.missing), table.out, md,
                           dict(table.failed))


def sweep(demos: Sequence[int], envs: Sequence[str] | None = None, methods: Sequence[str] | None = None,
          seeds: int = 3, out: str | os.PathLike = "results", *, quick: bool = False,
          test_episodes: int | None = None, base_seed: int = 0, configs: dict[str, dict] | None = None,
          eval_episodes: int | None = None, data_dir: str | os.PathLike | None = None, threads: int = 1,
          atol: float = 1e-6, report_only: bool = False, progress: bool = True, command: str | None = None,
          torch_threads: int | None = 1, collect: Callable | None = None, load_dataset: Callable | None = None,
          methods_registry: dict | None = None, executor: cf.Executor | None = None, workers: int | None = None,
          scheduler: str | None = None) -> dict[int, BenchmarkResult]:
    """The benchmark at several numbers of demonstrations (``python -m illab benchmark --demos 1 5 10 25 100``).

    Every (number of demonstrations, environment, method, seed) cell is dispatched together (one
    progress bar, longest first). Each number ``n`` gets its own table in ``<out>/demos/n<n>/``
    (the same files as :func:`run`; datasets shared in ``data_dir``, default ``<out>/data``), and
    ``<out>/demos.csv`` + ``<out>/demos.png`` hold the IQM normalized performance (95 % CI) per
    method against ``n``; the main report rendered from ``<out>`` links the plot.

    Args:
        demos: numbers of demonstration episodes (each >= 1, no repeats).
        The others: as :func:`run`.

    Returns:
        ``{n: BenchmarkResult}``.

    Raises:
        ValueError: an empty, repeated or non-positive ``demos``; and as :func:`run`.
    """
    demos = [int(n) for n in demos]
    if not demos or min(demos) < 1 or len(set(demos)) != len(demos):
        raise ValueError(f"--demos needs distinct numbers of episodes >= 1, got {demos}")
    envs, methods, test_episodes, configs, methods_registry, custom = _resolve(
        envs, methods, seeds, quick, test_episodes, configs, methods_registry, report_only)
    out = Path(out)
    data_dir = Path(data_dir) if data_dir is not None else out / "data"
    t_start = time.perf_counter()
    tables = [_Table(out / "demos" / f"n{n}", n) for n in sorted(demos)]
    _run_tables(tables, envs, methods, seeds, base_seed=base_seed, test_episodes=test_episodes, configs=configs, quick=quick,
                eval_episodes=eval_episodes, data_dir=data_dir, threads=threads, atol=atol, collect=collect,
                load_dataset=load_dataset, methods_registry=methods_registry, custom_registry=custom,
                executor=executor, workers=workers, scheduler=scheduler, report_only=report_only,
                progress=progress, torch_threads=torch_threads)
    wall = round(time.perf_counter() - t_start, 1)
    results = {}
    for t in tables:
        meta = {"envs": envs, "methods": methods, "seeds": seeds, "base_seed": base_seed, "episodes": t.episodes,
                "test_episodes": test_episodes, "quick": quick, "configs": configs, "atol": atol,
                "command": command, "wall_seconds": wall, "executor": _describe(executor, workers, scheduler)}
        results[t.episodes] = _finish(t, meta)
    write_demos(out, demos_rows({n: r.cells for n, r in results.items() if r.cells}, seed=base_seed))
    return results
