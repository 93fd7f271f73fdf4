"""Imitation-learning methods behind one interface.

>>> from illab.methods import BC, BCO, DAgger, GAIL, AIRL, SQIL, IQLearn, METHODS
>>> bc = BC.from_dataset(train, seed=0).fit(train)      # doctest: +SKIP
>>> bc.save("bc.pt"); same = BC.load("bc.pt")           # doctest: +SKIP

Every method: ``M(observation_space, action_space, config=None, seed=0)``,
``M.from_dataset(demonstrations, config=None, seed=0)``, ``fit(demonstrations=None, *, env_id=None,
env_kwargs=None, expert=None, eval_episodes=10, progress=True) -> self`` (the template in
:class:`~illab.methods.base.ILMethod`; ``demonstrations`` is :class:`~illab.demonstrations.Demonstrations`
or a ``BaselineDataset``), ``predict(...)`` (a trained method *is* an illab ``Policy``),
``save(path)`` / ``M.load(path)`` and ``history``. Defining a subclass of ``ILMethod`` with a
``name`` registers it in :data:`METHODS` (``docs/methods.md``: how to add a method).

==========  ===============================================================  ==================
name        method                                                            needs
==========  ===============================================================  ==================
``bc``      Behavioural cloning (Pomerleau 1989; Bain & Sammut 1995)          obs, actions
``bco``     BC from observation, BCO(α) (Torabi et al. 2018, arXiv 1805.01954) obs, next_obs, env
``abco``    ABCO: BCO + goal-aware sampling (Monteiro et al. 2020, 2004.13529) obs, next_obs, env
``iupe``    IUPE: ABCO + exploration (Gavenski et al. 2020, arXiv 2008.05660) obs, next_obs, env
``dagger``  DAgger (Ross, Gordon & Bagnell 2011, arXiv 1011.0686)             env, expert
``gail``    GAIL (Ho & Ermon 2016, arXiv 1606.03476)                          obs, actions, env
``appl``    Apprenticeship learning, projection (Abbeel & Ng 2004)          obs (states), env
``gcl``     Guided cost learning (Finn, Levine & Abbeel 2016, arXiv 1603.00448) obs, actions, env
``airl``    AIRL (Fu, Luo & Levine 2018, arXiv 1710.11248)                    obs, actions, next_obs, env
``sqil``    SQIL (Reddy, Dragan & Levine 2019, arXiv 1905.11108)              obs, actions, next_obs, env
``iqlearn`` IQ-Learn (Garg et al. 2021, arXiv 2106.12142)                     obs, actions, next_obs, env
==========  ===============================================================  ==================
"""

from __future__ import annotations

from illab.methods.base import METHODS, ConfigBase, ILMethod
from illab.methods.bc import BC, BCConfig
from illab.methods.bco import BCO, BCOConfig
from illab.methods.abco import ABCO, ABCOConfig
from illab.methods.iupe import IUPE, IUPEConfig
from illab.methods.dagger import DAgger, DAggerConfig
from illab.methods.gail import GAIL, GAILConfig
from illab.methods.airl import AIRL, AIRLConfig
from illab.methods.appl import AppL, AppLConfig
from illab.methods.gcl import GCL, GCLConfig
from illab.methods.iqlearn import IQLearn, IQLearnConfig
from illab.methods.sqil import SQIL, SQILConfig


def load(path) -> ILMethod:
    """Load any saved method (the file records which one it is)."""
    return ILMethod.load(path)


__all__ = ["ABCO", "ABCOConfig", "AIRL", "AIRLConfig", "AppL", "AppLConfig", "BC", "BCConfig", "BCO", "BCOConfig",
           "DAgger", "DAggerConfig", "GAIL", "GAILConfig", "GCL", "GCLConfig", "IQLearn", "IQLearnConfig", "IUPE",
           "IUPEConfig", "METHODS", "SQIL", "SQILConfig",
           "ConfigBase", "ILMethod", "load"]
