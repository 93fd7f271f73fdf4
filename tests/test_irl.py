"""Inverse RL (AIRL, AppL, GCL): they learn, their learned rewards make sense, they are seeded and saved.

Each method trains once on 4 CartPole expert episodes with ~16k PPO steps (module fixture) and must
clearly beat random play on validation-stream seeds; budgets are tiny (expert level is the job of
benchmarks/irl_quality.py). The shared PPO trainer is GAIL's (tests/test_methods.py keeps testing GAIL).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from illab import experts
from illab.methods import AIRL, METHODS, AIRLConfig, AppL, AppLConfig, GCL, GCLConfig
from illab.methods.airl import airl_logit
from illab.methods.appl import feature_expectations, projection_step
from illab.methods.gcl import gcl_loss
from illab.policy import RandomPolicy
from illab.rollout import run_episodes
from illab.seeds import episode_seeds
from test_methods import POINT_ID, make_dataset, margin_over_random, point_expert

TINY = {
    "airl": AIRLConfig(total_timesteps=16_384, generator_reward="softplus", eval_every=0),
    "gcl": GCLConfig(total_timesteps=16_384, generator_reward="softplus", eval_every=0),
    "appl": AppLConfig(total_timesteps=16_384, rollouts_per_iteration=4, eval_every=4, feature_episodes=5),
}
FLOOR = {"airl": 0.5, "gcl": 0.4, "appl": 0.3}  # normalized validation score: 0 = random, 1 = the expert


@pytest.fixture(scope="module")
def cartpole():
    return make_dataset(experts.load("cartpole"), "CartPole-v1", 4)


def fit(name, ds, seed=0, config=None, eval_episodes=0):
    m = METHODS[name].from_dataset(ds, config=config or TINY[name], seed=seed)
    return m.fit(ds, eval_episodes=eval_episodes, progress=False)


@pytest.fixture(scope="module")
def trained(cartpole):
    # AppL keeps its best iterate on 3 validation episodes per iteration (its model selection)
    return {name: fit(name, cartpole, eval_episodes=3 if name == "appl" else 0) for name in TINY}


# ---------------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("name", ["airl", "gcl", "appl"])
def test_learns_cartpole(trained, cartpole, name):
    score = margin_over_random(trained[name], cartpole)
    assert score > FLOOR[name], f"{name} on CartPole: normalized validation score {score:.2f} <= {FLOOR[name]}"


def test_airl_reward_ranks_expert_transitions_above_random(trained, cartpole):
    airl = trained["airl"]
    rand = run_episodes(RandomPolicy(cartpole.action_space, seed=3), "CartPole-v1", episode_seeds(7, 20))
    r_obs = np.concatenate([e.obs for e in rand])
    r_next = np.concatenate([e.next_obs for e in rand])
    g_exp, g_rand = airl.reward(cartpole.obs), airl.reward(r_obs)
    assert g_exp.shape == (len(cartpole.obs),) and g_exp.dtype == np.float32
    # AUC: probability that a random expert state outranks a random random-play state
    auc = (g_exp[:, None] > g_rand[None, :]).mean()
    assert auc > 0.75, f"AIRL's g(s) ranks expert states above random-play states with AUC {auc:.2f} only"
    d_exp = airl.discriminate(cartpole.obs, cartpole.actions, cartpole.next_obs, cartpole.terminated)
    d_rand = airl.discriminate(r_obs, np.concatenate([e.actions for e in rand]), r_next,
                               np.concatenate([e.terminated for e in rand]))
    assert d_exp.mean() > d_rand.mean()


def test_airl_shaped_reward_has_the_papers_structure(trained, cartpole):
    airl = trained["airl"]
    obs, nxt = cartpole.obs[:50], cartpole.next_obs[:50]
    term = np.zeros(50, dtype=bool)
    term[::7] = True
    with torch.no_grad():
        g = airl.reward_net.g(torch.as_tensor(obs)).numpy()
        h, h2 = airl.reward_net.h(torch.as_tensor(obs)).numpy(), airl.reward_net.h(torch.as_tensor(nxt)).numpy()
    want = g + airl.config.gamma * h2 * (1 - term) - h
    np.testing.assert_allclose(airl.shaped_reward(obs, nxt, term), want, rtol=1e-5, atol=1e-5)
    logp = airl.log_prob(obs, cartpole.actions[:50])
    d = airl.discriminate(obs, cartpole.actions[:50], nxt, term)
    np.testing.assert_allclose(d, 1 / (1 + np.exp(-(want - logp.numpy()))), rtol=1e-4, atol=1e-5)
    assert float(airl_logit(torch.tensor(2.0), torch.tensor(math.log(0.5)))) == pytest.approx(2 + math.log(2))


def test_appl_margin_and_history(trained):
    m = trained["appl"]
    n_iter = 16_384 // (8 * 128) // 4
    assert len(m.history["margin"]) == n_iter + 1 and len(m.history["eval_return"]) >= n_iter
    assert m.history["margin"][-1] < m.history["margin"][0]  # the projection closes the gap to μ_E
    assert m.mu_expert.shape == (m.config.n_centers,)
    assert np.linalg.norm(m.linear_reward.w.numpy()) == pytest.approx(1.0, abs=1e-5)


def test_rewards_have_the_common_signature(trained, cartpole):
    for name, m in trained.items():
        r = m.reward(cartpole.obs[:10], cartpole.actions[:10], cartpole.next_obs[:10])
        assert r.shape == (10,) and r.dtype == np.float32 and np.isfinite(r).all(), name


def test_gcl_cost_is_lower_on_demonstrations(trained, cartpole):
    g = trained["gcl"]
    rand_actions = RandomPolicy(cartpole.action_space, seed=1).predict(cartpole.obs)[0]
    assert g.reward(cartpole.obs, cartpole.actions).mean() > g.reward(cartpole.obs, rand_actions).mean()
    assert g.history["cost_expert"][-1] < g.history["cost_policy"][-1]


@pytest.mark.parametrize("name", ["airl", "gcl", "appl"])
def test_box_actions_point_reach(name):
    """Box actions: the PPO policy is Gaussian; AIRL/AppL rewards are state-only, GCL's c(s, a) scales actions."""
    ds = make_dataset(point_expert(), POINT_ID, 20)
    cfg = dataclasses.replace(TINY[name], total_timesteps=8192, n_steps=64)
    m = fit(name, ds, config=cfg, eval_episodes=3)
    score = margin_over_random(m, ds)
    assert score > 0.3, f"{name} on PointReach: normalized validation score {score:.2f} <= 0.3"


