"""illab — imitation learning lab: curated experts, fast reproducible demonstration datasets,
IL methods (BC, BCO, DAgger, GAIL) and a leakage-free benchmark, with a Jupyter course.

Public API (imported lazily so that ``import illab`` stays fast)::

    from illab import Controller, BaselineDataset, experts, evaluate
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Controller": ("illab.controller", "Controller"),
    "BaselineDataset": ("illab.data", "BaselineDataset"),
    "SequenceDataset": ("illab.data", "SequenceDataset"),
    "Policy": ("illab.policy", "Policy"),
}
_SUBMODULES = {"experts", "evaluate", "data", "controller", "recording", "policy", "rollout", "seeds",
               "datafile", "methods", "benchmark", "hub", "viz", "widgets", "course"}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"illab.{name}")
    raise AttributeError(f"module 'illab' has no attribute {name!r}")
