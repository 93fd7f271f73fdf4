"""The torch ``Dataset`` face of ``BaselineDataset``: batched reads give exactly the per-item items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from illab import datafile
from illab.data import BaselineDataset
from illab.demonstrations import concatenate_episodes
from illab.policy import RandomPolicy
from illab.rollout import run_episodes
from illab.seeds import episode_seeds


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    import gymnasium as gym
    env = gym.make("CartPole-v1")
    eps = run_episodes(RandomPolicy(env.action_space, seed=0), "CartPole-v1", episode_seeds(0, 6))
    arrays = concatenate_episodes(eps)
    card = datafile.make_card(arrays, env_id="CartPole-v1",
                              observation_space=datafile.space_to_json(env.observation_space),
                              action_space=datafile.space_to_json(env.action_space))
    return datafile.write(tmp_path_factory.mktemp("loader") / "cartpole.npz", arrays, card)


@pytest.mark.parametrize("return_reward", [False, True])
def test_dataloader_batches_equal_the_items(path, return_reward):
    ds = BaselineDataset(path, n_episodes=4, return_reward=return_reward)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    batched = ds.__getitems__(order[:37])
    single = [ds[i] for i in order[:37]]
    for a, b in zip(batched, single):
        assert len(a) == len(b) == (5 if return_reward else 3)
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
    seen = 0
    for batch in DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1)):
        assert batch[0].shape[1:] == (4,) and batch[1].dtype == torch.int64
        seen += len(batch[0])
    assert seen == len(ds)


def test_eval_split_reads_only_its_episodes(path):
    ev = BaselineDataset(path, n_episodes=4, split="eval")
    rows = ev.__getitems__(list(range(len(ev))))
    assert np.array_equal(torch.stack([r[0] for r in rows]).numpy(), np.asarray(ev.obs))