# ------------------------------------------------------------------------------------ the algebra
def test_projection_step_is_the_orthogonal_projection():
    mu_e, mu_bar, mu = np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.array([2.0, 0.0])
    new = projection_step(mu_bar, mu, mu_e)
    np.testing.assert_allclose(new, [1.0, 0.0])  # closest point to μ_E on the line through μ̄ and μ
    assert np.linalg.norm(mu_e - new) < np.linalg.norm(mu_e - mu_bar)
    np.testing.assert_allclose(projection_step(mu_bar, mu_bar, mu_e), mu_bar)  # no direction: no move



def test_course_checkers_accept_the_solution_and_catch_mistakes(capsys):
    from illab.course.irl import check_airl_logit, check_projection_step
    from illab.course.solutions import airl_logit as reference_logit
    assert check_projection_step(projection_step) is projection_step     # illab's own AppL step passes
    assert check_airl_logit(reference_logit) is reference_logit
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="squared"):
        check_projection_step(lambda b, m, e: b + ((m - b) @ (e - b)) / np.linalg.norm(m - b) * (m - b))
    with pytest.raises(AssertionError, match="subtract log π"):
        check_airl_logit(lambda g, h, h2, t, lp, gm: g + gm * h2 * (1 - t) - h)
    with pytest.raises(AssertionError, match="mask the next state"):
        check_airl_logit(lambda g, h, h2, t, lp, gm: g + gm * h2 - h - lp)

