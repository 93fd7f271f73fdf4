"""The conda environment files, the Binder set-up and pyproject.toml agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch-cpu": "torch", "pytorch": "torch"}
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def _pyproject() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): Requirement(d) for d in deps}


def _conda(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    assert "conda-forge" in env["channels"], f"{path} must use conda-forge"
    specs: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-"):      # a pip option line (an index), not a requirement
                    continue
                req = Requirement(line)
                specs[req.name.lower()] = str(req.specifier)
        else:
            name, _, version = re.match(r"([A-Za-z0-9_.-]+)(=*)(.*)", dep).groups()
            specs[CONDA_NAMES.get(name, name).lower()] = f"=={version}" if version else ""
    return specs


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_environment_files_pin_what_pyproject_pins(path):
    conda = _conda(ROOT / path)
    assert conda.get("python") == "==3.11", f"{path} must pin python=3.11"
    for name, req in _pyproject().items():
        assert name in conda, f"{path} lacks {name} (pyproject.toml requires {req})"
        assert conda[name] == str(req.specifier), (
            f"{path} pins {name}{conda[name]} but pyproject.toml pins {name}{req.specifier}")


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_torch_comes_as_the_cpu_wheel_by_pip_not_from_conda(path):
    """conda-forge does not publish pytorch-cpu 2.13.0; the package installs torch's CPU wheel by pip."""
    env = yaml.safe_load((ROOT / path).read_text())
    conda_names = [re.match(r"[A-Za-z0-9_.-]+", d).group() for d in env["dependencies"] if isinstance(d, str)]
    assert not {"pytorch", "pytorch-cpu", "torch"} & set(conda_names), f"{path}: install torch by pip, not conda"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert TORCH_CPU_INDEX in pip, f"{path}: the pip section needs {TORCH_CPU_INDEX!r} (else pip pulls CUDA torch)"
    assert pip.index(TORCH_CPU_INDEX) < pip.index("torch==" + str(_pyproject()["torch"].specifier)[2:])


def test_torch_is_pinned_exactly_and_torchvision_absent():
    deps = _pyproject()
    assert str(deps["torch"].specifier).startswith("=="), "an unpinned torch pulls a multi-GB CUDA build"
    assert "torchvision" not in deps


def test_binder_postbuild_installs_illab_and_stops_on_error():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in text and "pip install" in text


def test_readme_shows_the_ci_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in readme and "make course" in readme
    assert "urlpath=lab/tree/notebooks/00_tour.ipynb" in readme


def test_readme_does_not_invent_a_binder_repository():
    """The Binder link is a documented template for a fork (<you>/<repo>), plus repo2docker for a local build."""
    readme = (ROOT / "README.md").read_text()
    assert "illab-course/illab" not in readme
    assert "mybinder.org/v2/gh/<you>/<repo>/<branch>" in readme and "repo2docker" in readme
