"""``python -m dfplan.video``: train, generate, evaluate and report on tiny clips files."""

import json

import pytest

from dfplan.video.cli import main
from tests.test_video_model import small_maze_clips

TINY_FLAGS = ["--video.frame_size", "16", "--model.horizon", "6", "--model.denoiser.width", "32",
              "--model.denoiser.heads", "2", "--model.denoiser.depth", "1", "--model.denoiser.channels", "8",
              "--train.steps", "3", "--train.batch_size", "4", "--train.warmup_steps", "1", "--device", "cpu"]
FAST = ["--rollout.sampler.num_steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_cli")
    clips = small_maze_clips()
    clips.save(folder / "train.npz")
    clips.save(folder / "test.npz")
    for method in ("df", "full_sequence"):
        assert main(["train", "--clips", str(folder / "train.npz"), "--method", method, "--out", str(folder / method),
                     *TINY_FLAGS]) == 0
    return folder


def test_train_writes_a_video_checkpoint_with_its_method(runs):
    from dfplan.checkpoint import load_checkpoint

    model, meta = load_checkpoint(runs / "full_sequence" / "checkpoint.pt")
    assert meta["video"]["method"] == "full_sequence" and meta["train_config"]["noise_pattern"] == "full_sequence"
    assert model.config.denoiser.backbone == "video" and not model.config.denoiser.causal


def test_ship_writes_the_ema_weights_alone(runs):
    import torch

    from dfplan.checkpoint import load_checkpoint

    shipped = runs / "shipped" / "df.pt"
    assert main(["ship", "--run", str(runs / "df" / "checkpoint.pt"), "--out", str(shipped)]) == 0
    data = torch.load(shipped, map_location="cpu", weights_only=False)
    assert data["ema_weights"] is None and data["meta"]["shipped_from"].endswith("checkpoint.pt")
    run_model, _ = load_checkpoint(runs / "df" / "checkpoint.pt", "cpu", use_ema=True)
    shipped_model, meta = load_checkpoint(shipped, "cpu")
    assert meta["video"]["method"] == "df"
    for name, value in run_model.state_dict().items():
        torch.testing.assert_close(shipped_model.state_dict()[name], value, rtol=0, atol=0)
    assert main(["ship", "--run", str(runs / "missing.pt"), "--out", str(shipped)]) == 2


def test_generate_writes_a_gif_and_a_strip(runs, capsys):
    gif = runs / "rollout.gif"
    assert main(["generate", "--checkpoint", str(runs / "df" / "checkpoint.pt"), "--test-clips", str(runs / "test.npz"),
                 "--frames", "13", "--out", str(gif), *FAST]) == 0
    assert gif.stat().st_size > 0 and gif.with_suffix(".png").stat().st_size > 0
    assert "13 frames" in capsys.readouterr().out


def test_evaluate_writes_results_a_table_and_a_plot(runs):
    out = runs / "results"
    assert main(["evaluate", "--checkpoints", f"df={runs / 'df' / 'checkpoint.pt'}",
                 str(runs / "full_sequence" / "checkpoint.pt"), "--test-clips", str(runs / "test.npz"), "--frames", "20",
                 "--clips", "2", "--out", str(out), *FAST]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [row["label"] for row in rows] == ["df", "full_sequence", "copy last frame"]
    assert all(len(row["position_error"]) == 20 and len(row["validity"]) == 20 for row in rows)
    table = (out / "results.md").read_text()
    assert "| df | df |" in table and "error 17-20" in table
    for name in ("error_vs_length.png", "strip_test.png"):
        assert (out / name).stat().st_size > 0
    assert main(["report", "--out", str(out)]) == 0


def test_bad_commands_fail_with_a_clear_message(runs, capsys):
    assert main(["train", "--device", "cpu"]) == 2
    assert "exactly one of --env" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(runs / "missing.pt")]) == 2
    assert "not found" in capsys.readouterr().err


def test_evaluate_and_report_refuse_a_corrupt_results_file_naming_it(runs, capsys):
    out = runs / "corrupt"
    out.mkdir()
    (out / "results.json").write_text("[{")
    assert main(["evaluate", "--checkpoints", str(runs / "df" / "checkpoint.pt"), "--test-clips",
                 str(runs / "test.npz"), "--out", str(out), *FAST]) == 2
    assert f"{out / 'results.json'} is not a video results file (not valid JSON" in capsys.readouterr().err
    assert main(["report", "--out", str(out)]) == 2
    assert (out / "results.json").read_text() == "[{"
