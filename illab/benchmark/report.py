"""Tables of the benchmark: summaries, aggregates with confidence intervals, the Markdown report.

Everything here is a pure function of finished cells (or of the CSVs written from them), so
``markdown_report(*read_tables(out))`` reproduces ``BENCHMARKS.md`` byte for byte. The published
anchors, reference returns and the report's prose live in the package data file
``illab/benchmark/references.json``, not in code.

Aggregates (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice",
arXiv 2108.13264): the interquartile mean (IQM) over runs is ``rliable.metrics.aggregate_iqm``;
its 95 % confidence interval is a stratified percentile bootstrap — runs (training seeds)
resampled with replacement within each task (environment), as rliable's ``StratifiedBootstrap`` —
drawn from a generator seeded with the base seed, so the interval is identical on every render.
(rliable's own ``library`` module is not used: it imports ``arch``, whose releases rliable allows
fail to import with pandas 3, and its ``StratifiedBootstrap`` draws from numpy's global RNG.)
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import time
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from illab.benchmark.cells import (AGGREGATE_FIELDS, CLASSIC_CONTROL, RESULT_FIELDS, SUMMARY_FIELDS,
                                   versions)
from illab.evaluate import normalized_performance
from illab.fileio import atomic_write

REFERENCES: dict = json.loads(resources.files("illab.benchmark").joinpath("references.json").read_text("utf-8"))
"""The package data file ``references.json``: anchors, published reference returns, report prose."""

ANCHORS: dict[str, dict[tuple[str, str], tuple[float, float | None]]] = {
    source: {(env, method): (aer, perf) for env, method, aer, perf in rows}
    for source, rows in REFERENCES["anchors"].items()}
"""Published anchors placed beside illab's table: ``{source: {(env_id, method): (AER, normalized or None)}}``."""

ANCHOR_ENV: dict[str, str] = {k: v for k, v in REFERENCES["anchor_env"].items() if not k.startswith("_")}
"""illab expert id → the environment id its anchors were published for (when the ids differ)."""

BOOTSTRAP_REPS = 10_000
"""Bootstrap resamples for the IQM confidence intervals."""

DEMOS_FIELDS = ("demonstrations", "method", "n_envs", "n_runs", "perf_mean", "perf_iqm", "iqm_low", "iqm_high")
DEMOS_IMAGE = "demos.png"


# ---- aggregation ------------------------------------------------------------------------------

COLUMN_ORDER = ("bc", "bco", "abco", "iupe", "dagger", "gail", "airl", "gcl", "appl", "sqil", "iqlearn")
"""Column order of the tables: by family (cloning, observation-only, interactive, adversarial, inverse RL,
off-policy); a method not listed comes after them, alphabetically."""


def method_order(m: str):
    """Sort key of a method's column: its place in :data:`COLUMN_ORDER`, then the others alphabetically."""
    return (COLUMN_ORDER.index(m) if m in COLUMN_ORDER else len(COLUMN_ORDER), m)


def iqm(scores) -> float:
    """Interquartile mean (25 % trimmed mean) of ``scores`` (any shape, flattened): rliable's
    ``aggregate_iqm`` (arXiv 2108.13264).

    Raises:
        ValueError: empty input or non-finite values.
    """
    from rliable import metrics
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        raise ValueError("the IQM of an empty list of scores is undefined")
    if not np.all(np.isfinite(x)):
        raise ValueError("IQM: scores contain NaN or infinity")
    return float(metrics.aggregate_iqm(x))


def score_matrix(cells: Sequence[dict], method: str) -> np.ndarray | None:
    """``(n_seeds, n_envs)`` float64 matrix of per-run normalized performance (``perf_mean``) of
    ``method``, environments in sorted order; ``None`` unless every environment has the same seeds
    (a stratified bootstrap needs complete strata)."""
    by_env: dict[str, dict[int, float]] = {}
    for c in cells:
        if c["method"] == method:
            by_env.setdefault(c["expert_id"], {})[int(c["seed_index"])] = float(c["perf_mean"])
    if not by_env:
        return None
    seeds = {tuple(sorted(d)) for d in by_env.values()}
    if len(seeds) != 1:
        return None
    order = sorted(seeds.pop())
    return np.array([[by_env[e][k] for e in sorted(by_env)] for k in order], dtype=np.float64)


