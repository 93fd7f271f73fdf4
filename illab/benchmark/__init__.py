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
   et al. 2021, arXiv 2108.13264; ``rliable``) of the per-run normalized performances (one run =
   one environment × training seed), with a seeded stratified-bootstrap 95 % confidence interval;
   beside illab's expert-relative score, the AER normalized by published reference returns
   (D4RL, IL-Datasets) where they exist.

The runner is resumable: each finished cell is written atomically to
``<out>/cells/<expert>__<method>__s<k>__<fingerprint>.json`` and reused when its fingerprint
(expert sha256, dataset content hash, method config, seeds, test seeds, and the source code of
the method and of evaluation, :func:`code_hash`) matches. Results:
``results.csv`` (one row per cell), ``summary.csv`` (per environment × method),
``aggregate.csv`` (per method) — all deterministic, no wall times — and ``provenance.json`` plus
``BENCHMARKS.md`` with package versions, dataset hashes, expert sha256, seeds and wall times.

Cells run in this process, on ``workers`` local processes or on a dask.distributed cluster
(``executor=`` / ``workers=`` / ``scheduler=``) with identical CSVs; :func:`sweep` repeats the
table over numbers of demonstrations.

Modules: :mod:`illab.benchmark.cells` (setup, one cell, the worker task),
:mod:`illab.benchmark.runner` (planning, dispatch, resumption), :mod:`illab.benchmark.report`
(aggregates and the Markdown; anchors and prose in ``references.json``).

>>> from illab.benchmark import run
>>> result = run(["cartpole"], ["bc"], seeds=1, out="results", quick=True)
>>> result.summary[0]["perf_mean"]
"""

from __future__ import annotations

from illab.benchmark.cells import (AGGREGATE_FIELDS, ALL_METHODS, CLASSIC_CONTROL, CODE_MODULES, FULL, FULL_CONFIGS,
                                   QUICK, QUICK_CONFIGS, RESULT_FIELDS, SUMMARY_FIELDS, CellTask, EnvSetup,
                                   _make_config, bundled_experts, cell_fingerprint, code_hash, execute_task,
                                   make_task, prepare_env, run_cell, train_seed, versions)
from illab.benchmark.report import (ANCHOR_ENV, ANCHORS, REFERENCES, iqm, iqm_interval, markdown_report,
                                    merge_tables, read_tables, reference_normalized, summarize, write_reports)
from illab.benchmark.runner import BenchmarkResult, open_executor, run, sweep

__all__ = ["AGGREGATE_FIELDS", "ALL_METHODS", "ANCHORS", "ANCHOR_ENV", "BenchmarkResult", "CLASSIC_CONTROL",
           "CODE_MODULES", "CellTask", "EnvSetup", "FULL", "FULL_CONFIGS", "QUICK", "QUICK_CONFIGS", "REFERENCES",
           "RESULT_FIELDS", "SUMMARY_FIELDS", "bundled_experts", "cell_fingerprint", "code_hash", "execute_task",
           "iqm", "iqm_interval", "make_task", "markdown_report", "merge_tables", "open_executor", "prepare_env",
           "read_tables",
           "reference_normalized", "run", "run_cell", "summarize", "sweep", "train_seed", "versions",
           "write_reports"]
