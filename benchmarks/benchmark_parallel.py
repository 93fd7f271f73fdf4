"""Wall time of the benchmark runner with 1 worker (in process) vs N worker processes.

    python benchmarks/benchmark_parallel.py [--cells 4] [--workers 2] [--timesteps 16384] [--repeats 1] [--out DIR]

Runs ``--cells`` GAIL cells on CartPole (GAIL with ``--timesteps`` PPO steps: each cell takes
>= 10 s, see the printed per-cell times) once in this process (``workers=1``) and once on
``--workers`` spawn processes, both from the same pre-collected dataset and from empty cell
folders, and prints the two wall times, their ratio, the CPU seconds used (this process and its
worker processes: CPU / wall shows how many cores the run actually got), the load average (the
machine is shared: the ratio is only meaningful beside the load) and whether the CSVs are
byte-identical. ``--repeats 2`` runs 1, N, N, 1 workers (an ABBA order cancels a load that drifts
linearly). Numbers are recorded in docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

from illab import benchmark


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(out: Path, data: Path, cells: int, workers: int, timesteps: int) -> tuple[float, float, list[float]]:
    """Wall seconds of one fresh run, CPU seconds (this process + finished workers), per-cell wall seconds."""
    shutil.rmtree(out, ignore_errors=True)
    c0 = _cpu()
    t0 = time.perf_counter()
    benchmark.run(["cartpole"], ["gail"], seeds=cells, out=out, data_dir=data, quick=True, workers=workers,
                  configs={"gail": {"total_timesteps": timesteps, "eval_every": 0}}, progress=False)
    wall = time.perf_counter() - t0
    prov = json.loads((out / "provenance.json").read_text())
    return wall, _cpu() - c0, [c["wall_seconds"] for c in prov["cells"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timesteps", type=int, default=16_384, help="GAIL PPO steps per cell")
    ap.add_argument("--repeats", type=int, default=1, help="2: ABBA order 1, N, N, 1 workers")
    ap.add_argument("--out", default="/tmp/illab-parallel")
    args = ap.parse_args()
    root = Path(args.out)
    data = root / "data"
    # collect the dataset once (and warm imports) so both timings measure only the cells
    benchmark.run(["cartpole"], ["bc"], seeds=1, out=root / "warm", data_dir=data, quick=True, progress=False)
    order = [1, args.workers, args.workers, 1] if args.repeats >= 2 else [1, args.workers]
    print(f"cores: {os.cpu_count()}; {args.cells} GAIL cells on CartPole, {args.timesteps} PPO steps each")
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    for i, w in enumerate(order):
        load = os.getloadavg()
        wall, cpu, cells = timed(root / f"run{i}-w{w}", data, args.cells, w, args.timesteps)
        walls[w].append(wall)
        print(f"{w} worker(s): wall {wall:7.1f} s, CPU {cpu:7.1f} s (CPU/wall {cpu / wall:.2f}), "
              f"cells {', '.join(f'{s:.1f}' for s in cells)} s; load average before {load[0]:.1f}")
    ref = root / "run0-w1"
    same = all((ref / f).read_bytes() == (root / f"run{i}-w{w}" / f).read_bytes()
               for i, w in enumerate(order) for f in ("results.csv", "summary.csv", "aggregate.csv"))
    serial, par = sum(walls[1]) / len(walls[1]), sum(walls[args.workers]) / len(walls[args.workers])
    print(f"mean wall: 1 worker {serial:.1f} s, {args.workers} workers {par:.1f} s, ratio {par / serial:.2f}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"CSVs byte-identical: {same}")


if __name__ == "__main__":
    main()
