"""Hub experts in the real rl-baselines3-zoo format load safely, offline, and work everywhere by id.

The zoo-format files are built once per session by ``tests/_zoo_files.py`` in a subprocess where a
stub ``gym`` package is importable (so their pickles reference ``gym.spaces.*`` as the zoo's do),
then copied into a Hugging Face cache layout and loaded where ``gym`` is *not* importable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from illab import experts, hub
from illab.evaluate import evaluate
from illab.experts.safe_sb3 import RefusedFileError

ROOT = Path(__file__).resolve().parents[1]
REV = "0123456789abcdef0123456789abcdef01234567"
BUILT = ("ppo-Hopper-v3", "dqn-Acrobot-v1", "sac-Pendulum-v1", "td3-Hopper-v3")


def _cache(root: Path, repo_id: str, files: dict) -> Path:
    """Build huggingface_hub's cache layout: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(REV)
    snap = repo / "snapshots" / REV
    snap.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        shutil.copy(src, snap / name)
    return root


def _repo_files(zoo: Path, name: str, **replace) -> dict:
    files = {p.name: p for p in (zoo / name).iterdir()}
    for key, src in replace.items():
        fname = {"model": f"{name}.zip", "vec_normalize": "vec_normalize.pkl", "config": "config.yml"}[key]
        if src is None:
            files.pop(fname, None)
        else:
            files[fname] = src
    return files


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zoo-files")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "_zoo_files.py"), str(out)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def zoo_cache(zoo, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf-cache")
    for name in BUILT:
        _cache(root, f"sb3/{name}", _repo_files(zoo, name))
    return root


@pytest.fixture
def offline(monkeypatch, zoo_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(zoo_cache))
    return zoo_cache


def _run_without_gym(code: str, tmp_path: Path, **env) -> dict:
    """Run ``code`` in a fresh interpreter where ``gym`` is not importable; return its last stdout line (JSON)."""
    marker = tmp_path / "MARKER"
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "ILLAB_MARKER": str(marker), **env}
    prelude = "import importlib.util, json, sys\nassert importlib.util.find_spec('gym') is None\n"
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          env=full, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists(), "code from a download ran"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_built_files_are_zoo_format_and_the_poisons_fire_under_the_ordinary_loaders(zoo):
    report = json.loads((zoo / "report.json").read_text())
    assert all(r["gym_spaces"] for r in report["repos"].values())  # pickles reference gym.spaces.*
    assert "vec_normalize.pkl" in report["repos"]["ppo-Hopper-v3"]["files"]
    assert (zoo / "ppo-Hopper-v3" / "config.yml").read_text().startswith("!!python/object/apply:collections.OrderedDict")
    assert report["poison"] == {"serialized": True, "vec_normalize": True, "policy_pth": True, "config": True}


def test_zoo_models_load_without_gym_and_act_exactly_like_the_originals(zoo, zoo_cache, tmp_path):
    res = _run_without_gym(f"""
        import numpy as np
        from illab import experts
        exp = np.load({str(zoo / 'expected.npz')!r})
        out = {{}}
        for eid in {list(BUILT)!r}:
            policy = experts.load(eid)
            actions = policy.predict(exp["obs_" + eid])[0]
            out[eid] = [bool(np.array_equal(actions, exp["act_" + eid])), policy.obs_mean is not None]
        twin = experts.load("hopper", source="hub").predict(exp["obs_td3-Hopper-v3"])[0]
        out["hopper-as-hub"] = bool(np.array_equal(twin, exp["act_td3-Hopper-v3"]))
        out["gym-imported"] = "gym" in sys.modules
        print(json.dumps(out))
    """, tmp_path, HF_HUB_CACHE=str(zoo_cache))
    assert res.pop("gym-imported") is False
    assert res.pop("hopper-as-hub") is True
    assert res == {"ppo-Hopper-v3": [True, True], "dqn-Acrobot-v1": [True, False],
                   "sac-Pendulum-v1": [True, False], "td3-Hopper-v3": [True, False]}


