"""Peak memory of loading a large dataset with :class:`illab.data.BaselineDataset`.

Writes a synthetic CartPole-shaped dataset (default 1000 episodes x 500 steps) with
:func:`illab.datafile.write`, then, in a fresh subprocess, opens train and eval splits, touches
every item's index arrays and reads one item, and reports the child's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) minus the RSS of a child that only imports
illab. Usage: ``python benchmarks/dataset_memory.py [episodes] [steps]``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from illab import datafile

CHILD = """
import sys, resource
from illab.data import BaselineDataset
{body}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
LOAD = """
n = int(sys.argv[2])
tr = BaselineDataset(sys.argv[1], n_episodes=n, split="train")
ev = BaselineDataset(sys.argv[1], n_episodes=n, split="eval")
tr[0]; ev[len(ev) - 1]
print(len(tr), len(ev), file=sys.stderr)
"""


def make(path: Path, episodes: int, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = episodes * steps
    obs = rng.standard_normal((t, 4), dtype=np.float32)
    starts = np.zeros(t, bool); starts[::steps] = True
    ends = np.zeros(t, bool); ends[steps - 1::steps] = True
    arrays = {"obs": obs, "next_obs": obs + 1, "actions": rng.integers(0, 2, t).astype(np.int64),
              "rewards": np.ones(t, np.float32), "terminated": ends, "truncated": np.zeros(t, bool),
              "episode_starts": starts,
              "episode_returns": np.full(episodes, float(steps)),
              "episode_lengths": np.full(episodes, steps, np.int64),
              "episode_seeds": np.arange(episodes, dtype=np.int64) * 4}
    datafile.write(path, arrays, datafile.make_card(arrays, env_id="CartPole-v1", env_kwargs={}))


def child_rss_kib(body: str, *args: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD.format(body=body), *args], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.split()[-1])


def main(episodes: int = 1000, steps: int = 500) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.npz"
        make(path, episodes, steps)
        size = os.path.getsize(path)
        base = child_rss_kib("pass")
        full = child_rss_kib(LOAD, str(path), str(episodes * 8 // 10))
        extra = (full - base) * 1024
        print(f"file {size / 2**20:.1f} MiB; import-only peak RSS {base / 1024:.1f} MiB; "
              f"load peak RSS {full / 1024:.1f} MiB; extra {extra / 2**20:.1f} MiB "
              f"= {extra / size:.2f} x file size")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
