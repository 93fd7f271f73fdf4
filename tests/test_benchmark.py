"""The benchmark runner: protocol (leakage, seeds), resumability, determinism, reports.

These tests inject a small, real data path (expert rollouts written with ``illab.datafile``) and a
tiny nearest-neighbour learner, so that they exercise the runner's own logic in seconds; the
end-to-end test with the real Controller, BaselineDataset and methods is in
``tests/test_benchmark_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from illab import benchmark, datafile, experts
from illab.evaluate import (LeakageError, check_leakage, dataset_start_states, evaluate, interquartile_mean,
                            select_test_seeds, start_states)
from illab.rollout import episodes_to_arrays, run_episodes
from illab.seeds import episode_seeds


_ROLLOUTS: dict = {}


def fake_collect(expert_id, episodes, path, seed=0, threads=1, progress=False, stream="demonstrations"):
    """Minimal stand-in for illab.controller.collect (same file layout and card fields)."""
    e = experts.get(expert_id)
    key = (expert_id, episodes, seed, stream)
    if key not in _ROLLOUTS:  # rollouts are deterministic: play each once per test session
        eps = run_episodes(experts.load(expert_id), e.env_id, episode_seeds(seed, episodes, stream), n_envs=8)
        _ROLLOUTS[key] = episodes_to_arrays(eps)
    arrays = _ROLLOUTS[key]
    card = datafile.make_card(arrays, env_id=e.env_id, env_kwargs=e.env_kwargs, expert_id=expert_id,
                              expert_sha256=e.sha256, seed=seed)
    return datafile.write(Path(path) / f"{expert_id}.npz", arrays, card)


def leaky_collect(*args, **kwargs):
    """Demonstrations played from the *test* stream: every test start state is in the dataset."""
    return fake_collect(*args, stream="test", **kwargs)


def fake_load(path):
    a = datafile.read(path)
    return SimpleNamespace(**{k: np.asarray(a[k]) for k in a}, card=datafile.read_card(path))


class NearestNeighbour:
    """A tiny deterministic imitator: act like the demonstration step with the nearest obs.

    The seed subsamples the demonstrations (so different training seeds give different learners).
    """

    fits = 0

    def __init__(self, dataset, seed):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(dataset.obs), size=min(len(dataset.obs), 1500), replace=False)
        self.x, self.y = np.asarray(dataset.obs)[idx], np.asarray(dataset.actions)[idx]

    @classmethod
    def from_dataset(cls, dataset, config=None, seed=0):
        return cls(dataset, seed)

    def fit(self, dataset=None, *, env_id=None, env_kwargs=None, expert=None, eval_episodes=5, progress=True):
        assert env_id == "CartPole-v1" and expert is not None
        type(self).fits += 1
        return self

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        obs = obs[None] if single else obs
        d = ((obs[:, None, :] - self.x[None]) ** 2).sum(-1)
        act = self.y[d.argmin(1)]
        return (act[0] if single else act), state


REGISTRY = {"nn": NearestNeighbour}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Expert rollouts here are tiny batches: one torch thread avoids OpenMP spin on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _run(out, **kw):
    args = dict(envs=["cartpole"], methods=["nn"], seeds=2, out=out, episodes=4, test_episodes=6,
                progress=False, collect=fake_collect, load_dataset=fake_load, methods_registry=REGISTRY)
    args.update(kw)
    return benchmark.run(**args)


# ---- metrics and the leakage check ----------------------------------------------------------

def test_interquartile_mean_drops_a_quarter_each_side():
    assert interquartile_mean([0, 1, 2, 3, 100, -100, 4, 5]) == pytest.approx(np.mean([1, 2, 3, 4]))
    assert interquartile_mean([1.0, 2.0, 9.0]) == pytest.approx(4.0)  # n < 4: plain mean
    with pytest.raises(ValueError, match="empty"):
        interquartile_mean([])
    with pytest.raises(ValueError, match="NaN"):
        interquartile_mean([1.0, np.nan])


def test_leakage_check_fails_on_a_leaky_split_and_passes_on_the_protocol_split(tmp_path):
    leaky = fake_load(leaky_collect("cartpole", 4, tmp_path / "leaky"))
    clean = fake_load(fake_collect("cartpole", 4, tmp_path / "clean"))
    test_starts = start_states("CartPole-v1", episode_seeds(0, 6, "test"))
    with pytest.raises(LeakageError, match="4 test start state"):
        check_leakage(dataset_start_states(leaky.obs, leaky.episode_starts), test_starts)
    check_leakage(dataset_start_states(clean.obs, clean.episode_starts), test_starts)


def test_select_test_seeds_redraws_leaking_seeds(tmp_path):
    leaky = fake_load(leaky_collect("cartpole", 3, tmp_path))
    train = dataset_start_states(leaky.obs, leaky.episode_starts)
    seeds, replaced = select_test_seeds("CartPole-v1", 5, train)
    assert replaced == 3
    assert np.array_equal(seeds[3:], episode_seeds(0, 5, "test")[3:])
    check_leakage(train, start_states("CartPole-v1", seeds))
    with pytest.raises(LeakageError, match="every one of"):
        select_test_seeds("CartPole-v1", 2, train, atol=1.0, max_attempts=3)


def test_evaluate_refuses_seeds_from_another_stream():
    policy = experts.load("cartpole")
    with pytest.raises(ValueError, match="not from the 'test' stream"):
        evaluate(policy, "CartPole-v1", seeds=episode_seeds(0, 2, "demonstrations"))
    res = evaluate(policy, "CartPole-v1", seeds=episode_seeds(0, 2, "test"), n_envs=2)
    assert np.array_equal(res.seeds, episode_seeds(0, 2, "test"))


# ---- the runner -----------------------------------------------------------------------------

def test_benchmark_is_identical_when_rerun_from_scratch(tmp_path):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    for name in ("results.csv", "summary.csv", "aggregate.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    rows = (tmp_path / "a" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 and rows[0].startswith("expert_id,env_id,method,seed_index")
    # training seeds are distinct per seed index and reported
    assert a.cells[0]["train_seed"] != a.cells[1]["train_seed"]
    assert a.summary[0]["n_seeds"] == 2 and len(a.summary[0]) == len(benchmark.SUMMARY_FIELDS)
    assert b.aggregate[0]["method"] == "nn" and b.aggregate[0]["n_runs"] == 2
    # the learner imitates the expert well above random play
    assert a.perf("cartpole", "nn") > 0.3


def test_benchmark_resumes_keeps_finished_cells_and_reuses_the_dataset(tmp_path):
    NearestNeighbour.fits = 0
    first = _run(tmp_path)
    assert NearestNeighbour.fits == 2
    data_file = next((tmp_path / "data").rglob("cartpole.npz"))
    mtime = data_file.stat().st_mtime_ns
    csv1 = (tmp_path / "results.csv").read_bytes()
    cells = sorted((tmp_path / "cells").glob("*.json"))
    assert len(cells) == 2
    cells[1].unlink()  # as if interrupted before the second cell finished
    NearestNeighbour.fits = 0
    second = _run(tmp_path, collect=None)  # collect=None would use the Controller: must not be needed
    assert NearestNeighbour.fits == 1
    assert data_file.stat().st_mtime_ns == mtime  # dataset reused (content hash verified), not rewritten
    assert (tmp_path / "results.csv").read_bytes() == csv1
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["datasets"]["cartpole"]["reused"] is True
    assert prov["datasets"]["cartpole"]["content_hash"] == first.cells[0]["dataset_hash"] == second.cells[0]["dataset_hash"]
    assert prov["versions"]["torch"] and prov["cells"][0]["wall_seconds"] is not None


def test_a_changed_config_is_a_new_cell_and_the_old_one_is_kept(tmp_path):
    class Configurable(NearestNeighbour):
        pass

    import dataclasses

    @dataclasses.dataclass
    class ConfigurableConfig:
        k: int = 1

    Configurable.config_class = ConfigurableConfig
    reg = {"nn": Configurable}
    _run(tmp_path, seeds=1, methods_registry=reg)
    _run(tmp_path, seeds=1, methods_registry=reg, configs={"nn": {"k": 2}})
    assert len(list((tmp_path / "cells").glob("cartpole__nn__s0__*.json"))) == 2
    with pytest.raises(ValueError, match="has no field"):
        _run(tmp_path, seeds=1, methods_registry=reg, configs={"nn": {"epochs": 2}})


def test_corrupted_dataset_is_refused_not_overwritten(tmp_path):
    _run(tmp_path, seeds=1)
    data_file = next((tmp_path / "data").rglob("cartpole.npz"))
    card = json.loads(datafile.card_path(data_file).read_text())
    card["content_hash"] = "0" * 64
    datafile.card_path(data_file).write_text(json.dumps(card))
    before = data_file.read_bytes()
    with pytest.raises(ValueError, match="corrupted or edited"):
        _run(tmp_path, seeds=1)
    assert data_file.read_bytes() == before


def test_benchmark_refuses_to_report_when_the_leakage_check_fails(tmp_path):
    with pytest.raises(LeakageError):
        _run(tmp_path, atol=10.0)  # every start state is "within tolerance": nothing can be reported
    assert not (tmp_path / "results.csv").exists()


def test_markdown_report_has_table_anchors_and_provenance(tmp_path):
    res = _run(tmp_path, markdown=tmp_path / "BENCH.md", command="python -m illab benchmark --quick")
    text = (tmp_path / "BENCH.md").read_text()
    assert text == (tmp_path / "BENCHMARKS.md").read_text() and res.markdown == tmp_path / "BENCH.md"
    assert "| CartPole-v1 | `cartpole` |" in text and "**IQM** over runs" in text
    assert "IL-Datasets (arXiv 2403.00550)" in text and "LunarLander-v3" in text
    assert res.cells[0]["dataset_hash"][:16] in text and "python -m illab benchmark --quick" in text


def test_report_only_lists_missing_cells(tmp_path):
    _run(tmp_path, seeds=1)
    res = benchmark.run(["cartpole"], ["nn"], seeds=2, out=tmp_path, report_only=True, progress=False,
                        test_episodes=6, episodes=4)
    assert len(res.cells) == 1 and res.missing == [("cartpole", "nn", 1)]
    assert "Incomplete" in res.markdown.read_text()


def test_bad_input_is_refused_with_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        _run(tmp_path, seeds=0)
    with pytest.raises(KeyError, match="unknown expert id"):
        _run(tmp_path, envs=["cartpol"])
    with pytest.raises(KeyError, match="unknown method"):
        _run(tmp_path, methods=["bc-typo"])


class Failing(NearestNeighbour):
    """Raises while training seed index 1 (a cell that crashes)."""

    @classmethod
    def from_dataset(cls, dataset, config=None, seed=0):
        if seed == benchmark.train_seed(0, "cartpole", "boom", 1):
            raise RuntimeError("cell exploded on purpose")
        return cls(dataset, seed)


class Recording(NearestNeighbour):
    """Records the order in which cells train."""

    order: list = []

    @classmethod
    def from_dataset(cls, dataset, config=None, seed=0):
        cls.order.append(seed)
        return cls(dataset, seed)


def test_cells_on_an_executor_give_the_same_csvs_as_in_process(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    _run(tmp_path / "inline", seeds=3)
    with ThreadPoolExecutor(2) as ex:
        res = _run(tmp_path / "pool", seeds=3, executor=ex, data_dir=tmp_path / "inline" / "data")
    for name in ("results.csv", "summary.csv", "aggregate.csv"):
        assert (tmp_path / "inline" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes(), name
    assert len(list((tmp_path / "pool" / "cells").glob("*.json"))) == 3 and not res.failed
    assert json.loads((tmp_path / "pool" / "provenance.json").read_text())["executor"] == "ThreadPoolExecutor"


def test_a_failing_cell_is_reported_and_does_not_stop_the_others(tmp_path, capsys):
    from concurrent.futures import ThreadPoolExecutor
    reg = {"boom": Failing, "nn": NearestNeighbour}
    with ThreadPoolExecutor(2) as ex:
        res = _run(tmp_path, methods=["boom", "nn"], seeds=2, methods_registry=reg, executor=ex)
    assert set(res.failed) == {("cartpole", "boom", 1)} and res.missing == [("cartpole", "boom", 1)]
    assert "cell exploded on purpose" in res.failed[("cartpole", "boom", 1)]
    assert "Traceback" in capsys.readouterr().err
    assert len(res.cells) == 3  # the other three cells finished and were written
    assert len(list((tmp_path / "cells").glob("*.json"))) == 3
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["failed"][0]["key"] == ["cartpole", "boom", 1] and "exploded" in prov["failed"][0]["traceback"]
    assert "Failed cells" in res.markdown.read_text() and "Incomplete" in res.markdown.read_text()


def test_a_dataset_changed_under_the_workers_is_refused(tmp_path):
    setup = benchmark.prepare_env("cartpole", 4, tmp_path / "data", test_episodes=6, collect=fake_collect,
                                  load_dataset=fake_load)
    task = benchmark.make_task(setup, "nn", 0, base_seed=0, config=None, eval_episodes=None, code="",
                               methods_registry=REGISTRY, load_dataset=fake_load)
    assert benchmark.execute_task(task)["ok"]
    import dataclasses
    bad = dataclasses.replace(task, dataset_hash="0" * 64)
    res = benchmark.execute_task(bad)
    assert not res["ok"] and "storage every worker reads" in res["error"]


def test_longest_expected_cells_are_dispatched_first(tmp_path):
    reg = {"nn": Recording, "slow": Recording}
    _run(tmp_path, methods=["nn", "slow"], seeds=1, methods_registry=reg)
    for p in (tmp_path / "cells").glob("*.json"):  # as if "slow" had taken 100 s and "nn" 1 s
        cell = json.loads(p.read_text())
        cell["wall_seconds"] = 100.0 if cell["method"] == "slow" else 1.0
        p.write_text(json.dumps(cell))
    Recording.order = []
    _run(tmp_path, methods=["nn", "slow"], seeds=3, methods_registry=reg)
    slow = {benchmark.train_seed(0, "cartpole", "slow", k) for k in (1, 2)}
    assert set(Recording.order[:2]) == slow and len(Recording.order) == 4


def test_workers_and_scheduler_are_checked():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        with benchmark.open_executor(workers=0):
            pass
    with pytest.raises(ValueError, match="not both"):
        with benchmark.open_executor(workers=2, scheduler="tcp://127.0.0.1:8786"):
            pass


def test_iqm_interval_is_seeded_stratified_and_brackets_the_iqm():
    scores = np.array([[0.2, 0.9, 0.5], [0.3, 1.0, 0.6], [0.25, 0.95, 0.4]])
    lo, hi = benchmark.iqm_interval(scores, seed=0)
    assert benchmark.iqm_interval(scores, seed=0) == (lo, hi)  # deterministic
    assert lo <= benchmark.iqm(scores) <= hi
    assert benchmark.iqm_interval(np.ones((3, 4)), seed=1) == (1.0, 1.0)  # no spread, no interval
    # stratified: columns never mix, so a constant column per task gives a zero-width interval
    cols = np.tile(np.array([[0.0, 1.0, 2.0, 3.0]]), (3, 1))
    assert benchmark.iqm_interval(cols, seed=2) == pytest.approx((1.5, 1.5))
    assert benchmark.iqm(np.arange(8.0)) == pytest.approx(3.5)


def test_reference_normalized_uses_published_returns():
    score, std, source = benchmark.reference_normalized("hopper", "Hopper-v5", 3234.3, 100.0, None)
    assert score == pytest.approx(1.0) and "D4RL" in source and std == pytest.approx(100 / (3234.3 + 20.272305))
    assert benchmark.reference_normalized("cartpole", "CartPole-v1", 9.8, 0.0, 500.0)[0] == pytest.approx(0.0)
    assert benchmark.reference_normalized("cartpole", "CartPole-v1", 9.8, 0.0, None) is None  # no expert return
    assert benchmark.reference_normalized("pendulum", "Pendulum-v1", -150.0, 0.0, -144.0) is None
    assert benchmark.reference_normalized("lunarlander-continuous", "LunarLander-v3", 200.0, 0.0, 238.0) is None
    assert benchmark.ANCHOR_ENV["lunarlander-continuous"] == "LunarLanderContinuous-v2"


def test_demos_sweep_writes_a_table_per_count_and_the_plot(tmp_path):
    runs = benchmark.sweep([2, 4], ["cartpole"], ["nn"], seeds=2, out=tmp_path, test_episodes=6, progress=False,
                           collect=fake_collect, load_dataset=fake_load, methods_registry=REGISTRY)
    assert sorted(runs) == [2, 4] and all(len(r.cells) == 2 for r in runs.values())
    assert (tmp_path / "demos" / "n2" / "results.csv").exists() and (tmp_path / "demos.png").stat().st_size > 1000
    rows = (tmp_path / "demos.csv").read_text().splitlines()
    assert rows[0].startswith("demonstrations,method") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    _run(tmp_path, seeds=1)  # the main table rendered from the same folder links the plot
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert f"]({tmp_path.name}/demos.png)" in text and "Performance vs number of demonstrations" in text
    with pytest.raises(ValueError, match="distinct"):
        benchmark.sweep([4, 4], ["cartpole"], ["nn"], out=tmp_path, methods_registry=REGISTRY)


# ---- the notebook's exercise checkers ---------------------------------------------------------

# ---- the published table ---------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def test_report_reads_back_from_its_files(tmp_path):
    _run(tmp_path, command="python -m illab benchmark")
    assert benchmark.markdown_report(*benchmark.read_tables(tmp_path)) == (tmp_path / "BENCHMARKS.md").read_text()


class OtherNeighbour(NearestNeighbour):
    """A second method name for the merge tests."""


def test_merge_tables_puts_several_folders_methods_in_one_report(tmp_path):
    two = {"nn": NearestNeighbour, "nn2": OtherNeighbour}
    _run(tmp_path / "a", command="python -m illab benchmark --out a")
    _run(tmp_path / "b", methods=["nn2"], methods_registry=two, data_dir=tmp_path / "a" / "data",
         command="python -m illab benchmark --out b")
    summary, aggregate, prov, results, _ = benchmark.merge_tables([tmp_path / "a", tmp_path / "b"])
    assert [r["method"] for r in summary] == ["nn", "nn2"] and [a["method"] for a in aggregate] == ["nn", "nn2"]
    assert len(results) == 4 and len(prov["cells"]) == 4
    assert prov["command"] == "python -m illab benchmark --out a\npython -m illab benchmark --out b"
    text = benchmark.markdown_report(summary, aggregate, prov, results)
    assert "| environment | expert | nn | nn2 |" in text
    # one folder alone renders as its own report
    alone = benchmark.markdown_report(*benchmark.merge_tables([tmp_path / "a"]))
    assert alone == (tmp_path / "a" / "BENCHMARKS.md").read_text()
    # a method on the same environment in two folders is ambiguous
    with pytest.raises(ValueError, match="nn on cartpole is in both"):
        benchmark.merge_tables([tmp_path / "a", tmp_path / "a"])
    # another protocol (here: base seed) is refused, with the fix
    _run(tmp_path / "c", methods=["nn2"], methods_registry=two, base_seed=1)
    with pytest.raises(ValueError, match="base_seed.*merge only folders of one protocol"):
        benchmark.merge_tables([tmp_path / "a", tmp_path / "c"])
    with pytest.raises(ValueError, match="at least one"):
        benchmark.merge_tables([])


def test_merge_refuses_different_demonstrations_unless_allowed_and_then_says_so(tmp_path):
    two = {"nn": NearestNeighbour, "nn2": OtherNeighbour}

    def other_collect(*args, **kwargs):  # same protocol and card, other demonstrations
        return fake_collect(*args, stream="validation", **kwargs)

    _run(tmp_path / "a")
    _run(tmp_path / "b", methods=["nn2"], methods_registry=two, collect=other_collect)
    with pytest.raises(ValueError, match="content_hash differs.*allow different datasets"):
        benchmark.merge_tables([tmp_path / "a", tmp_path / "b"])
    tables = benchmark.merge_tables([tmp_path / "a", tmp_path / "b"], allow_different_datasets=True)
    hashes = tables[2]["different_datasets"]["cartpole"]
    assert len(set(hashes.values())) == 2
    text = benchmark.markdown_report(*tables)
    assert "**Different demonstrations per folder** for 1 environment(s): `cartpole` (a `" in text


def test_merge_cli_writes_one_markdown_and_needs_markdown(tmp_path):
    from illab.__main__ import main
    _run(tmp_path / "a", command="python -m illab benchmark --out a")
    assert main(["benchmark", "--merge", str(tmp_path / "a"), "--markdown", str(tmp_path / "M.md")]) == 0
    assert (tmp_path / "M.md").read_text() == (tmp_path / "a" / "BENCHMARKS.md").read_text()
    assert main(["benchmark", "--merge", str(tmp_path / "a")]) == 1
    assert main(["benchmark", "--merge", str(tmp_path / "nowhere"), "--markdown", str(tmp_path / "N.md")]) == 1
    assert not (tmp_path / "N.md").exists()


PUBLISHED = [ROOT / "results", ROOT / "results" / "adversarial", ROOT / "results" / "irl",
             ROOT / "results" / "observation", ROOT / "results" / "offpolicy"]
"""The output folders `make benchmark` merges into BENCHMARKS.md."""

IL_DATASETS_BARS = {("cartpole", "abco"): 1.0, ("cartpole", "iupe"): 1.0, ("mountaincar", "abco"): 0.980,
                    ("mountaincar", "iupe"): 0.986, ("acrobot", "abco"): 0.984, ("acrobot", "iupe"): 0.988,
                    ("lunarlander", "abco"): 0.821, ("lunarlander", "iupe"): 0.930}
"""IL-Datasets' published ABCO/IUPE (benchmark_results.md; LunarLander on -v2, illab runs -v3)."""


