"""The illab command line (``python -m illab ...`` or the ``illab`` console script).

Commands::

    illab experts                                         # the registry table
    illab collect cartpole --episodes 100 --threads 2 --seed 0 --out data/
    illab train bc data/cartpole.npz --n-episodes 80 --seed 0 --out runs/bc.pt
    illab evaluate runs/bc.pt --episodes 100 --seed 0     # a trained model (reads runs/bc.json)
    illab evaluate cartpole                               # or an expert id
    illab collect td3-Hopper-v3 --episodes 10             # a Hub expert (rl-baselines3-zoo, read safely)
    illab evaluate hopper --source hub                    # the zoo model of a bundled id
    illab run cartpole                                    # collect 100 → BC → test-stream evaluation → table
    illab benchmark --envs cartpole acrobot --methods bc gail --seeds 3 --out results/ [--quick]
    illab course --out runs/course                        # execute every notebook headless, timed

Every command exits with status 0 on success, 1 on a failure it explains in one
``illab <command>: error: ...`` line (bad input, a corrupt or mismatched dataset, a full or
read-only disk, an unreachable hub, leakage, a failing notebook) and 2 on bad usage (argparse,
including counts below 1 such as ``--episodes 0``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path



class CLIError(Exception):
    """A failure the CLI reports as one line (exit status 1)."""


def _count_arg(minimum: int = 1):
    """An argparse ``type`` for a whole number >= ``minimum`` (``--episodes 0`` is a usage error,
    never silently replaced by a default)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    parse.__name__ = "count"
    return parse


def _error_message(err: BaseException) -> str:
    """One readable line for ``err``: a ``KeyError`` shows its message, or says which key is missing."""
    if isinstance(err, KeyError):
        msg = str(err.args[0]) if err.args else ""
        if " " not in msg.strip():
            return f"missing or unknown key {msg!r} (a file written by another illab version, or a typo?)"
        return msg
    msg = str(err).strip() or type(err).__name__
    plain = (CLIError, ValueError, KeyError, FileNotFoundError, FileExistsError)
    return msg if isinstance(err, plain) else f"{type(err).__name__}: {msg}"


def _table(rows: list[list], header: list[str]) -> str:
    """A plain aligned text table."""
    cols = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cols[1:]])


