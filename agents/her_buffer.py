"""HER whose relabelled transitions end where the *relabelled* goal is reached.

SB3's ``HerReplayBuffer`` recomputes the reward of a transition it relabels with a new goal but
keeps the ``done`` flag stored with it, which followed the episode's *original* goal. When
training episodes terminate on success (``agents.sac_her.HerTrainingEnv(terminate_on_success=True)``), that
bootstraps the relabelled transitions inconsistently: a step that reached the original goal
stops the bootstrap whatever goal it is now paired with, and a step that reaches the
relabelled goal is bootstrapped past it. :class:`SuccessTerminalHerReplayBuffer` sets the done
flag of every relabelled transition from its relabelled reward (reward > 0: the goal is
reached, the episode would have ended there), the same rule the env applied to the real ones.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples


class SuccessTerminalHerReplayBuffer(HerReplayBuffer):
    """``HerReplayBuffer`` for episodes that terminate on success: relabelled dones follow the relabelled goal."""

    def _get_virtual_samples(self, batch_indices: Any, env_indices: Any, env: Any = None) -> DictReplayBufferSamples:
        samples = super()._get_virtual_samples(batch_indices, env_indices, env)
        if env is not None:  # rewards normalized by a VecNormalize no longer say which steps succeeded
            raise ValueError("SuccessTerminalHerReplayBuffer needs unnormalized rewards (no VecNormalize)")
        return samples._replace(dones=(samples.rewards > 0).to(samples.dones.dtype))
