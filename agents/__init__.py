"""Gymnasium-facing agents, all meeting :class:`agents.protocol.Agent`."""

from agents.oracle import OracleAgent
from agents.protocol import Agent, EpisodicAgent, ObservationBatch, as_batch
from agents.random_agent import RandomAgent

__all__ = ["Agent", "EpisodicAgent", "ObservationBatch", "OracleAgent", "RandomAgent", "as_batch"]
