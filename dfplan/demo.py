"""``python -m dfplan demo``: train a tiny model on a distribution with a known answer, check its samples.

The built-in default of the README's first command before any maze checkpoint existed,
kept as a one-minute self-check of an installation: a causal transformer learns the
linear-Gaussian walk of :mod:`dfplan.synthetic`, then each scheduling matrix's samples
are compared with the closed-form truth.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dfplan.files import atomic_savefig

DEMO_TOLERANCE = {"mean_error": 0.5, "std_error": 0.4, "dynamics_rms": 0.75, "reward_rms": 0.6}
"""Pass marks for the demo and the learning test (see :meth:`LinearGaussianWalk.check`)."""


def demo_model_config():
    """The tiny model used by the demo and the learning tests (v-prediction transformer)."""
    from dfplan.denoisers import DenoiserConfig
    from dfplan.model import ModelConfig
    from dfplan.noise import NoiseConfig
    from dfplan.tokens import TokenLayout

    return ModelConfig(layout=TokenLayout(obs_dim=1, action_dim=1, use_reward=True, frame_stack=1), horizon=8,
                       noise=NoiseConfig(prediction="v"),
                       denoiser=DenoiserConfig(backbone="transformer", width=64, depth=2, heads=4, latent=64))


def run_demo(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from dfplan.sampler import SamplerConfig, sample
    from dfplan.scheduling import build
    from dfplan.synthetic import LinearGaussianWalk
    from dfplan.training import TrainConfig, train

    walk = LinearGaussianWalk()
    data = walk.generate(episodes=256, length=32, seed=args.seed)
    config = demo_model_config()
    config = dataclasses.replace(config, denoiser=dataclasses.replace(config.denoiser, backbone=args.backbone))
    train_config = TrainConfig(steps=args.steps, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=0.99,
                               log_every=100, checkpoint_every=args.steps, seed=args.seed, device=args.device)
    print(f"Diffusion Forcing demo: a {config.denoiser.backbone} learns a linear-Gaussian walk "
          f"(o' = {walk.rho}·o + a, a ~ N(0, {walk.sigma}²), r = -o'²), {args.steps} steps")
    began = time.perf_counter()
    model = train(config, train_config, data, args.out, progress=not args.quiet)
    print(f"trained {model.num_parameters():,} parameters in {time.perf_counter() - began:.0f} s -> {args.out}/checkpoint.pt")
    o0, horizon, layout = 1.0, config.horizon, model.layout
    cond = torch.full((args.samples, 1), o0, device=next(model.parameters()).device)
    generator = torch.Generator(device=cond.device).manual_seed(args.seed)
    print(f"\n{args.samples} samples of {horizon} steps given o_0 = {o0}; errors in units of the true std (pass marks {DEMO_TOLERANCE})")
    print(f"{'schedule':<16}{'rows':>6}{'mean err':>10}{'std err':>10}{'dynamics':>10}{'reward':>10}{'ms':>8}  verdict")
    results, failed = {}, False
    for schedule in ("full_sequence", "autoregressive", "pyramid"):
        sampler = SamplerConfig(num_steps=20, schedule=schedule)
        t0 = time.perf_counter()
        x = sample(model, cond, horizon, sampler, generator=generator).cpu()
        ms = 1000 * (time.perf_counter() - t0)
        stats = walk.check(o0, layout.actions(x).numpy(), layout.rewards(x).numpy(), layout.observations(x).numpy())
        ok = all(stats[k] < v for k, v in DEMO_TOLERANCE.items())
        failed |= not ok
        rows = len(build(schedule, horizon, sampler.num_steps))
        print(f"{schedule:<16}{rows:>6}{stats['mean_error']:>10.3f}{stats['std_error']:>10.3f}"
              f"{stats['dynamics_rms']:>10.3f}{stats['reward_rms']:>10.3f}{ms:>8.0f}  {'ok' if ok else 'FAIL'}")
        results[schedule] = {"observations": layout.observations(x).numpy()[..., 0], **stats}
    _plot_demo(walk, o0, results, Path(args.out) / "samples.png")
    print(f"\npicture of the samples against the true mean ± 2 std: {Path(args.out) / 'samples.png'}")
    return 1 if failed else 0


def _plot_demo(walk, o0: float, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3), sharey=True)
    for ax, (name, res) in zip(axes, results.items(), strict=True):
        obs = res["observations"]
        t = np.arange(obs.shape[1] + 1)
        mean, std = walk.moments(o0, obs.shape[1])
        mean, std = np.concatenate([[o0], mean]), np.concatenate([[0.0], std])
        for row in obs[:40]:
            ax.plot(t, np.concatenate([[o0], row]), color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(t, mean, color="black", lw=2, label="true mean")
        ax.fill_between(t, mean - 2 * std, mean + 2 * std, color="black", alpha=0.1, label="true ±2 std")
        ax.set_title(name)
        ax.set_xlabel("step")
    axes[0].set_ylabel("o_t")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=100)
    plt.close(fig)


