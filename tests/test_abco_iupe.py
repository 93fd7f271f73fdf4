"""ABCO and IUPE (issue 15): they learn (Discrete and Box), follow the goal-aware sampling rule,
sample their labels, are seeded, and save/load.

Budgets are tiny: "learns" means a clear margin over random play, not expert level
(that is benchmarks/abco_quality.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from illab import experts
from illab.methods import ABCO, IUPE, METHODS, ABCOConfig, IUPEConfig
from illab.methods.abco import goal_aware_mix, goal_aware_ratio
from illab.methods.base import ILMethod
from test_methods import POINT_ID, make_dataset, margin_over_random, point_expert

TINY = {
    "abco": ABCOConfig(pre_demo_steps=2000, agent_steps=1000, post_iterations=1, epochs=40, idm_epochs=20),
    "iupe": IUPEConfig(pre_demo_steps=2000, agent_steps=1000, post_iterations=1, epochs=40, idm_epochs=20),
}
TINY_BOX = {
    "abco": ABCOConfig(pre_demo_steps=1000, agent_steps=400, post_iterations=2, epochs=40, idm_epochs=30),
    "iupe": IUPEConfig(pre_demo_steps=1000, agent_steps=400, post_iterations=2, epochs=40, idm_epochs=30),
}


@pytest.fixture(scope="module")
def cartpole():
    return make_dataset(experts.load("cartpole"), "CartPole-v1", 4)


@pytest.fixture(scope="module")
def point():
    return make_dataset(point_expert(), POINT_ID, 30)


def fit(name, ds, seed=0, config=None, box=False):
    cfg = config or (TINY_BOX if box else TINY)[name]
    return METHODS[name].from_dataset(ds, config=cfg, seed=seed).fit(ds, eval_episodes=0, progress=False)


@pytest.fixture(scope="module")
def trained(cartpole, point):
    return {(name, task): fit(name, ds, box=task == "point")
            for name in ("abco", "iupe") for task, ds in (("cartpole", cartpole), ("point", point))}


# ------------------------------------------------------------------------------------------ learning
@pytest.mark.parametrize("name", ["abco", "iupe"])
def test_learns_discrete_cartpole(trained, cartpole, name):
    score = margin_over_random(trained[name, "cartpole"], cartpole)
    assert score > 0.6, f"{name} on CartPole: normalized validation score {score:.2f} <= 0.6"


@pytest.mark.parametrize("name", ["abco", "iupe"])
def test_learns_box_point(trained, point, name):
    score = margin_over_random(trained[name, "point"], point)
    assert score > 0.6, f"{name} on PointReach: normalized validation score {score:.2f} <= 0.6"


# ------------------------------------------------------------------------------ goal-aware sampling
def test_goal_aware_ratio():
    assert goal_aware_ratio(np.array([0.0, 100.0]), 0.0, 100.0) == pytest.approx(0.5)
    assert goal_aware_ratio(np.array([-50.0, 150.0, 50.0]), 0.0, 100.0) == pytest.approx(0.5)  # clipped to [0, 1]
    assert goal_aware_ratio(np.array([]), 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="must exceed"):
        goal_aware_ratio(np.array([1.0]), 5.0, 5.0)


def test_goal_aware_mix_sizes_and_content():
    old = {"obs": np.zeros((100, 2)), "actions": np.zeros(100), "next_obs": np.zeros((100, 2))}
    new = {"obs": np.ones((40, 2)), "actions": np.ones(40), "next_obs": np.ones((40, 2))}
    rng = np.random.default_rng(0)
    same = goal_aware_mix(old, new, 0.0, rng)
    assert len(same["obs"]) == 100 and not same["obs"].any()          # a failing agent adds nothing
    allnew = goal_aware_mix(old, new, 1.0, rng)
    assert len(allnew["obs"]) == 40 and allnew["obs"].all()           # a perfect agent's data replaces it
    mixed = goal_aware_mix(old, new, 0.25, rng)
    assert len(mixed["obs"]) == 75 + 10 and mixed["actions"].sum() == 10
    with pytest.raises(ValueError, match="ratio"):
        goal_aware_mix(old, new, 1.5, rng)


@pytest.mark.parametrize("name", ["abco", "iupe"])
def test_idm_data_follows_the_ratio(trained, name):
    m = trained[name, "cartpole"]
    h = m.history
    assert len(h["ratio"]) == 1 and 0.0 < h["ratio"][0] <= 1.0
    r = h["ratio"][0]
    assert h["idm_size"] == [2000, int(2000 * (1 - r)) + int(1000 * r)]
    assert m.interaction_steps == 2000 + 1000
    assert h["idm_accuracy"][-1] > 0.9 and len(h["idm_accuracy_on_policy"]) == 1


def test_without_rewards_the_ratio_is_one(cartpole):
    blind = cartpole.without_actions()
    blind = dataclasses.replace(blind, rewards=None)
    cfg = ABCOConfig(pre_demo_steps=500, agent_steps=300, post_iterations=1, epochs=2, idm_epochs=2)
    with pytest.warns(UserWarning, match="no rewards"):
        m = ABCO.from_dataset(blind, cfg).fit(blind, eval_episodes=0, progress=False)
    assert m.history["ratio"] == [1.0] and m.history["idm_size"] == [500, 300]
    assert "inferred_accuracy" not in m.history


# ------------------------------------------------------------------------------- IUPE's sampling
def test_iupe_labels_are_sampled_from_the_idm(trained, cartpole, point):
    m = trained["iupe", "cartpole"]
    a = m.sample_labels(cartpole.obs, cartpole.next_obs, np.random.default_rng(3))
    b = m.sample_labels(cartpole.obs, cartpole.next_obs, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)                                   # seeded
    greedy = m.infer_actions(cartpole.obs, cartpole.next_obs)
    assert a.dtype == np.int64 and 0.8 < np.mean(a == greedy) <= 1.0     # mostly, not always, the argmax
    x = torch.as_tensor(np.concatenate([cartpole.obs, cartpole.next_obs - cartpole.obs], 1))
    with torch.no_grad():
        p = torch.softmax(m.idm(x), -1).max(-1).values.numpy()
    uncertain = p < 0.9
    if uncertain.sum() >= 20:  # where the IDM hesitates the draws disagree with the argmax more often
        assert np.mean(a[uncertain] != greedy[uncertain]) > np.mean(a[~uncertain] != greedy[~uncertain])
    box = trained["iupe", "point"]
    zero = box.sample_labels(point.obs, point.next_obs, np.random.default_rng(0), std=np.zeros(1, np.float32))
    np.testing.assert_allclose(zero, box.infer_actions(point.obs, point.next_obs), atol=1e-6)
    noisy = box.sample_labels(point.obs, point.next_obs, np.random.default_rng(0), std=np.full(1, 0.3, np.float32))
    assert noisy.shape == zero.shape and np.abs(noisy - zero).mean() > 0.05
    assert np.all(noisy >= -1) and np.all(noisy <= 1)                    # clipped to the bounds
    assert box.history["exploration_std"] == [0.1, 0.1] and "label_agreement" not in box.history  # mean labels


# ----------------------------------------------------------------------------- seeds, persistence
@pytest.mark.parametrize("name", ["abco", "iupe"])
def test_same_seed_same_weights(cartpole, name):
    cfg = (TINY["abco"] if name == "abco" else TINY["iupe"])
    extra = {"explore_epsilon": 0.3}  # the ε-random play is seeded too
    cfg = type(cfg)(pre_demo_steps=600, agent_steps=300, post_iterations=1, epochs=3, idm_epochs=3, **extra)
    a, b, c = (fit(name, cartpole, seed=s, config=cfg) for s in (7, 7, 8))
    for x, y in ((a.net, b.net), (a.idm, b.idm)):
        sx, sy = x.state_dict(), y.state_dict()
        assert all(torch.equal(sx[k], sy[k]) for k in sx)
    assert a.history["idm_size"] == b.history["idm_size"]
    assert not all(torch.equal(v, c.net.state_dict()[k]) for k, v in a.net.state_dict().items())


@pytest.mark.parametrize("name", ["abco", "iupe"])
@pytest.mark.parametrize("task", ["cartpole", "point"])
def test_save_load_identical_actions(trained, cartpole, point, tmp_path, name, task):
    m = trained[name, task]
    obs = (cartpole if task == "cartpole" else point).obs[::5]
    path = m.save(tmp_path / f"{name}.pt")
    back = ILMethod.load(path)
    assert type(back) is type(m) and back.config == m.config and back.history == m.history
    np.testing.assert_array_equal(back.predict(obs)[0], m.predict(obs)[0])
    np.testing.assert_array_equal(back.infer_actions(obs[:-1], obs[1:]), m.infer_actions(obs[:-1], obs[1:]))


@pytest.mark.parametrize("task", ["cartpole", "point"])
def test_epsilon_greedy_play(trained, cartpole, point, task):
    from illab.methods.abco import _EpsilonRandom
    m = trained["abco", task]

    def _EpsilonGreedy(method, eps, rng):
        return _EpsilonRandom(method, method.action_space, eps, rng)

    obs = (cartpole if task == "cartpole" else point).obs[:400]
    greedy = m.predict(obs)[0]
    same = _EpsilonGreedy(m, 0.0, np.random.default_rng(0)).predict(obs)[0]
    np.testing.assert_array_equal(same, greedy)                           # ε = 0: ABCO's greedy play
    a = _EpsilonGreedy(m, 0.5, np.random.default_rng(1)).predict(obs)[0]
    b = _EpsilonGreedy(m, 0.5, np.random.default_rng(1)).predict(obs)[0]
    np.testing.assert_array_equal(a, b)                                   # seeded
    changed = np.any((a != greedy).reshape(len(obs), -1), axis=1).mean()
    assert a.shape == greedy.shape and a.dtype == greedy.dtype
    if task == "cartpole":  # half the actions redrawn, half of those land on the other action
        assert 0.15 < changed < 0.35
    else:
        assert 0.4 < changed <= 0.5 + 0.1 and np.all(a >= m.action_space.low) and np.all(a <= m.action_space.high)
    one = _EpsilonGreedy(m, 0.5, np.random.default_rng(2)).predict(obs[0])[0]
    assert np.shape(one) == np.shape(greedy[0])                          # a single observation


def test_selection_episodes_set_the_validation_budget(cartpole, monkeypatch):
    import illab.evaluate
    calls, real = [], illab.evaluate.evaluate

    def spy(*args, **kwargs):
        calls.append((kwargs.get("n_episodes"), kwargs.get("stream")))
        return real(*args, **kwargs)

    monkeypatch.setattr(illab.evaluate, "evaluate", spy)
    cfg = ABCOConfig(pre_demo_steps=300, agent_steps=200, post_iterations=1, epochs=1, idm_epochs=1,
                     selection_episodes=4)
    m = ABCO.from_dataset(cartpole, cfg).fit(cartpole, eval_episodes=2, progress=False)
    assert calls == [(4, "validation")] * 2 and len(m.history["eval_return"]) == 2  # one per round
    calls.clear()
    ABCO.from_dataset(cartpole, cfg).fit(cartpole, eval_episodes=0, progress=False)
    assert calls == []                                                   # 0 still turns evaluation off
    calls.clear()
    ABCO.from_dataset(cartpole, dataclasses.replace(cfg, selection_episodes=0)).fit(cartpole, eval_episodes=2,
                                                                                     progress=False)
    assert calls == [(2, "validation")] * 2                              # 0: fit's eval_episodes


def test_config_validation():
    with pytest.raises(ValueError, match="agent_steps"):
        ABCOConfig(agent_steps=0)
    with pytest.raises(ValueError, match="selection_episodes"):
        ABCOConfig(selection_episodes=-1)
    with pytest.raises(ValueError, match="explore_epsilon"):
        ABCOConfig(explore_epsilon=1.5)

    with pytest.raises(ValueError, match="exploration_std"):
        IUPEConfig(exploration_std=-0.1)
    assert METHODS["abco"] is ABCO and METHODS["iupe"] is IUPE


def test_benchmark_configs_are_valid():
    from illab.methods import abco, iupe
    for mod, cls in ((abco, ABCOConfig), (iupe, IUPEConfig)):
        cls(**mod.QUICK_CONFIG)
        for env_id, cfg in mod.BENCHMARK_CONFIGS.items():
            assert "-v" in env_id and cls(**cfg)
