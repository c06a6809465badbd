"""Gymnasium-facing agents, all meeting :class:`agents.protocol.Agent`.

Imported here (light): the protocol, the oracle and the random agent. The trained
baselines live in their own modules and are imported where used, so ``import agents``
pulls in neither Stable-Baselines3 nor d3rlpy:

- ``agents.diffuser``: Diffuser (Janner et al. 2022), planning once and tracking the plan
  (or executing its diffused actions);
- ``agents.sac_her``: Stable-Baselines3 SAC + HER, trained online;
- ``agents.offline_rl``: IQL and CQL through d3rlpy on hindsight-relabelled data
  (``agents.hindsight``).

Each has ``train(env_id, preset, seed, out_dir, device)``, ``finished_model(out_dir)`` and an
agent class with ``load(path, device)``; ``benchmarks.registry.BASELINES`` lists them.
"""

from agents.oracle import OracleAgent
from agents.protocol import Agent, EpisodicAgent, ObservationBatch, as_batch
from agents.random_agent import RandomAgent

__all__ = ["Agent", "EpisodicAgent", "ObservationBatch", "OracleAgent", "RandomAgent", "as_batch"]