def iqm_interval(scores: np.ndarray, *, seed: int = 0, reps: int = BOOTSTRAP_REPS,
                 size: float = 0.95) -> tuple[float, float]:
    """Stratified percentile-bootstrap confidence interval of the IQM of ``scores``.

    Args:
        scores: ``(n_runs, n_tasks)`` float matrix; runs are resampled with replacement within
            each task (column), tasks are kept (rliable's ``StratifiedBootstrap`` with
            ``task_bootstrap=False``, arXiv 2108.13264).
        seed: seed of the resampling generator (the benchmark's base seed).
        reps: number of resamples. size: coverage (0.95 → 2.5 and 97.5 percentiles).

    Returns:
        ``(low, high)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty (n_runs, n_tasks) matrix, got shape {scores.shape}")
    n_runs, n_tasks = scores.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))
    samples = scores[idx, np.arange(n_tasks)[None, None, :]].reshape(reps, -1)
    stats = _trim_mean_rows(samples)
    lo, hi = np.percentile(stats, [100 * (1 - size) / 2, 100 * (1 + size) / 2])
    return float(lo), float(hi)


def _trim_mean_rows(samples: np.ndarray) -> np.ndarray:
    """``scipy.stats.trim_mean(row, 0.25)`` for every row (what ``aggregate_iqm`` computes), vectorized."""
    import scipy.stats
    return scipy.stats.trim_mean(samples, proportiontocut=0.25, axis=1)


def summarize(cells: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per environment × method summary and per method aggregate of finished cells.

    Summary: AER and normalized performance mean ± std over the pooled test episodes of all
    training seeds, and ``perf_seed_std`` (std of the per-seed means). Aggregate: over runs
    (environment × seed) of each method, ``perf_mean`` and ``perf_iqm`` (:func:`iqm`).
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
    for method in sorted({c["method"] for c in cells}, key=method_order):
        runs = [c["perf_mean"] for c in cells if c["method"] == method]
        aggregate.append({"method": method, "n_envs": len({c["expert_id"] for c in cells if c["method"] == method}),
                          "n_runs": len(runs), "perf_mean": float(np.mean(runs)), "perf_iqm": iqm(runs)})
    return summary, aggregate


def reference_normalized(expert_id: str, env_id: str, aer_mean: float, aer_std: float,
                         expert_return: float | None) -> tuple[float, float, str] | None:
    """AER normalized by *published* reference returns: ``((aer − random) / (expert − random),
    aer_std / (expert − random), source)``, or ``None`` where none are published.

    The references (``references.json``): D4RL's random/expert returns (Fu et al. 2020,
    arXiv 2004.07219, ``d4rl/infos.py``, measured on MuJoCo ``-v2``) and IL-Datasets' random returns
    for classic control (arXiv 2403.00550), completed by ``expert_return`` (illab's expert) where the
    source publishes no expert return. The mean of per-episode normalized scores equals the
    normalized mean (the map is affine), so the summary's AER suffices.
    """
    family = env_id.split("-v")[0]
    ref = REFERENCES["reference_returns"].get(family)
    if ref is None or (ref.get("experts") is not None and expert_id not in ref["experts"]):
        return None
    rnd, exp = ref["random"], ref["expert"] if ref["expert"] is not None else expert_return
    if exp is None or exp == rnd:
        return None
    return (aer_mean - rnd) / (exp - rnd), aer_std / abs(exp - rnd), ref["source"]


def demos_rows(cells_by_n: dict[int, list[dict]], *, seed: int = 0) -> list[dict]:
    """Per (number of demonstrations, method): mean, IQM and its 95 % CI of per-run normalized
    performance (:data:`DEMOS_FIELDS`), for the ``--demos`` sweep."""
    rows = []
    for n in sorted(cells_by_n):
        cells = cells_by_n[n]
        for method in sorted({c["method"] for c in cells}, key=method_order):
            runs = [float(c["perf_mean"]) for c in cells if c["method"] == method]
            m = score_matrix(cells, method)
            lo, hi = iqm_interval(m, seed=seed) if m is not None else (float("nan"), float("nan"))
            rows.append({"demonstrations": n, "method": method,
                         "n_envs": len({c["expert_id"] for c in cells if c["method"] == method}),
                         "n_runs": len(runs), "perf_mean": float(np.mean(runs)), "perf_iqm": iqm(runs),
                         "iqm_low": lo, "iqm_high": hi})
    return rows


def plot_demos(rows: list[dict], path: str | os.PathLike) -> Path:
    """Save the sweep's plot to ``path`` (PNG): IQM normalized performance (with its 95 % CI band)
    against the number of demonstrations (log axis), one line per method."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for method in sorted({r["method"] for r in rows}, key=method_order):
        rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["demonstrations"])
        x = [r["demonstrations"] for r in rs]
        ax.plot(x, [r["perf_iqm"] for r in rs], marker="o", label=method)
        ax.fill_between(x, [r["iqm_low"] for r in rs], [r["iqm_high"] for r in rs], alpha=0.2)
    ax.set_xscale("log")
    ns = sorted({r["demonstrations"] for r in rows})
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("demonstrations (episodes)")
    ax.set_ylabel("normalized performance (IQM, 95% CI)")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


