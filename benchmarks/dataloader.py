"""The torch ``Dataset`` face: one shuffled ``DataLoader`` epoch over ``BaselineDataset`` vs a
``TensorDataset`` of the same arrays (samples/s, batch 256, one torch thread; issue 21's target:
within 2x). Run: ``python benchmarks/dataloader.py [episodes]``."""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from illab.controller import collect
from illab.data import BaselineDataset


def epoch(dataset) -> float:
    """Samples per second of one shuffled epoch (batch 256, seeded order)."""
    t, n = time.perf_counter(), 0
    for batch in DataLoader(dataset, batch_size=256, shuffle=True, generator=torch.Generator().manual_seed(0)):
        n += len(batch[0])
    return n / (time.perf_counter() - t)


def main(episodes: int = 100) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        ds = BaselineDataset(collect("cartpole", episodes, out, seed=0, progress=False))
        td = TensorDataset(*(torch.as_tensor(np.array(a)) for a in (ds.obs, ds.actions, ds.next_obs)))
        for _ in range(3):
            a, b = epoch(ds), epoch(td)
            print(f"{len(ds)} transitions: BaselineDataset {a / 1e3:.0f} k samples/s, TensorDataset "
                  f"{b / 1e3:.0f} k samples/s, ratio {a / b:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