def test_observation_table_covers_every_expert_and_meets_il_datasets_bars():
    """ABCO and IUPE × every bundled expert × 3 seeds in results/observation, each at or above
    IL-Datasets' published normalized performance on CartPole, MountainCar, Acrobot and LunarLander (issue 15)."""
    summary, _, prov, results, _ = benchmark.read_tables(ROOT / "results" / "observation")
    got = {(r["expert_id"], r["method"]): r for r in summary}
    assert set(got) == {(e, m) for e in benchmark.bundled_experts() for m in ("abco", "iupe")}
    assert all(r["n_seeds"] == 3 for r in summary) and not prov["missing"] and len(results) == 3 * len(got)
    assert prov["episodes"] == 100 and prov["test_episodes"] == 100 and not prov["quick"]
    low = {k: round(got[k]["perf_mean"], 4) for k, bar in IL_DATASETS_BARS.items() if got[k]["perf_mean"] < bar}
    assert not low, low


def test_published_table_is_the_committed_results_and_meets_the_bar():
    """BENCHMARKS.md is exactly the merged rendering of results/, results/adversarial/, results/irl/,
    results/observation/ and results/offpolicy/ (made by `make benchmark`), results/ covers
    every bundled expert × BC, BCO, DAgger × 3 seeds with the shipped experts, and BC reaches
    0.95 normalized performance on every classic-control environment (issue 7's acceptance)."""
    tables = benchmark.read_tables(ROOT / "results")
    summary, aggregate, prov = tables[:3]
    assert benchmark.markdown_report(*benchmark.merge_tables(PUBLISHED)) == (
        ROOT / "BENCHMARKS.md").read_text()
    # the Makefile's command (newer runs add --workers N: the CSVs do not depend on it)
    canonical = "python -m illab benchmark --out results/ --markdown BENCHMARKS.md --methods bc bco dagger"
    assert prov["command"].split(" --workers")[0] == canonical
    assert not prov["quick"] and not prov["missing"] and prov["episodes"] == 100 and prov["test_episodes"] == 100
    bundled = benchmark.bundled_experts()
    assert len(bundled) >= 8 and any(experts.get(e).env_id.endswith("-v5") for e in bundled)
    got = {(r["expert_id"], r["method"]): r for r in summary}
    assert set(got) == {(e, m) for e in bundled for m in ("bc", "bco", "dagger")}
    assert all(r["n_seeds"] == 3 for r in summary)
    for eid in bundled:  # made with the experts that ship now
        assert prov["datasets"][eid]["expert_sha256"] == experts.get(eid).sha256, eid
    classic = [r for r in summary if r["method"] == "bc" and r["env_id"] in benchmark.CLASSIC_CONTROL]
    assert len(classic) == len(benchmark.CLASSIC_CONTROL)
    assert all(r["perf_mean"] >= 0.95 for r in classic), [(r["env_id"], r["perf_mean"]) for r in classic]