def test_poisoned_downloads_never_run_and_are_refused_by_name(zoo, tmp_path):
    poison = zoo / "poison"
    caches = {}
    for case, repl in {"serialized": {"model": poison / "serialized.zip"},
                       "vec_normalize": {"vec_normalize": poison / "vec_normalize.pkl"},
                       "policy_pth": {"model": poison / "policy_pth.zip"},
                       "config": {"config": poison / "config.yml"}}.items():
        caches[case] = str(_cache(tmp_path / case, "sb3/ppo-Hopper-v3", _repo_files(zoo, "ppo-Hopper-v3", **repl)))
    res = _run_without_gym(f"""
        import numpy as np
        from illab import experts
        exp = np.load({str(zoo / 'expected.npz')!r})
        out = {{}}
        for case, cache in {caches!r}.items():
            try:
                policy = experts.load("ppo-Hopper-v3", cache_dir=cache)
                out[case] = ["loaded", bool(np.array_equal(policy.predict(exp["obs_ppo-Hopper-v3"])[0],
                                                          exp["act_ppo-Hopper-v3"]))]
            except Exception as e:
                out[case] = [type(e).__name__, str(e)]
        print(json.dumps(out))
    """, tmp_path)
    # the zip's pickled fields are never decoded: it loads and acts like the original
    assert res["serialized"] == ["loaded", True]
    kind, msg = res["vec_normalize"]
    assert kind == "RefusedFileError" and "vec_normalize.pkl" in msg and "builtins.exec" in msg
    kind, msg = res["policy_pth"]
    assert kind == "RefusedFileError" and "policy.pth" in msg and "weights-only" in msg
    kind, msg = res["config"]
    assert kind == "RefusedFileError" and "config.yml" in msg and "refused" in msg


def test_normalized_zoo_model_without_its_statistics_is_an_error_not_a_weak_expert(zoo, offline, tmp_path):
    cache = _cache(tmp_path, "sb3/ppo-Hopper-v3", _repo_files(zoo, "ppo-Hopper-v3", vec_normalize=None))
    with pytest.raises(hub.HubUnavailableError, match="vec_normalize.pkl"):
        experts.load("ppo-Hopper-v3", cache_dir=cache)
    # a custom hub record with no normalize flag follows the repo's config.yml (normalize: true)
    experts.register("my-hopper", experts.Expert("my-hopper", "Hopper-v5", "PPO", 0.0, repo_id="sb3/ppo-Hopper-v3"))
    try:
        assert experts.get("my-hopper").filename == "ppo-Hopper-v3.zip"
        with pytest.raises(hub.HubUnavailableError, match="VecNormalize"):
            experts.load("my-hopper", cache_dir=cache)
        assert experts.load("my-hopper").obs_mean is not None  # the full repo (offline fixture cache)
    finally:
        experts.unregister("my-hopper")


def test_hub_pins_are_verified(zoo, offline):
    from illab.fileio import sha256
    good = sha256(zoo / "td3-Hopper-v3" / "td3-Hopper-v3.zip")
    base = experts.get("td3-Hopper-v3")
    import dataclasses
    for eid, changes, error in [("pin-ok", dict(hub_sha256=good, revision=REV), None),
                                ("pin-bad", dict(hub_sha256="0" * 64), "sha256 mismatch"),
                                ("pin-rev", dict(revision="f" * 40), "could not get")]:
        experts.register(eid, dataclasses.replace(base, id=eid, **changes))
        try:
            if error is None:
                assert experts.load(eid).predict(np.zeros((2, 11)))[0].shape == (2, 3)
            else:
                with pytest.raises((ValueError, RuntimeError), match=error):
                    experts.load(eid)
        finally:
            experts.unregister(eid)


def test_hub_only_ids_never_suggest_bundled_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="served from the Hugging Face Hub") as e:
        experts.load("td3-Hopper-v3", source="bundled")
    assert "bundled weights instead" not in str(e.value)
    with pytest.raises(RuntimeError) as e:
        experts.load("td3-Hopper-v3", cache_dir=tmp_path)
    assert "has no bundled weights" in str(e.value) and "experts.load(" not in str(e.value)
    with pytest.raises(RuntimeError, match=r"illab.experts.load\('cartpole'\)"):  # a bundled twin exists
        experts.load("cartpole", source="hub", cache_dir=tmp_path)
    with pytest.raises(KeyError, match="registered as 'td3-Hopper-v3'"):
        experts.get("sb3/td3-Hopper-v3")