# ---- files ------------------------------------------------------------------------------------

def csv_text(rows: list[dict], fields: Sequence[str]) -> str:
    """``rows`` as CSV text with ``fields`` as header; floats with 6 decimals (deterministic)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in ((k, row.get(k)) for k in fields)})
    return buf.getvalue()


def write_reports(out: Path, cells: list[dict], summary: list[dict], aggregate: list[dict],
                  missing: list, setups: dict, *, markdown=None, meta: dict) -> Path:
    """Write ``results.csv``, ``summary.csv``, ``aggregate.csv`` (deterministic), ``provenance.json``
    and ``BENCHMARKS.md`` (with wall times) into ``out``; copy the Markdown to ``markdown`` if given."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(cells, key=lambda c: (c["expert_id"], method_order(c["method"]), c["seed_index"]))
    atomic_write(out / "results.csv", csv_text(ordered, RESULT_FIELDS))
    atomic_write(out / "summary.csv", csv_text(summary, SUMMARY_FIELDS))
    atomic_write(out / "aggregate.csv", csv_text(aggregate, AGGREGATE_FIELDS))
    datasets = {eid: {"path": str(s.dataset_path), "content_hash": s.dataset_hash, "expert_sha256": s.expert_sha256,
                      "reused": not s.collected, "test_seeds": s.test_seeds.tolist(), "test_seeds_replaced": s.replaced,
                      "reference_returns": {"random": s.reference[0], "expert": s.reference[1]}}
                for eid, s in setups.items()}
    for c in ordered:  # --report-only: provenance from the cells themselves
        datasets.setdefault(c["expert_id"], {"content_hash": c["dataset_hash"], "expert_sha256": c["expert_sha256"]})
    provenance = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions(),
                  "python": platform.python_version(), **meta, "datasets": datasets,
                  "cells": [{k: c.get(k) for k in ("expert_id", "method", "seed_index", "train_seed", "wall_seconds",
                                                   "fingerprint", "config")} for c in ordered],
                  "missing": [list(m) for m in missing]}
    atomic_write(out / "provenance.json", json.dumps(provenance, indent=1, default=str) + "\n")
    # render from exactly what the files hold, so read_tables(out) reproduces the Markdown
    text = markdown_report(*read_tables(out))
    md = atomic_write(out / "BENCHMARKS.md", text)
    if markdown is not None:
        md = atomic_write(Path(markdown), text)
    return md


