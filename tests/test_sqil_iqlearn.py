"""Off-policy IL (SQIL, IQ-Learn): they learn, they are seeded, they save and load.

Tiny budgets: CartPole (Discrete, SB3 DQN) and the 1-D PointReach task of test_methods (Box,
SB3 SAC). "Learns" means a clear margin over random play on validation seeds, not expert level
(that is benchmarks/offpolicy_quality.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from illab import experts
from illab.methods import METHODS, load
from illab.methods.iqlearn import IQLearn, IQLearnConfig, iq_loss
from illab.methods.sqil import SQIL, SQILConfig, _replay_buffer_class
from test_methods import POINT_ID, make_dataset, margin_over_random, point_expert

CARTPOLE = dict(total_timesteps=2500, learning_starts=500, eval_every=0, target_update_interval=250)
POINT = dict(total_timesteps=1500, learning_starts=200, eval_every=0, batch_size=64)


@pytest.fixture(scope="module")
def cartpole():
    return make_dataset(experts.load("cartpole"), "CartPole-v1", 4)


@pytest.fixture(scope="module")
def point():
    return make_dataset(point_expert(), POINT_ID, 20)


def fit(cls, ds, seed=0, eval_episodes=0, **kw):
    m = cls.from_dataset(ds, config=cls.config_class(**kw), seed=seed)
    return m.fit(ds, eval_episodes=eval_episodes, progress=False)


@pytest.fixture(scope="module")
def trained(cartpole, point):
    return {("sqil", "cartpole"): fit(SQIL, cartpole, **CARTPOLE),
            ("iqlearn", "cartpole"): fit(IQLearn, cartpole, **CARTPOLE),
            ("sqil", "point"): fit(SQIL, point, **POINT),
            ("iqlearn", "point"): fit(IQLearn, point, **POINT)}


def test_registered():
    assert METHODS["sqil"] is SQIL and METHODS["iqlearn"] is IQLearn


@pytest.mark.parametrize("name", ["sqil", "iqlearn"])
def test_learns_cartpole(trained, cartpole, name):
    score = margin_over_random(trained[name, "cartpole"], cartpole)
    assert score > 0.5, f"{name} on CartPole: normalized validation score {score:.2f} <= 0.5"


@pytest.mark.parametrize("name", ["sqil", "iqlearn"])
def test_learns_box_point(trained, point, name):
    score = margin_over_random(trained[name, "point"], point)
    assert score > 0.5, f"{name} on PointReach: normalized validation score {score:.2f} <= 0.5"


@pytest.mark.parametrize("name", ["sqil", "iqlearn"])
@pytest.mark.parametrize("task", ["cartpole", "point"])
def test_save_load_identical_actions(trained, cartpole, point, tmp_path, name, task):
    m = trained[name, task]
    ds = cartpole if task == "cartpole" else point
    path = m.save(tmp_path / f"{name}.pt")
    again = load(path)
    assert type(again) is type(m) and again.config == m.config
    np.testing.assert_array_equal(again.predict(ds.obs[:50])[0], m.predict(ds.obs[:50])[0])
    assert again.history == m.history
    with pytest.raises(FileExistsError):
        m.save(path)


@pytest.mark.parametrize("cls, task", [(SQIL, "point"), (IQLearn, "cartpole")])
def test_same_seed_same_weights(cartpole, point, cls, task):
    ds = point if task == "point" else cartpole
    kw = dict(total_timesteps=200, learning_starts=50, eval_every=0, batch_size=32)
    before = (np.random.get_state()[1][:5].copy(), torch.random.get_rng_state().clone())
    a, b = fit(cls, ds, seed=3, **kw), fit(cls, ds, seed=3, **kw)
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    sc = cls.from_dataset(ds, config=cls.config_class(**kw), seed=4).policy.state_dict()
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    # the caller's global RNGs are untouched by SB3's seeding
    assert np.array_equal(np.random.get_state()[1][:5], before[0])
    assert torch.equal(torch.random.get_rng_state(), before[1])


def test_steps_to_expert_and_references(cartpole):
    m = fit(SQIL, cartpole, eval_episodes=3, **{**CARTPOLE, "total_timesteps": 1000, "eval_every": 500,
                                                 "expert_return": 500.0, "random_return": 20.0,
                                                 "expert_threshold": -1.0, "stop_at_expert": True})
    h = m.history
    assert h["expert_return"] == [500.0] and h["random_return"] == [20.0]
    assert h["steps_to_expert"] == [500] and h["eval_step"][0] == 500  # threshold -1: the first evaluation
    assert np.isclose(h["eval_normalized"][0], (h["eval_return"][0] - 20.0) / 480.0)
    assert h["steps"][-1] == 500  # stopped at the first evaluation


def test_offline_iqlearn_takes_no_env_steps(cartpole):
    m = fit(IQLearn, cartpole, offline=True, total_timesteps=1000, eval_every=0)
    assert m.history["steps"] == [1000]
    score = margin_over_random(m, cartpole)
    assert score > 0.3, f"offline IQ-Learn on CartPole: normalized validation score {score:.2f} <= 0.3"


def test_replay_buffer_balances_and_relabels():
    import gymnasium as gym
    obs_space, act_space = gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2)
    demo = {"obs": np.ones((10, 2), np.float32), "actions": np.ones((10, 1), np.int64),
            "next_obs": np.ones((10, 2), np.float32), "dones": np.zeros(10, np.float32)}
    buf = _replay_buffer_class()(100, obs_space, act_space, device="cpu", demonstrations=demo, seed=0)
    for _ in range(5):
        buf.add(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 1)), np.array([7.0]), np.array([False]), [{}])
    s = buf.sample(8)
    assert s.rewards.reshape(-1).tolist() == [1.0] * 4 + [0.0] * 4  # env reward 7 is relabelled to 0
    assert s.observations[:4].eq(1).all() and s.observations[4:].eq(0).all()


def test_iq_loss_matches_the_formula():
    q, v, v2 = torch.tensor([2.0, 1.0]), torch.tensor([3.0, 2.0]), torch.tensor([1.0, 4.0])
    done, exp = torch.tensor([0.0, 1.0]), torch.tensor([True, False])
    loss, stats = iq_loss(q, v, v2, done, exp, gamma=0.5, chi2_coef=0.5, offline=False)
    r = torch.tensor([2.0 - 0.5, 1.0])  # Q − γV', V' = 0 at the terminal row
    expected = -r[0] + ((v - torch.tensor([0.5, 0.0])).mean()) + r[0] ** 2 / 2.0  # χ² over the expert rows
    assert torch.isclose(loss, expected) and stats["reward_expert"] == pytest.approx(1.5)
    mixed, _ = iq_loss(q, v, v2, done, exp, gamma=0.5, chi2_coef=0.5, offline=False, chi2_mixture=True)
    assert torch.isclose(mixed, expected - r[0] ** 2 / 2.0 + (r ** 2).mean() / 2.0)  # χ² over both rows (SAC)
    off, _ = iq_loss(q, v, v2, done, exp, gamma=0.5, chi2_coef=0.5, offline=True)  # offline: expert rows only
    assert torch.isclose(off, -r[0] + (v[0] - 0.5) + r[0] ** 2 / 2.0)


def test_config_errors():
    with pytest.raises(ValueError, match="expert_fraction"):
        SQILConfig(expert_fraction=0.0)
    with pytest.raises(ValueError, match="ent_coef"):
        SQILConfig(ent_coef="lots")
    with pytest.raises(ValueError, match="temperature"):
        IQLearnConfig(temperature=0.0)


def test_course_checkers_accept_the_solution_and_catch_mistakes():
    from illab.course.offpolicy import check_implied_reward, check_soft_value
    from illab.course.solutions import implied_reward, soft_value
    assert check_soft_value(soft_value) is soft_value
    assert check_implied_reward(implied_reward) is implied_reward
    with pytest.raises(AssertionError, match="hard max"):
        check_soft_value(lambda q, a: q.max(dim=1).values)
    with pytest.raises(AssertionError, match="overflow"):
        check_soft_value(lambda q, a: a * torch.log(torch.exp(q / a).sum(dim=1)))
    with pytest.raises(AssertionError, match="terminal"):
        check_implied_reward(lambda q, v, t, g: q - g * v)