def test_il_datasets_list_is_registered_as_hub_only_experts():
    want = {"ppo-CartPole-v1": 500, "dqn-MountainCar-v0": -110, "dqn-Acrobot-v1": -75, "td3-Hopper-v3": 3604,
            "td3-Walker2d-v3": 4703, "td3-HalfCheetah-v3": 9709, "td3-Ant-v3": 5822, "sac-Ant-v3": 5181,
            "td3-Swimmer-v3": 359, "sac-Humanoid-v3": 6251}
    for eid, threshold in want.items():
        e = experts.get(eid)
        assert e.hub_only and e.threshold == threshold and e.repo_id == f"sb3/{eid}" and e.path is None, eid
    for bundled in ("cartpole", "hopper", "walker", "cheetah", "lunarlander", "pendulum"):
        assert experts.get(experts.resolve(bundled, "hub")).hub_only, bundled
    # every registered env id exists in gymnasium 1.x with the observation size the zoo trained on
    from illab.rollout import make_env
    sizes = {"td3-Ant-v3": 111, "sac-Humanoid-v3": 376, "td3-Swimmer-v3": 8, "td3-Hopper-v3": 11}
    for eid, size in sizes.items():
        e = experts.get(eid)
        assert make_env(e.env_id, e.env_kwargs).observation_space.shape == (size,), eid


def test_hub_expert_through_controller_threads_processes_dask_cli_and_dagger(offline, tmp_path, capsys):
    from illab.__main__ import main
    from illab.controller import collect, process_executor
    from illab.methods.base import resolve_expert

    kw = dict(episodes=4, block_size=2, n_envs=2, threshold=-1e9)
    a = collect("sac-Pendulum-v1", path=tmp_path / "threads", threads=2, **kw)
    with process_executor(2) as ex:
        ex._warming.join(timeout=300)  # warm: the workers load the Hub expert (a cold pool lets the caller play)
        b = collect("sac-Pendulum-v1", path=tmp_path / "procs", executor=ex, **kw)
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        c = collect("sac-Pendulum-v1", path=tmp_path / "dask", executor=client.get_executor(), **kw)
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    import dataclasses
    base = experts.get("sac-Pendulum-v1")  # the zoo threshold (-200) is out of reach of this tiny test model
    experts.unregister(base.id)
    experts.register(base.id, dataclasses.replace(base, threshold=-1e9))
    try:
        assert main(["collect", "pendulum", "--source", "hub", "--episodes", "4", "--out", str(tmp_path / "cli"),
                     "--quiet"]) == 0
    finally:
        experts.unregister(base.id)
        experts.register(base.id, base)
    assert (tmp_path / "cli" / "sac-Pendulum-v1.npz").exists()  # collected with the Hub expert, named by it
    assert main(["evaluate", "sac-Pendulum-v1", "--episodes", "2"]) == 0
    assert main(["evaluate", "pendulum", "--source", "hub", "--episodes", "2"]) == 0
    assert capsys.readouterr().out.count("expert sac-Pendulum-v1") == 2
    assert resolve_expert("td3-Hopper-v3").predict(np.zeros((3, 11)))[0].shape == (3, 3)  # DAgger's expert=


def test_reference_returns_of_a_hub_expert_are_measured_and_recorded(offline):
    import dataclasses
    base = experts.get("dqn-Acrobot-v1")
    assert base.expert_return is None
    try:
        rand, exp = experts.measure_reference_returns("dqn-Acrobot-v1", n_episodes=2)
        assert experts.get("dqn-Acrobot-v1").reference_returns() == (rand[0], exp[0])
    finally:
        experts.unregister("dqn-Acrobot-v1")
        experts.register("dqn-Acrobot-v1", dataclasses.replace(base))