def write_demos(out: Path, rows: list[dict]) -> Path:
    """Write the sweep's ``demos.csv`` and ``demos.png`` into ``out``; returns the CSV path."""
    out = Path(out)
    path = atomic_write(out / "demos.csv", csv_text(rows, DEMOS_FIELDS))
    plot_demos(rows, out / DEMOS_IMAGE)
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_tables(out: str | os.PathLike) -> tuple[list[dict], list[dict], dict, list[dict] | None, dict | None]:
    """``(summary, aggregate, provenance, results, demos)`` read back from the files :func:`run` wrote
    into ``out`` (numbers as floats/ints); ``markdown_report(*read_tables(out))`` is the
    ``BENCHMARKS.md`` it wrote. ``results`` is ``None`` without ``results.csv``; ``demos`` is
    ``None`` unless a ``--demos`` sweep wrote ``demos.csv`` (then ``{"rows": [...], "image":
    "<out folder name>/demos.png"}``, a link valid beside the output folder, as ``BENCHMARKS.md``
    beside ``results/``).

    Raises:
        FileNotFoundError: ``out`` lacks ``summary.csv``, ``aggregate.csv`` or ``provenance.json``.
    """
    out = Path(out)
    results = _rows(out / "results.csv") if (out / "results.csv").exists() else None
    demos = None
    if (out / "demos.csv").exists():
        demos = {"rows": _rows(out / "demos.csv"), "image": f"{out.resolve().name}/{DEMOS_IMAGE}"}
    return (_rows(out / "summary.csv"), _rows(out / "aggregate.csv"), json.loads((out / "provenance.json").read_text()),
            results, demos)


def merge_tables(outs: Sequence[str | os.PathLike], *, allow_different_datasets: bool = False
                 ) -> tuple[list[dict], list[dict], dict, list[dict] | None, dict | None]:
    """The tables of several benchmark output folders as one report's ``(summary, aggregate,
    provenance, results, demos)`` (:func:`read_tables`'s tuple; ``markdown_report(*merge_tables(...))``
    is one ``BENCHMARKS.md`` with every folder's methods as columns).

    The folders hold the same protocol run for different methods (e.g. ``results/`` for the default
    methods, ``results/observation/`` and ``results/offpolicy/`` for the others): their cells are
    concatenated, the provenance's ``command`` joins the folders' commands, ``cells`` / ``missing`` /
    ``configs`` / ``datasets`` are united and ``wall_seconds`` summed; the first folder's sweep
    (``demos``) is kept.

    ``allow_different_datasets``: folders whose demonstrations for one environment differ (same expert,
    seed and protocol, other bytes — e.g. a continuous-action expert's rollouts collected on another CPU)
    are merged anyway; each column keeps its own folder's dataset, and the report says so
    (``provenance["different_datasets"]``: expert id → the folders' content hashes).

    Raises:
        FileNotFoundError: a folder lacks a table (see :func:`read_tables`).
        ValueError: no folder given; the folders differ in the protocol (base seed, number of
            demonstrations, test episodes, quick mode) or in an environment's dataset (content
            hash) or expert (sha256), or two folders both hold a method on the same environment — the fix is
            to re-run one of them with the other's settings, or to leave the method out of one.
    """
    if not outs:
        raise ValueError("merge_tables needs at least one benchmark output folder")
    tables = [(Path(o), read_tables(o)) for o in outs]
    summary: list[dict] = []
    aggregate: list[dict] = []
    results: list[dict] = []
    seen: dict[tuple[str, str], Path] = {}
    base = dict(tables[0][1][2])
    meta = {**base, "command": [], "cells": [], "missing": [], "configs": {}, "datasets": {}, "wall_seconds": 0.0,
            "envs": [], "methods": []}
    demos = tables[0][1][4]
    for out, (summ, agg, prov, res, _) in tables:
        for key in ("base_seed", "episodes", "test_episodes", "quick"):
            if prov.get(key) != base.get(key):
                raise ValueError(f"{out} was run with {key}={prov.get(key)!r}, {tables[0][0]} with "
                                 f"{base.get(key)!r}: merge only folders of one protocol (re-run one of them)")
        for eid, d in prov.get("datasets", {}).items():
            old = meta["datasets"].setdefault(eid, d)
            for h in ("expert_sha256", "content_hash"):
                if old.get(h) == d.get(h):
                    continue
                if h == "content_hash" and allow_different_datasets:
                    hashes = meta.setdefault("different_datasets", {}).setdefault(eid, {})
                    hashes.setdefault(str(tables[0][0]), old.get(h))
                    hashes[str(out)] = d.get(h)
                    continue
                raise ValueError(f"{out}: the {eid} {h} differs from another folder's ({str(d.get(h))[:16]}… vs "
                                 f"{str(old.get(h))[:16]}…): the folders used different data; re-run one with "
                                 f"the other's --data" + (", or allow different datasets (each column keeps its "
                                                          "own)" if h == "content_hash" else ""))
        for r in summ:
            key = (r["expert_id"], r["method"])
            if key in seen:
                raise ValueError(f"{key[1]} on {key[0]} is in both {seen[key]} and {out}: leave it out of one")
            seen[key] = out
        summary += summ
        aggregate += agg
        results += res or []
        meta["command"].append(str(prov.get("command", f"(tables of {out})")))
        meta["cells"] += prov.get("cells", [])
        meta["missing"] += prov.get("missing", [])
        meta["configs"].update(prov.get("configs") or {})
        meta["wall_seconds"] = round(meta["wall_seconds"] + float(prov.get("wall_seconds") or 0.0), 1)
        meta["envs"] += [e for e in prov.get("envs", []) if e not in meta["envs"]]
        meta["methods"] += [m for m in prov.get("methods", []) if m not in meta["methods"]]
    meta["command"] = "\n".join(meta["command"])
    summary.sort(key=lambda r: (r["expert_id"], method_order(r["method"])))
    aggregate.sort(key=lambda a: method_order(a["method"]))
    return summary, aggregate, meta, results or None, demos