def test_adversarial_table_covers_every_expert_and_meets_issue_18s_bar():
    """GAIL × every bundled expert × 3 seeds in results/adversarial, made with the shipped experts and
    GAIL's BENCHMARK_CONFIGS: ≥ 0.9 normalized (mean of 3 seeds) on classic control and LunarLander, ≥ 0.8
    on the MuJoCo tasks, IQM over the runs ≥ 0.9, every cell within 1M PPO steps (issue 18)."""
    from illab.methods import gail
    summary, aggregate, prov, results, _ = benchmark.read_tables(ROOT / "results" / "adversarial")
    got = {r["expert_id"]: r for r in summary if r["method"] == "gail"}
    assert set(got) == set(benchmark.bundled_experts()) and all(r["n_seeds"] == 3 for r in got.values())
    assert not prov["missing"] and prov["episodes"] == 100 and prov["test_episodes"] == 100 and not prov["quick"]
    for eid, row in got.items():
        assert prov["datasets"][eid]["expert_sha256"] == experts.get(eid).sha256, eid
        bar = 0.8 if row["env_id"].endswith("-v5") else 0.9
        assert row["perf_mean"] >= bar, (eid, row["perf_mean"])
    assert next(a for a in aggregate if a["method"] == "gail")["perf_iqm"] >= 0.9
    for eid in got:  # the budget each cell ran with is its environment's BENCHMARK_CONFIGS entry
        env_id = experts.get(eid).env_id
        assert gail.GAILConfig(**gail.BENCHMARK_CONFIGS.get(env_id, {})).total_timesteps <= 1_000_000
    # ... and the published report states it per environment (the provenance's budget table)
    line = next(x for x in (ROOT / "BENCHMARKS.md").read_text().splitlines() if x.startswith("| `cheetah` | ")
                and "steps" in x)
    assert "100k steps, bc_epochs=50, disc_epochs=1, disc_learning_rate=0.0001, log_std_init=-2.0" in line