def test_bundled_zip_served_as_a_hub_file_loads_with_the_safe_loader_and_plays(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = experts.get("cartpole")
    cache = _cache(tmp_path, rec.repo_id, {rec.filename: rec.path})
    policy = experts.load("cartpole", source="hub", cache_dir=cache)
    assert evaluate(policy, "CartPole-v1", n_episodes=5).mean >= rec.threshold


def test_vec_normalize_statistics_of_a_hub_model_are_applied(tmp_path, monkeypatch):
    """A zoo repo's pickled ``vec_normalize.pkl`` is read (without unpickling) and its statistics are
    applied before the network: the hub policy acts like the same network fed normalised observations."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from illab.rollout import make_env

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = experts.get("cheetah")
    rng = np.random.default_rng(0)
    mean, var = rng.normal(0, 1, 17), rng.uniform(0.5, 4.0, 17)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(rec.env_id)]))
    venv.obs_rms.mean, venv.obs_rms.var = mean, var
    venv.save(str(tmp_path / "vec_normalize.pkl"))  # the zoo ships these statistics as a pickle
    cache = _cache(tmp_path / "hub", rec.repo_id, {rec.filename: rec.path,
                                                   "vec_normalize.pkl": tmp_path / "vec_normalize.pkl"})
    from_hub, bundled = experts.load("cheetah", source="hub", cache_dir=cache), experts.load("cheetah")
    assert bundled.obs_mean is None and from_hub.obs_mean is not None
    obs = np.stack([make_env(rec.env_id).reset(seed=s)[0] for s in range(32)]) + 0.5
    normalised = np.clip((obs - mean) / np.sqrt(var + venv.epsilon), -venv.clip_obs, venv.clip_obs)
    np.testing.assert_allclose(from_hub.predict(obs)[0], bundled.predict(normalised.astype(np.float32))[0],
                               atol=1e-5)


def test_zoo_config_reader_and_policy_kwargs_parser_are_data_only(tmp_path):
    from illab.experts import safe_sb3
    cfg = tmp_path / "config.yml"
    cfg.write_text("!!python/object/apply:collections.OrderedDict\n- - - normalize\n    - '{''norm_obs'': True}'\n"
                   "  - - policy_kwargs\n    - dict(net_arch=[400, 300], activation_fn=nn.Tanh)\n")
    config = safe_sb3.read_config(cfg)
    assert safe_sb3.normalize_setting(config) is True
    import torch.nn as nn
    assert safe_sb3.parse_policy_kwargs(config["policy_kwargs"]) == {"net_arch": [400, 300], "activation_fn": nn.Tanh}
    for bad in ("__import__('os').system('x')", "dict(a=open('x'))", "[x for x in ()]"):
        with pytest.raises(RefusedFileError):
            safe_sb3.parse_policy_kwargs(bad)
    cfg.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(RefusedFileError, match="config.yml"):
        safe_sb3.read_config(cfg)


def test_old_zoo_env_ids_map_to_current_versions():
    with pytest.warns(UserWarning):
        assert hub.map_env_id("LunarLander-v2") == "LunarLander-v3"
    with pytest.warns(UserWarning):
        assert hub.map_env("Ant-v3") == ("Ant-v4", {"use_contact_forces": True})


def test_benchmark_takes_a_hub_expert_once_its_reference_returns_are_measured(tmp_path, monkeypatch):
    """The bundled SAC Pendulum zip served as the zoo repo ``sb3/sac-Pendulum-v1`` (a real expert)."""
    from illab import benchmark
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(_cache(tmp_path / "hub", "sb3/sac-Pendulum-v1",
                                                   {"sac-Pendulum-v1.zip": experts.get("pendulum").path})))
    base = experts.get("sac-Pendulum-v1")
    try:
        with pytest.raises(ValueError, match="measure_reference_returns"):
            benchmark.run(["sac-Pendulum-v1"], ["bc"], seeds=1, out=tmp_path / "out", quick=True, progress=False)
        rand, exp = experts.measure_reference_returns("sac-Pendulum-v1", n_episodes=10)
        assert exp[0] > base.threshold > rand[0]
        res = benchmark.run(["sac-Pendulum-v1"], ["dagger"], seeds=1, out=tmp_path / "out", quick=True,
                            progress=False, data_dir=tmp_path / "data")
        assert [r["expert_id"] for r in res.summary] == ["sac-Pendulum-v1"]
        assert res.summary[0]["perf_mean"] > 0.5  # DAgger queried the Hub expert
    finally:
        experts.unregister(base.id)
        experts.register(base.id, base)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_vec_normalize_reader_takes_every_pickle_protocol_and_seeded_space_generators(tmp_path, protocol):
    import pickle
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from illab.experts import safe_sb3
    from illab.rollout import make_env

    venv = VecNormalize(DummyVecEnv([lambda: make_env("Pendulum-v1")]), clip_obs=5.0)
    venv.obs_rms.mean, venv.obs_rms.var = np.array([0.1, -0.2, 0.3]), np.array([1.5, 2.5, 3.5])
    venv.observation_space.seed(1)  # a pickled numpy Generator inside the space
    venv.action_space._np_random = np.random.RandomState(0)  # and a legacy RandomState
    path = tmp_path / "vec_normalize.pkl"
    path.write_bytes(pickle.dumps(venv, protocol=protocol))
    stats = safe_sb3.read_vec_normalize(path, (3,))
    np.testing.assert_array_equal(stats.mean, venv.obs_rms.mean)
    np.testing.assert_array_equal(stats.var, venv.obs_rms.var)
    assert (stats.clip_obs, stats.epsilon) == (5.0, venv.epsilon)
    with pytest.raises(RefusedFileError, match="do not match"):
        safe_sb3.read_vec_normalize(path, (4,))
