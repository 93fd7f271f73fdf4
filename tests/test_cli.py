"""The command line: registry table, evaluation, errors, and the headless course runner."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from illab.__main__ import build_parser, main


def test_experts_lists_the_registry(capsys):
    assert main(["experts"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("cartpole "))
    assert "CartPole-v1" in line and "PPO" in line and "475" in line and "bundled" in line


def test_evaluate_an_expert_prints_aer_and_normalized_performance(capsys):
    assert main(["evaluate", "cartpole", "--episodes", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    row = out.splitlines()[-1]
    assert "expert cartpole" in row and "CartPole-v1" in row and " 3 " in row
    aer = float(row.split()[-6])
    assert aer >= 475.0


def test_bad_input_exits_1_with_a_clear_message(capsys, tmp_path):
    assert main(["evaluate", "cartpol"]) == 1
    err = capsys.readouterr().err
    assert "Did you mean 'cartpole'" in err
    assert main(["evaluate", "cartpole", "--episodes", "0"]) == 1
    assert "n_episodes must be >= 1" in capsys.readouterr().err
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    assert main(["evaluate", str(model)]) == 1
    assert "m.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["benchmark", "--seeds", "three"])
    assert exc.value.code == 2


def _notebook(path, *cells, skip=()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    for i in skip:
        nb.cells[i].metadata["tags"] = ["nbval-skip"]
    nbformat.write(nb, path)
    return path.read_bytes()


def test_course_executes_copies_times_them_and_fails_if_one_fails(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    good = _notebook(src / "01_good.ipynb", "x = 6 * 7\nprint(x)", "raise SystemExit('long run')", skip=[1])
    bad = _notebook(src / "02_bad.ipynb", "assert 1 == 2, 'the learner is wrong'")
    proc = subprocess.run([sys.executable, "-m", "illab", "course", "--notebooks", str(src), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "01_good.ipynb" in proc.stdout and "total" in proc.stdout and "1/2 ok" in proc.stdout
    assert "FAILED 02_bad.ipynb" in proc.stderr and "the learner is wrong" in proc.stderr
    executed = nbformat.read(tmp_path / "out" / "01_good.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "42"
    assert executed.cells[1].outputs == []  # the nbval-skip cell was skipped
    assert (src / "01_good.ipynb").read_bytes() == good and (src / "02_bad.ipynb").read_bytes() == bad
