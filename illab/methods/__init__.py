"""Imitation-learning methods behind one interface.

>>> from illab.methods import BC, BCO, DAgger, GAIL, METHODS
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


def load(path) -> ILMethod:
    """Load any saved method (the file records which one it is)."""
    return ILMethod.load(path)


__all__ = ["ABCO", "ABCOConfig", "IUPE", "IUPEConfig", "BC", "BCConfig", "BCO", "BCOConfig", "DAgger", "DAggerConfig", "GAIL", "GAILConfig", "METHODS",
           "ConfigBase", "ILMethod", "load"]