def test_irl_table_covers_every_expert_and_beats_the_anchors():
    """AIRL, GCL and AppL × every bundled expert × 3 seeds in results/irl (issues 16 and 19), each at or above
    its published anchor (issue 16): ilpyt's AER on MountainCar-v0 (AppL −108.60) and as a fraction of ilpyt's
    own expert's return on the landers (GCL 212.32 / 268.09 and 255.41 / 283.83; illab runs -v3) and CartPole
    (GCL 200 = CartPole-v0's maximum); imitation's normalized AIRL on Hopper (0.921) is not met with the TD3 hopper."""
    summary, _, prov, results, _ = benchmark.read_tables(ROOT / "results" / "irl")
    got = {(r["expert_id"], r["method"]): r for r in summary}
    bundled = benchmark.bundled_experts()
    assert set(got) == {(e, m) for e in bundled for m in ("airl", "gcl", "appl")}
    assert all(r["n_seeds"] == 3 for r in summary) and not prov["missing"] and not prov["quick"]
    assert prov["episodes"] == 100 and prov["test_episodes"] == 100 and len(results) == 3 * len(got)
    for eid in bundled:  # made with the experts that ship now
        assert prov["datasets"][eid]["expert_sha256"] == experts.get(eid).sha256, eid
    expert_aer = {e: experts.get(e).reference_returns()[1] for e in bundled}
    assert got[("mountaincar", "appl")]["aer_mean"] >= -108.60
    assert got[("lunarlander", "gcl")]["aer_mean"] / expert_aer["lunarlander"] >= 212.32 / 268.09
    assert got[("lunarlander-continuous", "gcl")]["aer_mean"] / expert_aer["lunarlander-continuous"] >= 255.41 / 283.83
    assert got[("cartpole", "gcl")]["perf_mean"] >= 0.99
    # imitation's AIRL on Hopper (0.921, normalized by its own expert) is NOT met with issue 19's TD3 hopper (2645,
    # 2.5x the PPO expert it was met with): 0.792 on seeds 0-2, 0.918 pooled with hold-out seeds 3-5, a tuned warm
    # start lost on the hold-out seeds (docs/methods.md, "Inverse RL"). This bar only keeps the level from regressing.
    assert got[("hopper", "airl")]["perf_mean"] >= 0.75


