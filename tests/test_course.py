"""The course's exercise pattern and the learner-facing quiet: checkers, references, no native noise."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from illab.course import solutions as S
from illab.course.benchmarking import check_iqm, check_leak_free, check_normalized_performance
from illab.course.cloning import check_bc_loss
from illab.course.collecting import check_episode_seed
from illab.course.interactive import check_beta_schedule, check_gail_reward
from illab.course.irl import check_airl_logit, check_projection_step
from illab.course.observation import check_idm_pairs, check_success_ratio
from illab.course.offpolicy import check_implied_reward, check_soft_value
from illab.evaluate import interquartile_mean, normalized_performance
from illab.methods.abco import goal_aware_ratio

CHECKERS = [(check_iqm, S.my_iqm), (check_normalized_performance, S.my_normalized), (check_bc_loss, S.bc_loss),
            (check_idm_pairs, S.idm_pairs), (check_beta_schedule, S.beta), (check_gail_reward, S.gail_reward),
            (check_episode_seed, S.my_seed), (check_success_ratio, goal_aware_ratio),
            (check_projection_step, S.projection_step), (check_airl_logit, S.airl_logit),
            (check_soft_value, S.soft_value), (check_implied_reward, S.implied_reward)]


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, reference", CHECKERS, ids=[c.__name__ for c, _ in CHECKERS])
def test_a_stub_is_reported_as_not_attempted_and_the_reference_is_used(check, reference, capsys):
    assert check(stub) is reference
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "correct" not in out


@pytest.mark.parametrize("check, reference", CHECKERS, ids=[c.__name__ for c, _ in CHECKERS])
def test_a_right_answer_is_called_correct_and_kept(check, reference, capsys):
    def mine(*args):
        return reference(*args)
    assert check(mine) is mine
    out = capsys.readouterr().out
    assert "mine: correct" in out and "not attempted" not in out


def test_checkers_explain_wrong_answers():
    check_iqm(interquartile_mean)
    check_normalized_performance(normalized_performance)

    def unsorted(s):
        k = len(s) // 4
        return float(np.mean(s[k:len(s) - k]))

    with pytest.raises(AssertionError, match="did not sort"):
        check_iqm(unsorted)
    with pytest.raises(AssertionError, match="plain mean"):
        check_iqm(lambda s: float(np.mean(s)))
    with pytest.raises(AssertionError, match="do not clip"):
        check_normalized_performance(lambda x, r, e: np.clip((x - r) / (e - r), 0, 1))
    with pytest.raises(AssertionError, match="swapped"):
        check_normalized_performance(lambda x, r, e: (x - e) / (r - e))
    with pytest.raises(AssertionError, match="one score per episode"):
        check_normalized_performance(lambda x, r, e: np.array([(x.mean() - r) / (e - r)]))
    with pytest.raises(AssertionError, match="summed over the batch"):
        check_bc_loss(lambda lg, a: -torch.log_softmax(lg, -1)[torch.arange(len(a)), a].sum())
    with pytest.raises(AssertionError, match="swapped"):
        check_idm_pairs(lambda s, a: (np.concatenate([s[1:], s[:-1]], 1), a))
    with pytest.raises(AssertionError, match="count rounds from 0"):
        check_beta_schedule(lambda i, p: p ** (i + 1))
    with pytest.raises(AssertionError, match="sign is wrong"):
        check_gail_reward(lambda d: np.log1p(-np.asarray(d)))
    with pytest.raises(AssertionError, match="demonstrations' stream"):
        check_episode_seed(lambda b, i: b + i)
    starts = np.arange(12.0).reshape(3, 4)
    check_leak_free(starts, starts + 0.5)
    with pytest.raises(AssertionError, match="your split leaks"):
        check_leak_free(starts, starts[1:])


def test_a_failing_reference_is_reported_as_a_bug_not_as_the_learners_mistake():
    with pytest.raises(AssertionError, match="bug in illab.course"):
        check_beta_schedule(stub, reference=lambda i, p: 0.5)


def test_split_sizes_checker(tmp_path, capsys):
    from illab.controller import collect
    from illab.course.datasets import check_split_sizes

    path = collect("cartpole", 5, tmp_path, seed=0, progress=False)
    assert check_split_sizes(stub, path) is S.split_sizes
    assert "not attempted yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="count \\*transitions\\*"):
        check_split_sizes(lambda lengths, n: (n, len(lengths) - n), path)

    def split_sizes(lengths, n):
        return int(lengths[:n].sum()), int(lengths[n:].sum())
    assert check_split_sizes(split_sizes, path) is split_sizes


def test_checkers_have_no_bare_asserts():
    """``python -O`` strips ``assert``: checkers must raise AssertionError themselves."""
    import ast
    import illab.course as course
    folder = os.path.dirname(course.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(folder, name)).read())
            assert not [n for n in ast.walk(tree) if isinstance(n, ast.Assert)], f"bare assert in illab/course/{name}"


# ---- no red noise ------------------------------------------------------------------------------
def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)


def test_gif_rendering_without_a_display_prints_nothing(tmp_path):
    proc = _run("from illab import experts; from illab.viz import record_gif; "
                f"record_gif(experts.load('cartpole'), 'CartPole-v1', {str(tmp_path / 'a.gif')!r}, max_steps=5)")
    assert proc.returncode == 0, proc.stderr
    assert "XDG_RUNTIME_DIR" not in proc.stderr + proc.stdout
    assert (tmp_path / "a.gif").stat().st_size > 0


def test_mujoco_settotalmass_notice_is_filtered_but_other_native_output_shows():
    proc = _run("import os\n"
                "from illab.rollout import make_env, _filter_native_output\n"
                "make_env('HalfCheetah-v5').close()\n"
                "with _filter_native_output():\n"
                "    os.write(2, b'a real native error\\n')\n"
                "    os.write(1, b\"WARNING: compiler attribute 'settotalmass' is deprecated\\n\\nkept line\\n\")\n")
    assert proc.returncode == 0, proc.stderr
    assert "settotalmass" not in proc.stdout + proc.stderr
    assert "a real native error" in proc.stderr and "kept line" in proc.stdout


def test_minari_export_raises_no_user_warnings(tmp_path, monkeypatch):
    import warnings

    from illab.controller import collect
    from illab.data import from_minari, to_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    path = collect("cartpole", 2, tmp_path, seed=0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        to_minari(path, "illab/test-cartpole-v0")
    assert len(from_minari("illab/test-cartpole-v0")["obs"]) == 1000


def test_eval_result_prints_readably():
    from illab.evaluate import EvalResult
    r = EvalResult(returns=np.array([500.0, 480.0]), lengths=np.array([500, 480]), seeds=np.array([3, 7]))
    assert str(r) == "AER 490.0 ± 10.0 over 2 episodes"
    assert repr(r) == "EvalResult(AER 490.0 ± 10.0, 2 episodes, mean length 490.0 steps)"


def test_static_view_shows_final_tqdm_state_interact_plots_and_gifs():
    import nbformat

    from illab.course.static import WIDGET_STATE, WIDGET_VIEW, static_view

    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    view = lambda mid: {"output_type": "display_data", "metadata": {},
                        "data": {WIDGET_VIEW: {"model_id": mid, "version_major": 2, "version_minor": 0},
                                 "text/plain": "collecting:   0%|          | 0/4"}}
    state = {
        "bar": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": model("HTMLModel", value="collecting\u2007cartpole:\u2007100%"),
        "p": model("FloatProgressModel", value=4.0, max=4.0),
        "r": model("HTMLModel", value="\u20074/4\u2007[00:01&lt;00:00]"),
        "box": model("VBoxModel", _dom_classes=["widget-interact"], children=["IPY_MODEL_s", "IPY_MODEL_o"]),
        "s": model("IntSliderModel", description="seed", value=3),
        "o": {"model_name": "OutputModel", "state": {"outputs": [
            view("bar"), {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}]}},
    }
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.from_dict(view("box")),
                           nbformat.from_dict({"output_type": "display_data", "metadata": {}, "data": {"image/gif": "R0lGOD"}})]
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    outs = static_view(nb).cells[0].outputs
    texts = [o.get("text", "") for o in outs]
    assert texts[0] == "(interactive: seed = 3)\n"
    assert texts[1] == "collecting cartpole: 100% 4/4 [00:01<00:00]\n"      # the final state, not "0%|"
    assert "image/png" in outs[2]["data"]
    assert outs[3]["data"]["text/html"].startswith('<img src="data:image/gif;base64,R0lGOD')
    assert "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_native_output_filter_is_safe_across_threads():
    """Threads share file descriptors: concurrent MuJoCo builds must not leave fd 1 or 2 redirected."""

    proc = _run("import os, sys\n"
                "from concurrent.futures import ThreadPoolExecutor\n"
                "from illab.rollout import make_env\n"
                "with ThreadPoolExecutor(4) as ex:\n"
                "    list(ex.map(lambda _: make_env('HalfCheetah-v5').close(), range(8)))\n"
                "os.write(1, b'stdout still works\\n'); os.write(2, b'stderr still works\\n')\n")
    assert proc.returncode == 0, proc.stderr
    assert "stdout still works" in proc.stdout and "stderr still works" in proc.stderr
    assert "settotalmass" not in proc.stdout + proc.stderr
