"""illab — imitation learning lab: curated experts, fast reproducible demonstration datasets,
IL methods and a leakage-free benchmark, with a Jupyter course.

Public API (imported lazily so that ``import illab`` stays fast)::

    from illab import Controller, BaselineDataset, Demonstrations, experts
    from illab.evaluate import evaluate          # the function lives in the module of the same name
    from illab.methods import BC, BCO, DAgger, GAIL, METHODS
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Controller": ("illab.controller", "Controller"),
    "BaselineDataset": ("illab.data", "BaselineDataset"),
    "SequenceDataset": ("illab.data", "SequenceDataset"),
    "Demonstrations": ("illab.demonstrations", "Demonstrations"),
    "Policy": ("illab.policy", "Policy"),
}
_SUBMODULES = ("benchmark", "controller", "course", "data", "datafile", "demonstrations", "evaluate", "experts",
               "fileio", "hub", "methods", "policy", "recording", "rollout", "seeds", "viz")

__all__ = sorted(_LAZY) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"illab.{name}")
    raise AttributeError(f"module 'illab' has no attribute {name!r}; public names: {', '.join(__all__)}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