def test_offpolicy_table_covers_every_expert_with_its_budget():
    """SQIL and IQ-Learn × every bundled expert × 3 seeds in results/offpolicy (issues 17 and 19), made with the
    shipped experts; ≥ 0.9 normalized (mean of 3 seeds) on classic control and LunarLander. On MuJoCo they run a
    stated budget (30k SAC steps), which the report prints per environment; no bar there."""
    from illab.methods import sqil
    summary, _, prov, results, _ = benchmark.read_tables(ROOT / "results" / "offpolicy")
    got = {(r["expert_id"], r["method"]): r for r in summary}
    bundled = benchmark.bundled_experts()
    assert set(got) == {(e, m) for e in bundled for m in ("sqil", "iqlearn")}
    assert all(r["n_seeds"] == 3 for r in summary) and not prov["missing"] and not prov["quick"]
    assert prov["episodes"] == 100 and prov["test_episodes"] == 100 and len(results) == 3 * len(got)
    for eid in bundled:
        assert prov["datasets"][eid]["expert_sha256"] == experts.get(eid).sha256, eid
    low = {k: round(r["perf_mean"], 3) for k, r in got.items() if not r["env_id"].endswith("-v5")
           and r["perf_mean"] < 0.9}
    assert not low, low
    for eid in bundled:  # every MuJoCo task has its own stated budget
        env_id = experts.get(eid).env_id
        if env_id.endswith("-v5"):
            assert sqil.BENCHMARK_CONFIGS[env_id]["total_timesteps"] == 30_000, env_id


