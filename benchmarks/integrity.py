"""Cost of the integrity check on open (issue 14): ``BaselineDataset(path)`` with ``verify=True``
(first open: card size + member CRC-32s over every byte) vs ``verify=False``, vs a re-open (cached
per file identity), vs the full ``validate`` (sha256 content hash) and a full ``np.load`` of every
array. Run: ``python benchmarks/integrity.py [episodes] [folder]`` (default 1000 CartPole
episodes, collected once into the folder and reused)."""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from illab import datafile
from illab.controller import collect
from illab.data import BaselineDataset, validate


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(episodes: int = 1000, folder: str = "data/bench-integrity") -> None:
    path = collect("cartpole", episodes, folder, seed=0, progress=True)
    size = path.stat().st_size / 2**20

    def first_open():
        datafile._VERIFIED.clear()  # what a new process (or a changed file) pays
        BaselineDataset(path)

    rows = {
        "BaselineDataset(verify=False)": timed(lambda: BaselineDataset(path, verify=False)),
        "BaselineDataset() first open (CRC check)": timed(first_open),
        "BaselineDataset() re-open (cached)": timed(lambda: BaselineDataset(path)),
        "verify() alone (CRC-32 of every member)": timed(lambda: (datafile._VERIFIED.clear(),
                                                                   datafile.verify(path))),
        "np.load of every array (full read)": timed(lambda: {k: v for k, v in np.load(path).items()}),
        "validate() (sha256 content hash)": timed(lambda: validate(path), 3),
    }
    print(f"{path}: {episodes} episodes, {len(datafile.read(path)['rewards'])} transitions, {size:.1f} MiB")
    for name, sec in rows.items():
        print(f"  {name:45s} {sec * 1e3:8.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, sys.argv[2] if len(sys.argv) > 2 else "data/bench-integrity")
