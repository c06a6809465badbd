import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dfplan import cli
from dfplan.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_import_dfplan_stays_light():
    code = ("import sys, dfplan; heavy = {'torch', 'gymnasium', 'minari', 'mujoco', 'matplotlib'} & set(sys.modules); "
            "assert not heavy, heavy; dfplan.SamplerConfig; dfplan.DFPlanner; assert 'gymnasium' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_train_flags_are_generated_from_the_configs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--model.denoiser.backbone", "--model.noise.prediction", "--model.layout.frame_stack",
                 "--train.ema_decay", "--train.precision"):
        assert flag in help_text
    assert "--model.layout.obs_dim" not in help_text  # taken from the data


def test_sample_command_writes_arrays(trained_walk_model, tmp_path, capsys):
    save_checkpoint(tmp_path / "m.pt", trained_walk_model)
    code = cli.main(["sample", "--checkpoint", str(tmp_path / "m.pt"), "--cond", "0.5", "--n", "4", "--device", "cpu",
                     "--out", str(tmp_path / "s.npz"), "--sampler.num_steps", "5", "--sampler.schedule", "full_sequence"])
    assert code == 0
    with np.load(tmp_path / "s.npz") as data:
        assert data["observations"].shape == (4, 8, 1) and data["actions"].shape == (4, 8, 1)


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    assert cli.main(["sample", "--checkpoint", str(tmp_path / "none.pt"), "--cond", "0"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert cli.main(["sample", "--checkpoint", str(tmp_path / "none.pt"), "--cond", "abc"]) == 2
    assert "--cond must be comma-separated numbers" in capsys.readouterr().err
    assert cli.main(["sample", "--checkpoint", "maze2d-umaze-v1", "--cond", "1,2", "--device", "cpu"]) == 2
    assert "--cond needs 4 comma-separated values, got 2" in capsys.readouterr().err  # shipped names resolve
    assert cli.main(["sample", "--checkpoint", "x.pt", "--cond", "0", "--out", str(tmp_path / "no" / "s.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "r")]) == 2
    with pytest.raises(SystemExit):
        cli.main(["train", "--data", "x", "--out", "y", "--train.precision", "fp8", "--train.steps", "lots"])


def test_unknown_choices_in_flags_are_clear_errors(walk, tmp_path, capsys):
    walk.generate(4, 16).save(tmp_path / "w.npz")
    code = cli.main(["train", "--data", str(tmp_path / "w.npz"), "--out", str(tmp_path / "r"),
                     "--model.denoiser.backbone", "lstm"])
    assert code == 2 and "valid: rnn, transformer" in capsys.readouterr().err


def test_train_neither_overwrites_a_run_nor_resumes_it_as_another_model(walk, tmp_path, capsys):
    walk.generate(4, 16).save(tmp_path / "w.npz")
    run = ["train", "--data", str(tmp_path / "w.npz"), "--out", str(tmp_path / "r"), "--train.steps", "2",
           "--train.checkpoint_every", "1", "--train.warmup_steps", "1", "--model.denoiser.width", "16",
           "--model.denoiser.depth", "1", "--model.denoiser.heads", "2", "--device", "cpu"]
    assert cli.main(run) == 0
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    assert cli.main(run) == 2
    assert "already holds a training run: pass --resume" in capsys.readouterr().err
    wider = [*run, "--resume", "--model.denoiser.width", "32"]
    assert cli.main(wider) == 2
    assert "holds a run of another model (differs in denoiser)" in capsys.readouterr().err
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before  # nothing lost
    assert cli.main([*run, "--resume"]) == 0  # the same model resumes (here: already finished)


def test_plan_command_writes_one_plans_arrays(tiny_maze_checkpoint, tmp_path, capsys):
    code = cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--obs=-1,-1,0,0", "--goal", "1,1",
                     "--out", str(tmp_path / "p.npz"), "--device", "cpu", "--planner.horizon", "4",
                     "--planner.sampler.num_steps", "3"])
    assert code == 0
    with np.load(tmp_path / "p.npz") as data:
        assert data["observations"].shape == (40, 4) and data["actions"].shape == (40, 2)  # 4 tokens of 10 steps
        np.testing.assert_allclose(data["start"], [-1, -1, 0, 0])
        np.testing.assert_allclose(data["goal"], [1, 1])
    assert cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--obs", "1,2", "--goal", "1,1",
                     "--out", str(tmp_path / "q.npz"), "--device", "cpu"]) == 2
    assert "--obs needs 4 comma-separated values, got 2" in capsys.readouterr().err
    assert not (tmp_path / "q.npz").exists()


def test_the_library_command_line_has_no_suite_commands(capsys):
    for command in ("eval", "ship"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--env", "maze2d-umaze-v1"])  # training on a suite env is the suite's command
