import dataclasses
import shutil

import pytest

import illab.experts as E


def test_unknown_id_lists_ids_and_closest_match():
    with pytest.raises(KeyError) as e:
        E.get("cartpol")
    msg = str(e.value)
    assert "'cartpole'" in msg and "Did you mean" in msg and "mountaincar" in msg


def test_duplicate_registration_refused_and_custom_registration_works():
    base = E.get("cartpole")
    with pytest.raises(ValueError, match="already registered"):
        E.register("cartpole", base)
    rec = dataclasses.replace(base, id="my-cartpole")
    try:
        E.register("my-cartpole", rec)
        assert "my-cartpole" in E.list()
    finally:
        E.unregister("my-cartpole")
    assert "my-cartpole" not in E.list()


def test_sha256_mismatch_is_a_clear_error(tmp_path):
    base = E.get("cartpole")
    bad = tmp_path / "cartpole.zip"
    shutil.copy(base.path, bad)
    with open(bad, "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="sha256 mismatch"):
        E.load_file(bad, base.algo, sha256=base.sha256)


def test_hub_offline_not_cached_names_bundled_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"illab.experts.load\('cartpole'\)"):
        E.load("cartpole", source="hub", cache_dir=tmp_path)


def test_unpinned_file_is_loaded_without_unpickling_and_acts_like_the_pinned_load(tmp_path):
    import numpy as np
    base = E.get("pendulum")
    trusted = E.load_file(base.path, base.algo, sha256=base.sha256)
    with pytest.raises(ValueError, match="env_id"):
        E.load_file(base.path, base.algo)
    safe = E.load_file(base.path, base.algo, env_id=base.env_id)
    assert type(safe.model).__name__ == "LoadedModel" and type(trusted.model).__name__ == "SAC"
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    np.testing.assert_array_equal(safe.predict(obs)[0], trusted.predict(obs)[0])


def test_scripted_experts_beat_random_and_their_reference_returns_reproduce():
    from illab import experts
    from illab.evaluate import evaluate
    from illab.experts.scripted import measure
    rand, expert = measure("mountaincar-energy", n_episodes=10)
    assert expert[0] > rand[0] + 50  # energy pumping reaches the flag; random play never does
    stored_random, stored_expert = experts.get("mountaincar-energy").reference_returns()
    assert stored_random == rand[0] and abs(stored_expert - expert[0]) < 10
    res = evaluate(experts.load("lunarlander-heuristic"), "LunarLander-v3", n_episodes=8)
    assert res.mean > experts.get("lunarlander-heuristic").random_return[0] + 200


def test_every_bundled_card_reaches_its_threshold_matches_its_file_and_explains_a_lowered_one():
    import hashlib
    import json

    from illab.experts.zoo import ZOO
    shipped, total = [], 0
    for eid in E.list():
        e = E.get(eid)
        if e.path is None:
            continue
        shipped.append(eid)
        card = json.loads(e.path.with_suffix(".json").read_text())
        assert card["eval_episodes"] == 100 and card["eval_stream"] == "test", eid
        assert card["expert_return"][0] >= card["threshold"] == e.threshold, eid
        assert card["expert_return"][0] > card["random_return"][0] + 3 * card["random_return"][1], eid
        assert hashlib.sha256(e.path.read_bytes()).hexdigest() == card["sha256"] == e.sha256, eid
        if card["threshold"] < ZOO[eid].threshold:  # an honest, lowered threshold says why
            assert card.get("target_threshold") == ZOO[eid].threshold and "below" in card.get("note", ""), eid
        total += sum(p.stat().st_size for p in e.path.parent.glob(f"{eid}.*"))
    assert set(shipped) == set(ZOO), f"registered zoo experts without bundled weights: {set(ZOO) - set(shipped)}"
    assert total < 10 * 2**20, f"bundled experts take {total / 2**20:.1f} MiB"