def _pm(mean: float, std: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _parse_sets(items: list[str] | None) -> dict:
    """``["epochs=5", "hidden_sizes=[64,64]"]`` → ``{"epochs": 5, "hidden_sizes": [64, 64]}`` (JSON values, else str)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _sidecar(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


# ---- commands -------------------------------------------------------------------------------

def cmd_experts(args) -> int:
    from illab import experts
    rows = []
    for eid in experts.list():
        e = experts.get(eid)
        ref = lambda r: _pm(*r, 1) if r else "—"  # noqa: E731
        rows.append([eid, e.env_id + (f" {e.env_kwargs}" if e.env_kwargs else ""), e.algo, f"{e.threshold:g}",
                     ref(e.expert_return), ref(e.random_return),
                     "bundled" if e.file else ("scripted" if e.factory else "hub"),
                     (e.sha256 or "")[:12]])
    print(_table(rows, ["id", "environment", "algo", "threshold", "expert return", "random return", "source",
                        "sha256"]))
    return 0


def cmd_collect(args) -> int:
    from illab.controller import collect
    from illab import datafile, experts
    expert_id = experts.resolve(args.expert_id, args.source)  # e.g. hopper --source hub → td3-Hopper-v3
    try:
        path = collect(expert_id, args.episodes, args.out, seed=args.seed, threads=args.threads,
                       overwrite=args.overwrite, progress=not args.quiet)
    except FileExistsError as err:
        raise CLIError(str(err).replace("pass overwrite=True", "pass --overwrite")) from None
    card = datafile.read_card(path)
    print(f"{path}: {card.get('episodes')} episodes, {card.get('transitions')} transitions, "
          f"return {_pm(card.get('return_mean', float('nan')), card.get('return_std', float('nan')))}, "
          f"content hash {str(card.get('content_hash'))[:16]}…")
    return 0


def cmd_train(args) -> int:
    from illab import experts
    from illab.benchmark import _make_config
    from illab.data import BaselineDataset
    from illab.methods import METHODS
    if args.method not in METHODS:
        raise CLIError(f"unknown method {args.method!r}; choose one of {', '.join(sorted(METHODS))}")
    out = Path(args.out)
    if (out.exists() or _sidecar(out).exists()) and not args.overwrite:
        raise CLIError(f"{out} (or {_sidecar(out).name}) already exists; pass --overwrite or choose another --out")
    ds = BaselineDataset(args.dataset, n_episodes=args.n_episodes)
    cls = METHODS[args.method]
    overrides = _parse_sets(args.set)
    model = cls.from_dataset(ds, config=_make_config(cls, overrides), seed=args.seed)
    expert_id = ds.card.get("expert_id")
    expert = None
    if expert_id is not None:
        try:
            expert = experts.load(expert_id)
        except (KeyError, ValueError, FileNotFoundError) as err:
            print(f"note: expert {expert_id!r} of the dataset cannot be loaded ({err}); methods that need it will fail",
                  file=sys.stderr)
    t0 = time.perf_counter()
    model.fit(ds, env_id=ds.env_id, env_kwargs=ds.env_kwargs, expert=expert, progress=not args.quiet)
    wall = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out, overwrite=args.overwrite)
    meta = {"method": args.method, "env_id": ds.env_id, "env_kwargs": ds.env_kwargs, "expert_id": expert_id,
            "dataset": str(Path(args.dataset).resolve()), "dataset_hash": ds.card.get("content_hash"),
            "n_episodes": args.n_episodes, "seed": args.seed, "config": overrides, "train_seconds": round(wall, 1)}
    from illab.fileio import atomic_write
    atomic_write(_sidecar(out), json.dumps(meta, indent=2) + "\n")
    print(f"trained {args.method} on {len(ds)} transitions of {ds.env_id} in {wall:.1f} s → {out} (+ {_sidecar(out).name})")
    return 0


def _load_model(target: str, source: str | None = None):
    """``(policy, env_id, env_kwargs, expert_id, label)`` for a model file or an expert id (from ``source``)."""
    from illab import experts
    p = Path(target)
    if p.exists():
        meta_path = _sidecar(p)
        if not meta_path.exists():
            raise CLIError(f"{p} has no {meta_path.name} beside it (written by `illab train`); it says which method "
                           "and environment the model belongs to")
        try:
            meta = json.loads(meta_path.read_text())
            method = meta["method"]
            meta["env_id"]  # KeyError if the record lacks it
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise CLIError(f"{meta_path} is not a model record written by `illab train` ({type(err).__name__}: "
                           f"{err}); re-run `illab train ... --out {p}`") from None
        from illab.methods import METHODS
        if method not in METHODS:
            raise CLIError(f"{meta_path} names method {method!r}, which this illab does not have "
                           f"(known: {', '.join(sorted(METHODS))})")
        return METHODS[method].load(p), meta["env_id"], meta.get("env_kwargs") or {}, meta.get("expert_id"), \
            f"{meta['method']} ({p.name})"
    try:
        served = experts.resolve(target, source)
    except KeyError as err:
        raise CLIError(f"{target!r} is neither a model file nor an expert id: {err.args[0]}") from None
    e = experts.get(served)
    return experts.load(served, source), e.env_id, e.env_kwargs, served, f"expert {served}"


def cmd_evaluate(args) -> int:
    from illab import experts
    from illab.evaluate import evaluate
    policy, env_id, env_kwargs, expert_id, label = _load_model(args.target, args.source)
    res = evaluate(policy, env_id, n_episodes=args.episodes, seed=args.seed, stream="test", env_kwargs=env_kwargs)
    perf = "—"
    if expert_id is not None:
        try:
            perf = _pm(*res.performance(*experts.get(expert_id).reference_returns()), 3)
        except (KeyError, ValueError):
            pass
    print(_table([[label, env_id, len(res.returns), _pm(res.mean, res.std), perf]],
                 ["policy", "environment", "test episodes", "AER", "normalized performance"]))
    return 0


def cmd_run(args) -> int:
    from illab import benchmark, experts
    out = Path(args.out or f"runs/run-{args.expert_id}")
    res = benchmark.run([args.expert_id], [args.method], seeds=1, out=out, episodes=args.episodes,
                        test_episodes=args.test_episodes, base_seed=args.seed, threads=args.threads,
                        progress=not args.quiet, command=" ".join(["python -m illab"] + [shlex.quote(a) for a in sys.argv[1:]]))
    e = experts.get(args.expert_id)
    cell = res.cells[0]
    from illab import datafile
    prov = json.loads((out / "provenance.json").read_text())
    data = prov["datasets"][args.expert_id]
    card = datafile.read_card(data["path"])
    rows = [[f"expert {args.expert_id} (demonstrations)", card.get("episodes"),
             _pm(card.get("return_mean"), card.get("return_std")), "—"],
            [f"expert {args.expert_id} (reference, test stream)", 100, _pm(*e.expert_return), "1.000"],
            ["random (reference, test stream)", 100, _pm(*e.random_return), "0.000"],
            [f"{args.method} seed {cell['train_seed']} (test stream)", cell["test_episodes"],
             _pm(cell["aer_mean"], cell["aer_std"]), _pm(cell["perf_mean"], cell["perf_std"], 3)]]
    print(f"\n{e.env_id}: {card.get('episodes')} demonstrations → {args.method} → {cell['test_episodes']} test episodes "
          f"(leakage check passed; {data['test_seeds_replaced']} test seed(s) redrawn)\n")
    print(_table(rows, ["policy", "episodes", "return (AER)", "normalized performance"]))
    print(f"\nresults in {out}/ (results.csv, provenance.json, BENCHMARKS.md)")
    return 0


def cmd_benchmark(args) -> int:
    from illab import benchmark
    common = dict(seeds=args.seeds, out=args.out, quick=args.quick, test_episodes=args.test_episodes,
                  base_seed=args.seed, data_dir=args.data, threads=args.threads, report_only=args.report_only,
                  progress=not args.quiet, configs=json.loads(args.configs) if args.configs else None,
                  command=" ".join(["python -m illab"] + [shlex.quote(a) for a in sys.argv[1:]]),
                  workers=args.workers, scheduler=args.scheduler)
    if args.merge:
        if not args.markdown:
            raise CLIError("--merge writes one Markdown report from several output folders: give it --markdown "
                           "(e.g. --merge results results/observation --markdown BENCHMARKS.md)")
        from illab.fileio import atomic_write
        try:
            text = benchmark.markdown_report(*benchmark.merge_tables(
                args.merge, allow_different_datasets=args.allow_different_datasets))
        except (FileNotFoundError, ValueError) as e:
            raise CLIError(str(e)) from e
        atomic_write(Path(args.markdown), text)
        print(f"Markdown of {', '.join(args.merge)}: {args.markdown}")
        return 0
    if args.demos:
        if args.episodes or args.markdown:
            raise CLIError("--demos sets the number of demonstrations of each table (in <out>/demos/n<N>/); "
                           "drop --episodes / --markdown, or run without --demos for one table")
        runs = benchmark.sweep(args.demos, args.envs, args.methods, **common)
        rows = [[n, a["method"], a["n_runs"], f"{a['perf_mean']:.3f}", f"{a['perf_iqm']:.3f}"]
                for n, r in sorted(runs.items()) for a in r.aggregate]
        print(_table(rows, ["demonstrations", "method", "runs", "mean perf.", "IQM perf."]))
        failed = sum(len(r.failed) for r in runs.values())
        print(f"\ntables in {args.out}/demos/n*/ ; plot: {args.out}/demos.png (linked from the report rendered "
              f"from {args.out}/, e.g. with --report-only)")
        return 1 if failed else 0
    res = benchmark.run(args.envs, args.methods, episodes=args.episodes, markdown=args.markdown, **common)
    rows = [[r["env_id"], r["method"], r["n_seeds"], _pm(r["aer_mean"], r["aer_std"]),
             _pm(r["perf_mean"], r["perf_std"], 3)] for r in res.summary]
    print(_table(rows, ["environment", "method", "seeds", "AER", "normalized performance"]))
    if res.aggregate:
        print()
        print(_table([[a["method"], a["n_envs"], a["n_runs"], f"{a['perf_mean']:.3f}", f"{a['perf_iqm']:.3f}"]
                      for a in res.aggregate], ["method", "envs", "runs", "mean perf.", "IQM perf."]))
    if res.missing:
        print(f"\n{len(res.missing)} cell(s) missing; re-run without --report-only to finish them")
    print(f"\ntables in {res.out}/ ; Markdown: {res.markdown}")
    if res.failed:
        print(f"{len(res.failed)} cell(s) failed (tracebacks above and in provenance.json); re-run to retry them",
              file=sys.stderr)
        return 1
    return 0


def notebooks_dir() -> Path:
    """``./notebooks`` if it exists, else the notebooks folder beside the (editable) package."""
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "notebooks"


def cmd_course(args) -> int:
    import nbformat
    from nbclient import NotebookClient

    class _Client(NotebookClient):
        """Skips cells tagged ``nbval-skip`` (long runs, interactive-only) unless --all-cells."""

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if not args.all_cells and "nbval-skip" in cell.get("metadata", {}).get("tags", []):
                return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    src = Path(args.notebooks) if args.notebooks else notebooks_dir()
    paths = sorted(src.glob("*.ipynb"))
    if not paths:
        raise CLIError(f"no notebooks found in {src}")
    out = Path(args.out)
    if out.resolve() == src.resolve():
        raise CLIError("--out must not be the notebooks folder: the committed notebooks are never modified")
    clash = [p.name for p in paths if (out / p.name).exists()]
    if clash and not args.overwrite:
        raise CLIError(f"{out} already holds {len(clash)} of these notebooks ({', '.join(clash[:3])}"
                       f"{', ...' if len(clash) > 3 else ''}); pass --overwrite to replace them, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    from illab.fileio import atomic_write
    rows, failed, total = [], [], 0.0
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        t0 = time.perf_counter()
        status = "ok"
        try:
            _Client(nb, timeout=args.timeout, kernel_name=args.kernel,
                    resources={"metadata": {"path": str(src)}}).execute()
        except Exception as err:  # nbclient.exceptions.CellExecutionError, timeouts, dead kernels
            status = "FAILED"
            failed.append((p.name, str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__))
        dt = time.perf_counter() - t0
        total += dt
        from illab.course.static import static_view   # final tqdm states and interact plots, readable statically
        # executed copy (with the outputs reached), never the original; atomic, so never half-written
        atomic_write(out / p.name, nbformat.writes(static_view(nb)) + "\n")
        rows.append([p.name, f"{dt:.1f}", status])
        print(f"{p.name}: {dt:.1f} s {status}", flush=True)
    print()
    print(_table(rows + [["total", f"{total:.1f}", f"{len(paths) - len(failed)}/{len(paths)} ok"]],
                 ["notebook", "seconds", "status"]))
    print(f"executed copies in {out}/")
    for name, msg in failed:
        print(f"FAILED {name}: {msg}", file=sys.stderr)
    return 1 if failed else 0


# ---- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every command (see the module docstring)."""
    p = argparse.ArgumentParser(prog="illab", description="illab: imitation learning lab (experts, datasets, "
                                "BC/BCO/DAgger/GAIL, a leakage-free benchmark, a Jupyter course)")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    s = sub.add_parser("experts", help="list the expert registry")
    s.set_defaults(func=cmd_experts)

    s = sub.add_parser("collect", help="collect expert demonstrations into <out>/<expert>.npz")
    s.add_argument("expert_id")
    s.add_argument("--episodes", type=_count_arg(), default=100)
    s.add_argument("--threads", type=_count_arg(), default=1)
    s.add_argument("--seed", type=_count_arg(0), default=0, help="base seed of the demonstrations stream")
    s.add_argument("--out", default="data")
    s.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    s.add_argument("--source", choices=("bundled", "hub"), default=None,
                   help="the expert's weights: bundled, or the zoo model on the Hugging Face Hub (default: "
                        "bundled when the id has them)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_collect)

    s = sub.add_parser("train", help="train an IL method on a dataset; writes the model and <model>.json")
    s.add_argument("method", help="bc, bco, dagger or gail")
    s.add_argument("dataset", help="a dataset .npz (from `illab collect`)")
    s.add_argument("--n-episodes", type=_count_arg(), default=None, help="train on episodes [0, N) (default: all)")
    s.add_argument("--seed", type=_count_arg(0), default=0)
    s.add_argument("--out", required=True, help="model file, e.g. runs/bc.pt")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="config field override (repeatable)")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a trained model or an expert on the test seed stream")
    s.add_argument("target", help="a model file from `illab train`, or an expert id")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--seed", type=int, default=0, help="base seed of the test stream")
    s.add_argument("--source", choices=("bundled", "hub"), default=None,
                   help="for an expert id: bundled weights or the zoo model on the Hugging Face Hub")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("run", help="collect → BC → leakage-checked test evaluation, printed as a table")
    s.add_argument("expert_id")
    s.add_argument("--episodes", type=_count_arg(), default=100, help="demonstrations (default 100)")
    s.add_argument("--test-episodes", type=_count_arg(), default=100)
    s.add_argument("--method", default="bc")
    s.add_argument("--seed", type=_count_arg(0), default=0)
    s.add_argument("--threads", type=_count_arg(), default=1)
    s.add_argument("--out", default=None, help="default runs/run-<expert_id>")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("benchmark", help="experts × methods × seeds; CSV + Markdown with provenance (resumable)")
    s.add_argument("--envs", nargs="+", default=None, help="expert ids (default: every bundled expert)")
    s.add_argument("--methods", nargs="+", default=None, help="default: bc bco dagger gail")
    s.add_argument("--seeds", type=_count_arg(), default=3, help="training seeds per cell")
    s.add_argument("--out", default="results")
    s.add_argument("--quick", action="store_true", help="tiny budgets for CI (about a minute)")
    s.add_argument("--markdown", default=None, help="also write the Markdown report here (e.g. BENCHMARKS.md)")
    s.add_argument("--episodes", type=_count_arg(), default=None, help="demonstrations per environment")
    s.add_argument("--test-episodes", type=_count_arg(), default=None)
    s.add_argument("--seed", type=_count_arg(0), default=0, help="base seed")
    s.add_argument("--threads", type=_count_arg(), default=1, help="Controller workers for collection")
    s.add_argument("--data", default=None, help="dataset folder (default <out>/data)")
    s.add_argument("--configs", default=None, help='JSON per-method config overrides, e.g. \'{"bc": {"epochs": 5}}\'')
    s.add_argument("--report-only", action="store_true", help="only rebuild the tables from finished cells")
    s.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                   help="run nothing: write --markdown as one report of these output folders' tables, e.g. "
                        "--merge results results/observation (same protocol, different methods)")
    s.add_argument("--allow-different-datasets", action="store_true",
                   help="with --merge: merge folders whose demonstrations of an environment differ (each column keeps "
                        "its own; the report says so)")
    s.add_argument("--workers", type=int, default=None,
                   help="run cells on N local worker processes (default 1: in this process; "
                        "`make benchmark` uses every core)")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run cells on a dask.distributed cluster, e.g. tcp://10.0.0.5:8786 (--data on shared storage)")
    s.add_argument("--demos", type=int, nargs="+", default=None, metavar="N",
                   help="sweep the number of demonstrations, e.g. --demos 1 5 10 25 100 (tables in <out>/demos/, "
                        "plot <out>/demos.png)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_benchmark)

    s = sub.add_parser("course", help="execute every notebook headless into --out, timed (fails if one fails)")
    s.add_argument("--out", default="runs/course")
    s.add_argument("--notebooks", default=None, help="folder of notebooks (default ./notebooks)")
    s.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    s.add_argument("--kernel", default="python3")
    s.add_argument("--all-cells", action="store_true", help="also run cells tagged nbval-skip (long runs)")
    s.add_argument("--overwrite", action="store_true", help="replace executed copies already in --out")
    s.set_defaults(func=cmd_course)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit status."""
    from illab.hub import HubUnavailableError
    args = build_parser().parse_args(argv)
    if args.command not in ("course", "experts"):
        # small networks + a busy CPU: one torch thread is much faster (OpenMP threads spin) and
        # keeps float results independent of the core count; ILLAB_TORCH_THREADS overrides.
        import torch
        torch.set_num_threads(int(os.environ.get("ILLAB_TORCH_THREADS", "1")))
    try:
        return args.func(args)
    except AssertionError as err:  # LeakageError and friends
        print(f"illab {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"illab {args.command}: interrupted (finished work is kept on disk; run the command again to "
              "resume)", file=sys.stderr)
        return 130
    except (CLIError, KeyError, ValueError, TypeError, OSError, RuntimeError, ImportError,
            HubUnavailableError) as err:
        # OSError: disk full, read-only, permission, not-a-directory, hub HTTP errors (requests'
        # HTTPError is an OSError); RuntimeError: CollectionError; HubUnavailableError: the hub
        print(f"illab {args.command}: error: {_error_message(err)}", file=sys.stderr)
        if os.environ.get("ILLAB_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
