"""Command line: ``python -m dfplan {demo,train,sample}``; flags are generated from the configs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from dfplan.config import add_arguments, from_arguments

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


def _demo(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from dfplan.sampler import SamplerConfig, sample
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
        from dfplan.scheduling import build
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
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _train(args: argparse.Namespace) -> int:
    from dfplan.data import Trajectories
    from dfplan.model import ModelConfig
    from dfplan.tokens import TokenLayout
    from dfplan.training import TrainConfig, train

    data = Trajectories.load(args.data)
    base = ModelConfig(layout=TokenLayout(obs_dim=data.obs_dim, action_dim=data.action_dim))
    model_config = from_arguments(ModelConfig, args, "model", base)
    train_config = from_arguments(TrainConfig, args, "train")
    model = train(model_config, train_config, data, args.out, resume=args.resume, meta={"data": str(args.data)})
    print(f"{model.num_parameters():,} parameters -> {Path(args.out) / 'checkpoint.pt'}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from dfplan.checkpoint import load_checkpoint
    from dfplan.device import resolve_device
    from dfplan.sampler import SamplerConfig, sample

    device = resolve_device(args.device)
    model, _ = load_checkpoint(args.checkpoint, device)
    cond_values = [float(v) for v in args.cond.split(",")]
    if len(cond_values) != model.layout.obs_dim:
        raise SystemExit(f"--cond needs {model.layout.obs_dim} comma-separated values, got {len(cond_values)}")
    cond = torch.tensor([cond_values] * args.n, device=device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    tokens = sample(model, cond, args.horizon or model.config.horizon, from_arguments(SamplerConfig, args, "sampler"),
                    generator=generator).cpu()
    layout = model.layout
    arrays = {"actions": layout.actions(tokens).numpy(), "observations": layout.observations(tokens).numpy()}
    if layout.use_reward:
        arrays["rewards"] = layout.rewards(tokens).numpy()
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(out)
    summary = {k: {"shape": list(v.shape), "mean": round(float(v.mean()), 4)} for k, v in arrays.items()}
    print(json.dumps(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from dfplan.model import ModelConfig
    from dfplan.sampler import SamplerConfig
    from dfplan.training import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m dfplan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a tiny model on a built-in known distribution and check its samples")
    demo.add_argument("--steps", type=int, default=1500, help="training steps (default: 1500, about 30 s on 2 CPU cores)")
    demo.add_argument("--backbone", choices=("transformer", "rnn"), default="transformer")
    demo.add_argument("--samples", type=int, default=512, help="sequences sampled per schedule")
    demo.add_argument("--out", default="runs/demo", help="run folder (checkpoint, metrics, picture)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="auto")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    train = commands.add_parser("train", help="train on trajectories saved as .npz (dfplan.data.Trajectories.save)")
    train.add_argument("--data", required=True, help="trajectory .npz: observations, actions, rewards, episode_lengths")
    train.add_argument("--out", required=True, help="run folder; holds checkpoint.pt, train_state.pt, metrics.jsonl")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    add_arguments(train, ModelConfig, "model", exclude=("model.layout.obs_dim", "model.layout.action_dim"))
    add_arguments(train, TrainConfig, "train")
    train.set_defaults(run=_train)

    smp = commands.add_parser("sample", help="sample sequences from a checkpoint")
    smp.add_argument("--checkpoint", required=True)
    smp.add_argument("--cond", required=True, help="first observation, comma-separated raw values")
    smp.add_argument("--horizon", type=int, default=0, help="tokens to sample (default: the training horizon)")
    smp.add_argument("--n", type=int, default=16, help="number of sequences")
    smp.add_argument("--out", default="samples.npz")
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--device", default="auto")
    add_arguments(smp, SamplerConfig, "sampler")
    smp.set_defaults(run=_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