def test_code_hash_tracks_the_method_source_and_survives_a_class_without_a_source_file():
    from illab.methods import METHODS
    assert benchmark.code_hash(METHODS["bc"]) != benchmark.code_hash(METHODS["gail"])
    cls = type("Notebook", (), {"__module__": "illab_no_such_module_file"})  # like a class from a notebook cell
    import sys
    import types
    sys.modules["illab_no_such_module_file"] = types.ModuleType("illab_no_such_module_file")
    try:
        assert len(benchmark.code_hash(cls)) == 64
    finally:
        del sys.modules["illab_no_such_module_file"]


def test_a_method_budget_keyed_by_expert_id_wins_over_its_environment_id():
    """Two experts of one environment id (the discrete and the continuous lander) can have their own budgets."""
    from illab.methods import SQIL
    from illab.benchmark.cells import method_config
    discrete = method_config(SQIL, "LunarLander-v3", None, False, expert_id="lunarlander")
    continuous = method_config(SQIL, "LunarLander-v3", None, False, expert_id="lunarlander-continuous")
    assert discrete["total_timesteps"] == 100_000 and continuous["total_timesteps"] == 10_000
    assert method_config(SQIL, "LunarLander-v3", {"total_timesteps": 7}, False,
                         expert_id="lunarlander-continuous")["total_timesteps"] == 7  # the run's override still wins