def _parse(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _pm(mean, std, digits=2):
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _ci(lo, hi):
    return "—" if lo is None or not np.isfinite(lo) else f"[{lo:.3f}, {hi:.3f}]"


# ---- the Markdown report ------------------------------------------------------------------------

def markdown_report(summary: list[dict], aggregate: list[dict], provenance: dict,
                    results: list[dict] | None = None, demos: dict | None = None) -> str:
    """The Markdown report: results table, aggregates (IQM with 95 % CI when ``results`` — the rows
    of ``results.csv`` — are given), scores normalized by published references, the ``--demos``
    sweep, anchors with the differences, provenance."""
    text = REFERENCES
    methods = sorted({r["method"] for r in summary}, key=method_order)
    envs = []
    for r in summary:
        if (r["expert_id"], r["env_id"]) not in envs:
            envs.append((r["expert_id"], r["env_id"]))
    cell = {(r["expert_id"], r["method"]): r for r in summary}
    meta = provenance
    L = ["# illab benchmark", ""]
    if meta.get("command"):
        L += ["Produced by:", "", "```", meta["command"], "```", ""]
    L += [text["protocol"].format(episodes=meta.get("episodes"), seeds=meta.get("seeds"),
                                  test_episodes=meta.get("test_episodes"), atol=meta.get("atol")), ""]
    if meta.get("quick"):
        L += ["**Quick mode** (tiny budgets, for CI): these numbers are not the published table.", ""]
    if meta.get("missing"):
        miss = ", ".join(f"{e}/{m}/s{k}" for e, m, k in meta["missing"])
        L += [f"**Incomplete**: {len(meta['missing'])} cell(s) not finished yet: {miss}. "
              "Re-run the same command to resume (finished cells are kept).", ""]
    if meta.get("different_datasets"):
        diff = "; ".join(f"`{eid}` (" + ", ".join(f"{Path(f).name or f} `{str(h)[:12]}…`" for f, h in hs.items())
                         + ")" for eid, hs in sorted(meta["different_datasets"].items()))
        L += [f"**Different demonstrations per folder** for {len(meta['different_datasets'])} environment(s): "
              f"{diff}. Same expert, seeds and protocol; each column was trained and tested on its own folder's "
              "dataset.", ""]
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
    if results is not None:
        seed = int(meta.get("base_seed") or 0)
        iqms = []
        for m in methods:
            mat = score_matrix(results, m)
            if mat is None:
                iqms.append(f"{agg[m]['perf_iqm']:.3f}" if m in agg else "—")
            else:
                iqms.append(f"{iqm(mat):.3f}<br>{_ci(*iqm_interval(mat, seed=seed))}")
        L.append("| **IQM** over runs [95% CI] | | " + " | ".join(iqms) + " |")
    else:
        L.append("| **IQM** over runs | | " + " | ".join(f"{agg[m]['perf_iqm']:.3f}" if m in agg else "—"
                                                      for m in methods) + " |")
    L += ["", text["aggregate_note"].format(reps=f"{BOOTSTRAP_REPS:,}"), ""]
    bc = [(r["env_id"], r["perf_mean"]) for r in summary if r["method"] == "bc" and r["env_id"] in CLASSIC_CONTROL]
    if bc:
        ok = all(p >= 0.95 for _, p in bc)
        L += [f"Acceptance — BC ≥ 0.95 normalized on every classic-control environment: "
              f"**{'yes' if ok else 'no'}** (" + ", ".join(f"{e} {p:.3f}" for e, p in bc) + ").", ""]
    L += _reference_section(envs, methods, cell, results)
    if demos:
        L += _demos_section(demos)
    L += _anchor_section(summary)
    L += _provenance_section(meta, envs, methods)
    return "\n".join(L)


def _reference_section(envs, methods, cell, results) -> list[str]:
    expert_ret = {r["expert_id"]: r["expert_return"] for r in (results or [])}
    rows = []
    for eid, env_id in envs:
        refs = []
        for m in methods:
            r = cell.get((eid, m))
            refs.append(None if r is None else
                        reference_normalized(eid, env_id, r["aer_mean"], r["aer_std"], expert_ret.get(eid)))
        got = [x for x in refs if x is not None]
        if not got:
            continue
        ref = REFERENCES["reference_returns"][env_id.split("-v")[0]]
        exp = ref["expert"] if ref["expert"] is not None else expert_ret.get(eid)
        own = reference_normalized(eid, env_id, expert_ret[eid], 0.0, exp) if eid in expert_ret else None
        rows.append(f"| {env_id} | `{eid}` | {ref['random']} / {exp:.1f} | {got[0][2]} | "
                    + ("—" if own is None else f"{own[0]:.3f}") + " | "
                    + " | ".join("—" if x is None else _pm(x[0], x[1], 3) for x in refs) + " |")
    if not rows:
        return []
    return (["## Normalized by published reference returns", "", REFERENCES["reference_note"], "",
             "| environment | expert | reference random / expert | source | illab's expert | "
             + " | ".join(methods) + " |",
             "|---|---|---|---|---|" + "---|" * len(methods)] + rows + ["", REFERENCES["cartpole_note"], ""])


def _demos_section(demos: dict) -> list[str]:
    rows = demos["rows"]
    methods = sorted({r["method"] for r in rows}, key=method_order)
    ns = sorted({r["demonstrations"] for r in rows})
    got = {(r["demonstrations"], r["method"]): r for r in rows}
    L = ["## Performance vs number of demonstrations", "",
         f"![IQM normalized performance vs number of demonstrations]({demos['image']})", "",
         "IQM of per-run normalized performance over environments × training seeds [95% CI] "
         "(`demos.csv`, made by `python -m illab benchmark --demos ...`).", "",
         "| demonstrations | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for n in ns:
        L.append(f"| {n} | " + " | ".join(
            f"{got[(n, m)]['perf_iqm']:.3f} {_ci(got[(n, m)]['iqm_low'], got[(n, m)]['iqm_high'])}"
            if (n, m) in got else "—" for m in methods) + " |")
    return L + [""]


def _anchor_section(summary) -> list[str]:
    L = ["## Published anchors beside illab", "",
         "| environment | method | illab AER | illab perf. | " + " | ".join(ANCHORS) + " |",
         "|---|---|---|---|" + "---|" * len(ANCHORS)]
    keys = []
    for src in ANCHORS.values():
        for key in src:
            if key not in keys:
                keys.append(key)
    for env_a, m in keys:
        ours = [r for r in summary if ANCHOR_ENV.get(r["expert_id"], r["env_id"]) == env_a and r["method"] == m]
        ours_txt = [f"{r['aer_mean']:.2f} (`{r['expert_id']}`)" for r in ours] or ["not run"]
        perf_txt = [f"{r['perf_mean']:.3f}" for r in ours] or ["—"]
        anchors = [_anchor_cell(src.get((env_a, m))) for src in ANCHORS.values()]
        L.append(f"| {env_a} | {m} | {'<br>'.join(ours_txt)} | {'<br>'.join(perf_txt)} | " + " | ".join(anchors) + " |")
    L += ["", "### Where and why illab differs", ""]
    L += [f"- {item}" for item in REFERENCES["differences"]]
    return L + [""]


def _anchor_cell(anchor: list | None) -> str:
    """One source's ``[AER, normalized]`` anchor as a table cell: both, AER only, or ``—`` for a missing part."""
    if anchor is None:
        return "—"
    if anchor[1] is None:
        return str(anchor[0])
    return " \\| ".join("—" if v is None else str(v) for v in anchor)


def _provenance_section(meta, envs, methods) -> list[str]:
    L = ["## Provenance", ""]
    v = meta.get("versions", {})
    L.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    run_on = f" on {meta['executor']}" if meta.get("executor") else ""
    L += [f"Base seed {meta.get('base_seed')}; training seed of a cell = "
          "`illab.seeds.torch_seed(base_seed, '<expert>/<method>/<k>') % 2**31`; created "
          f"{meta.get('created')}; wall time of this invocation {meta.get('wall_seconds')} s{run_on} (finished "
          "cells are reused), sum of the cells' own wall times "
          f"{sum(float(c.get('wall_seconds') or 0.0) for c in meta.get('cells', [])):.0f} s.", ""]
    if meta.get("failed"):
        L += [f"**Failed cells** ({len(meta['failed'])}; tracebacks in `provenance.json` under `failed`): "
              + ", ".join(f"{f['key'][0]}/{f['key'][1]}/s{f['key'][2]}" for f in meta["failed"]) + ".", ""]
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
    budgets = {(c["expert_id"], c["method"]): _budget(c["method"], c["config"])
               for c in meta.get("cells", []) if "config" in c}
    if budgets:
        L += ["", "Budget per environment × method (the cells' resolved training length, then the method's "
              "`BENCHMARK_CONFIGS` overrides of its defaults; — where the folder's cells predate this record):", "",
              "| environment | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for eid, _ in envs:
            L.append(f"| `{eid}` | " + " | ".join(budgets.get((eid, m), "—") for m in methods) + " |")
    L += ["", "Machine-readable: `results.csv` (per cell), `summary.csv`, `aggregate.csv`, `provenance.json` "
          "in the output folder.", ""]
    return L


def _budget(method: str, config: dict | None) -> str:
    """A cell's budget for the report: its method's training-length field resolved against the method's
    defaults (``total_timesteps`` in steps, else ``epochs``/``rounds``), then its overrides."""
    from illab.methods import METHODS
    config = dict(config or {})
    parts = []
    cls = getattr(METHODS.get(method), "config_class", None)
    if cls is not None:
        full = cls(**config)
        for key, unit in (("total_timesteps", "steps"), ("rounds", "rounds"), ("epochs", "epochs")):
            if hasattr(full, key):
                n = getattr(full, key)
                parts.append(f"{n // 1000}k {unit}" if unit == "steps" and n % 1000 == 0 else f"{n} {unit}")
                config.pop(key, None)
                break
    parts += [f"{k}={v}" for k, v in sorted(config.items())]
    return ", ".join(parts) if parts else "defaults"