def test_feature_expectations_discount_within_episodes():
    phi = np.array([[1.0], [1.0], [1.0], [2.0]])
    mu = feature_expectations(phi, [3, 1], gamma=0.5)
    assert mu == pytest.approx([((1 + 0.5 + 0.25) + 2.0) / 2])
    with pytest.raises(ValueError, match="sum to"):
        feature_expectations(phi, [2, 1], gamma=0.5)


def test_gcl_loss_matches_the_importance_sampled_estimate():
    c_demo, c_s, log_q = torch.tensor([0.5, 1.0]), torch.tensor([0.2, 2.0, 1.0]), torch.log(torch.tensor([0.5, 0.25, 1.0]))
    want = 0.75 + math.log(np.mean(np.exp(-c_s.numpy()) / np.exp(log_q.numpy())))
    assert float(gcl_loss(c_demo, c_s, log_q)) == pytest.approx(want, rel=1e-6)


# -------------------------------------------------------------------------------- seeds and files
@pytest.mark.parametrize("name", ["airl", "gcl", "appl"])
def test_same_seed_same_weights_and_global_rng_untouched(cartpole, name):
    extra = {"rollouts_per_iteration": 1, "eval_every": 1} if name == "appl" else {"eval_every": 1}
    cfg = dataclasses.replace(TINY[name], total_timesteps=1024, **extra)  # one rollout, one reward update
    before = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
    a, b, c = (fit(name, cartpole, seed=s, config=cfg) for s in (5, 5, 6))
    assert torch.equal(before[0], torch.get_rng_state()) and np.array_equal(before[1], np.random.get_state()[1])
    sa, sb, sc = a._state(), b._state(), c._state()
    for key in sa:
        assert all(torch.equal(sa[key][k], sb[key][k]) for k in sa[key]), f"{name}.{key} differs for one seed"
    assert not all(torch.equal(sa["policy"][k], sc["policy"][k]) for k in sa["policy"])


@pytest.mark.parametrize("name", ["airl", "gcl", "appl"])
def test_save_load_identical_actions_and_rewards(trained, cartpole, name, tmp_path):
    m = trained[name]
    path = m.save(tmp_path / f"{name}.pt")
    again = METHODS[name].load(path)
    assert type(again) is type(m) and again.config == m.config
    obs = cartpole.obs[::7]
    np.testing.assert_array_equal(m.predict(obs)[0], again.predict(obs)[0])
    np.testing.assert_array_equal(m.reward(obs, m.predict(obs)[0], obs), again.reward(obs, again.predict(obs)[0], obs))
    with pytest.raises(FileExistsError):
        m.save(path)


def test_airl_needs_next_obs(cartpole):
    blind = dataclasses.replace(cartpole, next_obs=None)
    with pytest.raises(ValueError, match="next_obs"):
        AIRL.from_dataset(blind, TINY["airl"]).fit(blind, eval_episodes=0, progress=False)


def test_configs_refuse_unknown_choices():
    with pytest.raises(ValueError, match="generator_reward"):
        AIRLConfig(generator_reward="gail")
    with pytest.raises(ValueError, match="generator_reward"):
        GCLConfig(generator_reward="cost")
    with pytest.raises(ValueError, match="features"):
        AppLConfig(features="poly")
    assert isinstance(AppL.from_dataset(make_dataset(point_expert(), POINT_ID, 2)), AppL)
    assert issubclass(GCL, METHODS["gail"].__mro__[1])  # GAIL, AIRL, GCL, AppL share one PPO trainer
    assert {"airl", "gcl", "appl"} <= set(METHODS)