def test_a_method_budget_for_every_task_applies_where_no_task_has_its_own():
    """``BENCHMARK_CONFIGS["*"]`` (BC's: cosine from 1e-2 with averaged weights, issue 21) is every task's
    config; a task's own entry, the run's override and ``--quick`` still come first."""
    import sys
    import types
    from illab.benchmark.cells import method_config
    from illab.methods import BC
    from illab.methods import bc as bc_module
    steady = bc_module.BENCHMARK_CONFIGS["*"]
    assert steady == {"learning_rate": 1e-2, "lr_schedule": "cosine", "ema_decay": 0.97}
    for env_id, expert_id in (("CartPole-v1", "cartpole"), ("HalfCheetah-v5", "cheetah"), ("Foo-v0", None)):
        assert method_config(BC, env_id, None, False, expert_id=expert_id) == steady
    assert method_config(BC, "CartPole-v1", {"epochs": 3}, False) == {**steady, "epochs": 3}
    assert method_config(BC, "CartPole-v1", None, True) is None  # --quick: the defaults
    fake = types.ModuleType("illab_fake_budgets")
    fake.BENCHMARK_CONFIGS = {"*": {"epochs": 1}, "CartPole-v1": {"epochs": 2}, "cartpole": {"epochs": 3}}
    cls = type("Fake", (), {"__module__": "illab_fake_budgets"})
    sys.modules["illab_fake_budgets"] = fake
    try:
        assert method_config(cls, "CartPole-v1", None, False, expert_id="cartpole") == {"epochs": 3}
        assert method_config(cls, "CartPole-v1", None, False, expert_id="other") == {"epochs": 2}
        assert method_config(cls, "Acrobot-v1", None, False) == {"epochs": 1}
    finally:
        del sys.modules["illab_fake_budgets"]
