"""Diffusion Forcing as an action-conditioned video world model of the maze.

The same core as the planner — :class:`dfplan.model.DiffusionForcing`, the sampler, the
scheduling matrices and the training loop — on frames instead of state tokens: the
``video`` backbone (:mod:`dfplan.denoisers.video`) wraps the causal transformer in a
per-frame conv encoder/decoder, and each frame is conditioned on the actions that led
to it (``token_cond``).

* :mod:`dfplan.video.data` — clip arrays (``.npz``, rendered by the suite) in a cache and training windows;
* :mod:`dfplan.video.presets` — ``quick`` / ``full`` and the methods ``df``,
  ``teacher_forcing``, ``full_sequence`` (config values on one network);
* :mod:`dfplan.video.rollout` — sliding-window rollouts far past the training window,
  with Diffusion Forcing's context stabilization;
* :mod:`dfplan.video.metrics` / :mod:`dfplan.video.evaluate` — agent position and frame
  validity read from generated frames, scored against the truth;
* ``python -m dfplan.video {train,generate,evaluate,report}``.
"""
