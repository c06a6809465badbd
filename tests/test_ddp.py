"""Multi-process training through PyTorch DDP, launched with torchrun (gloo on CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from dfplan.checkpoint import load_checkpoint


def test_torchrun_trains_with_two_cpu_processes(walk, tmp_path):
    walk.generate(16, 32).save(tmp_path / "walk.npz")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "dfplan", "train", "--data", str(tmp_path / "walk.npz"), "--out", str(tmp_path / "run"),
        "--model.horizon", "4", "--model.denoiser.width", "32", "--model.denoiser.depth", "1",
        "--train.steps", "6", "--train.batch_size", "8", "--train.log_every", "2", "--train.device", "cpu",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4, 6]  # only rank 0 writes
    model, meta = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert meta["world_size"] == 2 and meta["steps_done"] == 6
    assert torch.isfinite(torch.cat([p.flatten() for p in model.parameters()])).all()
