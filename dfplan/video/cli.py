"""Command line of the video world model: ``python -m dfplan.video {train,ship,generate,evaluate,report}``.

Flags for models, training, data and rollouts are generated from their config dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dfplan.config import (
    add_arguments,
    from_arguments,
    from_dict,
    positive_int,
    run_command,
    to_dict,
)
from dfplan.model import ModelConfig
from dfplan.provenance import git_commit
from dfplan.training import TrainConfig
from dfplan.video.data import DEFAULT_CACHE, VideoClips, VideoWindows, fetch_clips
from dfplan.video.evaluate import (
    RESULTS_DIR,
    copy_last_frame,
    load_rows,
    make_row,
    score_video,
    timed_generate,
    upsert_rows,
    write_plot,
    write_table,
)
from dfplan.video.presets import METHODS, PRESETS, VideoData, get_preset
from dfplan.video.rollout import RolloutConfig, method_rollout

FIXED_MODEL_FIELDS = ("model.layout.obs_dim", "model.layout.action_dim", "model.layout.use_reward",
                      "model.layout.frame_stack", "model.token_cond_dim", "model.normalization",
                      "model.denoiser.frame_size", "model.denoiser.backbone")


def _command(args: argparse.Namespace) -> str:
    return shlex.join(["python", "-m", "dfplan.video", *args.argv])


def _held_out(meta: dict, path: str | None, cache: str) -> VideoClips:
    """Held-out clips: a given ``.npz``, or the test split of the env the checkpoint was trained on."""
    if path:
        return VideoClips.load(path)
    video = meta.get("video")
    if not video or not video.get("env"):
        raise ValueError("this checkpoint names no env (trained on --clips?): pass held-out clips with --test-clips")
    data = from_dict(VideoData, video["data"])
    return fetch_clips(video["env"], "test", data.frame_size, data.frame_skip, data.clip_frames, cache)


def _load(path: str, device: str):
    from dfplan.checkpoint import load_checkpoint
    from dfplan.device import resolve_device

    model, meta = load_checkpoint(path, resolve_device(device))
    if model.config.denoiser.backbone != "video" or "video" not in meta:
        raise ValueError(f"{path} is not a video world model checkpoint (train one with python -m dfplan.video train)")
    return model, meta


def _rollout_config(args: argparse.Namespace, model, meta: dict) -> RolloutConfig:
    base = method_rollout(meta["video"]["method"], model.config.horizon)
    return from_arguments(RolloutConfig, args, "rollout", base)


def _train(args: argparse.Namespace) -> int:
    from dfplan.training import check_run_folder, train

    if (args.env is None) == (args.clips is None):
        raise ValueError("give exactly one of --env (its clips rendered in --cache) or --clips (a .npz)")
    if args.out:
        check_run_folder(args.out, args.resume)  # before the clips load
    preset = get_preset(args.preset)
    data = from_arguments(VideoData, args, "video", preset.data)
    preset = dataclasses.replace(preset, data=data)
    if args.clips:
        clips = VideoClips.load(args.clips)
        if clips.frame_size != data.frame_size:
            raise ValueError(f"{args.clips} holds {clips.frame_size}-pixel frames; pass --video.frame_size {clips.frame_size}")
    else:
        clips = fetch_clips(args.env, "train", data.frame_size, data.frame_skip, data.clip_frames, args.cache)
    model_config = from_arguments(ModelConfig, args, "model", preset.model_config(args.method, clips.action_dim))
    base_train = dataclasses.replace(preset.train_config(args.method), seed=args.train_seed, device=args.device)
    train_config = from_arguments(TrainConfig, args, "train", base_train)
    name = args.env or Path(args.clips).stem
    out = args.out or f"runs/video/{name}-{args.preset}-{args.method}-seed{train_config.seed}"
    check_run_folder(out, args.resume)
    meta = {"video": {"env": args.env, "method": args.method, "preset": args.preset, "data": to_dict(data),
                      "clips": args.clips}, "command": _command(args)}
    model = train(model_config, train_config, VideoWindows(clips, model_config.horizon), out, resume=args.resume,
                  meta=meta)
    print(f"{model.num_parameters():,} parameters, {args.method} -> {Path(out) / 'checkpoint.pt'}")
    return 0


def _ship(args: argparse.Namespace) -> int:
    """Write a compact checkpoint to ship: the EMA weights as the weights, no optimizer state."""
    from dfplan.checkpoint import save_checkpoint

    model, meta = _load(args.source, "cpu")
    video = meta["video"]
    name = f"{video.get('env') or 'clips'}-{video['method']}.pt"
    out = Path(args.out) if args.out else Path("results/checkpoints/video") / name
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; pass --force to replace it")
    save_checkpoint(out, model, None, {**meta, "shipped_from": str(args.source)})
    print(f"shipped {model.num_parameters():,} parameters -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from dfplan.video.media import save_gif, save_strip, side_by_side

    model, meta = _load(args.checkpoint, args.device)
    clips = _held_out(meta, args.test_clips, args.cache)
    if not 0 <= args.clip < len(clips.frames):
        raise ValueError(f"--clip must be in [0, {len(clips.frames) - 1}]")
    config = _rollout_config(args, model, meta)
    one = dataclasses.replace(clips, frames=clips.frames[args.clip : args.clip + 1],
                              actions=clips.actions[args.clip : args.clip + 1],
                              positions=clips.positions[args.clip : args.clip + 1])
    generated, ms = timed_generate(model, one, args.frames, 1, config, args.seed, 1)
    truth = one.frames[0, config.context_frames : config.context_frames + args.frames]
    gif = save_gif(args.out, side_by_side([generated[0], truth]), fps=args.fps)
    png = save_strip(args.png or Path(args.out).with_suffix(".png"),
                     [(f"{meta['video']['method']}", generated[0]), ("ground truth", truth)], every=args.every)
    scores = score_video(one, generated, config.context_frames)
    print(f"{args.frames} frames ({ms:.0f} ms/frame): mean position error {np.nanmean(scores['position_error']):.3f}, "
          f"valid {scores['validity'].mean():.0%} -> {gif} (generated | ground truth), {png}")
    return 0


def _parse_checkpoints(specs: list[str]) -> list[tuple[str | None, str]]:
    parsed = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        parsed.append((label, path) if sep else (None, spec))
    return parsed


def _evaluate(args: argparse.Namespace) -> int:
    from dfplan.video.media import save_strip

    out, rows, strips, settings = Path(args.out), [], [], set()
    load_rows(out / "results.json")  # a corrupt results file fails now, not after the rollouts
    clips = None
    for label, path in _parse_checkpoints(args.checkpoints):
        model, meta = _load(path, args.device)
        video = meta["video"]
        clips = _held_out(meta, args.test_clips, args.cache)
        env = video.get("env") or Path(args.test_clips).stem
        config = _rollout_config(args, model, meta)
        settings.add((env, config.context_frames))
        if len(settings) > 1:
            raise ValueError(f"checkpoints of one evaluate call must share env and context frames, got {sorted(settings)}")
        n = min(args.clips, len(clips.frames))
        generated, ms = timed_generate(model, clips, args.frames, n, config, args.seed, args.batch)
        row = make_row(label or video["method"], score_video(clips, generated, config.context_frames), env=env,
                       method=video["method"], checkpoint=str(path), preset=video.get("preset"),
                       train_steps=meta.get("steps_done"), train_wall_s=meta.get("train_wall_s"),
                       train_device=meta.get("device"), commit=git_commit(),
                       horizon=model.config.horizon, rollout=to_dict(config), frames=args.frames, clips=n,
                       seed=args.seed, ms_per_frame=round(ms, 2), batch=min(args.batch, n),
                       device=str(next(model.parameters()).device),
                       date=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=_command(args))
        rows.append(row)
        strips.append((row["label"], generated[0]))
        print(f"{row['label']}: " + ", ".join(f"{k} {v}" for k, v in row["summary"].items()))
    (env, context), = settings
    n = min(args.clips, len(clips.frames))
    rows.append(make_row("copy last frame", copy_last_frame(clips, args.frames, n, context), env=env, method=None,
                         frames=args.frames, clips=n))
    all_rows = upsert_rows(rows, out / "results.json")
    truth = clips.frames[0, context : context + args.frames]
    strip = save_strip(out / f"strip_{env}.png", [*strips, ("ground truth", truth)], every=args.every)
    print(f"-> {write_table(all_rows, out / 'results.md')}, {write_plot(all_rows, out / 'error_vs_length.png')}, "
          f"{out / 'results.json'}, {strip}")
    return 0


def _report(args: argparse.Namespace) -> int:
    rows = load_rows(Path(args.out) / "results.json")
    if not rows:
        raise FileNotFoundError(f"no results in {Path(args.out) / 'results.json'}; run evaluate first")
    print(f"-> {write_table(rows, Path(args.out) / 'results.md')}, {write_plot(rows, Path(args.out) / 'error_vs_length.png')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dfplan.video", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a video world model (df or a baseline) on rendered clips")
    train.add_argument("--env", help="env id whose clips the cache holds (the maze suite renders them: "
                                      "python -m benchmarks video-clips --env ENV)")
    train.add_argument("--clips", help="training clips .npz instead of --env (e.g. a cached file carried to a GPU machine)")
    train.add_argument("--preset", default="quick", choices=tuple(PRESETS), help="quick (2 CPU cores, <= 45 min) | full (GPU)")
    train.add_argument("--method", default="df", choices=tuple(METHODS),
                       help="df (independent per-frame noise) | teacher_forcing | full_sequence (baselines, same network)")
    train.add_argument("--seed", dest="train_seed", type=int, default=0, help="training seed (same as --train.seed)")
    train.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    train.add_argument("--out", help="run folder (default runs/video/<env>-<preset>-<method>-seed<seed>)")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    train.add_argument("--cache", default=str(DEFAULT_CACHE), help="folder of cached clip .npz files")
    add_arguments(train, VideoData, "video")
    add_arguments(train, ModelConfig, "model", exclude=FIXED_MODEL_FIELDS)
    add_arguments(train, TrainConfig, "train")
    train.set_defaults(run=_train)

    def held_out(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--test-clips", help="held-out clips .npz (default: the test split of the checkpoint's env)")
        sub.add_argument("--cache", default=str(DEFAULT_CACHE), help="folder of cached clip .npz files")
        sub.add_argument("--seed", type=int, default=0, help="sampling seed")
        sub.add_argument("--device", default="auto")
        sub.add_argument("--every", type=positive_int, default=10, help="PNG strip: one frame in this many")
        add_arguments(sub, RolloutConfig, "rollout")

    ship = commands.add_parser("ship", help="write a run's EMA weights as a compact checkpoint to ship")
    ship.add_argument("--run", dest="source", required=True, help="a training run's checkpoint.pt")
    ship.add_argument("--out", help="output file (default results/checkpoints/video/<env>-<method>.pt)")
    ship.add_argument("--force", action="store_true", help="replace an existing output file")
    ship.set_defaults(run=_ship)

    gen = commands.add_parser("generate", help="roll out a held-out clip's actions: GIF (generated | truth) and PNG strip")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--frames", type=positive_int, default=200, help="frames to generate after the context")
    gen.add_argument("--out", default="rollout.gif", help="GIF path")
    gen.add_argument("--png", help="PNG strip path (default: the GIF's path with .png)")
    gen.add_argument("--clip", type=int, default=0, help="which held-out clip gives the context and the actions")
    gen.add_argument("--fps", type=positive_int, default=10)
    held_out(gen)
    gen.set_defaults(run=_generate)

    evl = commands.add_parser("evaluate", help="score checkpoints on held-out clips; writes results.json, table, plot")
    evl.add_argument("--checkpoints", nargs="+", required=True, metavar="[LABEL=]PATH",
                     help="checkpoints to score (label defaults to the method)")
    evl.add_argument("--frames", type=positive_int, default=200, help="frames to generate after the context")
    evl.add_argument("--clips", type=positive_int, default=32, help="held-out clips rolled out per checkpoint")
    evl.add_argument("--batch", type=positive_int, default=32, help="clips generated at once")
    evl.add_argument("--out", default=str(RESULTS_DIR), help="folder for results.json, results.md, plots")
    held_out(evl)
    evl.set_defaults(run=_evaluate)

    rep = commands.add_parser("report", help="regenerate the table and plot from results.json")
    rep.add_argument("--out", default=str(RESULTS_DIR))
    rep.set_defaults(run=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
