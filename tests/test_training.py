import json

import pytest
import torch

from dfplan.data import WindowSampler
from dfplan.demo import demo_model_config
from dfplan.training import TrainConfig, learning_rate_factor, train

TINY = TrainConfig(steps=8, batch_size=16, lr=1e-3, warmup_steps=2, log_every=1, checkpoint_every=4, device="cpu")


def losses(run_dir):
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_two_runs_with_the_same_seed_give_identical_losses(walk, tmp_path):
    data = walk.generate(16, 32)
    train(demo_model_config(), TINY, data, tmp_path / "a", progress=False)
    train(demo_model_config(), TINY, data, tmp_path / "b", progress=False)
    assert len(losses(tmp_path / "a")) == 8
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_resume_continues_an_interrupted_run_exactly(walk, tmp_path, monkeypatch):
    data = walk.generate(16, 32)
    reference = train(demo_model_config(), TINY, data, tmp_path / "full", progress=False)

    original = WindowSampler.sample
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WindowSampler, "sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(demo_model_config(), TINY, data, tmp_path / "cut", progress=False)
    monkeypatch.setattr(WindowSampler, "sample", original)
    state = torch.load(tmp_path / "cut" / "train_state.pt", weights_only=True)
    assert state["step"] == 4  # the last periodic checkpoint
    resumed = train(demo_model_config(), TINY, data, tmp_path / "cut", resume=True, progress=False)
    assert losses(tmp_path / "cut") == losses(tmp_path / "full")
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    config = TrainConfig(steps=100, warmup_steps=10)
    assert learning_rate_factor(0, config) == pytest.approx(0.1)
    assert learning_rate_factor(9, config) == pytest.approx(1.0)
    assert learning_rate_factor(100, config) == pytest.approx(0.1)


def test_bad_training_settings_are_rejected(walk, tmp_path):
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16, fp16"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match=">= 1"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="CUDA is not available"):
        train(demo_model_config(), TrainConfig(steps=1, device="cuda"), walk.generate(4, 16), tmp_path, progress=False)


def test_init_from_starts_a_run_from_another_runs_weights(walk, tmp_path):
    import dataclasses

    from dfplan.checkpoint import load_checkpoint

    data = walk.generate(16, 32)
    first = train(demo_model_config(), TINY, data, tmp_path / "first", progress=False)
    still = dataclasses.replace(TINY, steps=1, lr=1e-12, warmup_steps=0, init_from=str(tmp_path / "first" / "checkpoint.pt"))
    second = train(demo_model_config(), still, data, tmp_path / "second", progress=False)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)  # one step at lr 1e-12: the same weights
    fresh = train(demo_model_config(), dataclasses.replace(still, init_from=""), data, tmp_path / "fresh", progress=False)
    assert any(not torch.allclose(a, b) for a, b in zip(first.state_dict().values(), fresh.state_dict().values(), strict=True))
    _, meta = load_checkpoint(tmp_path / "second" / "checkpoint.pt")
    assert meta["init_from"].endswith("checkpoint.pt") and meta["init_steps_done"] == 8
    wider = dataclasses.replace(demo_model_config(), horizon=demo_model_config().horizon + 1)
    with pytest.raises(ValueError, match="holds another model \\(differs in horizon\\)"):
        train(wider, still, data, tmp_path / "third", progress=False)


def test_snapshots_keep_the_model_when_the_wall_time_passes_each_mark(walk, tmp_path):
    from dfplan.checkpoint import load_checkpoint

    train(demo_model_config(), TINY, walk.generate(16, 32), tmp_path / "run", progress=False, snapshot_minutes=(0, 1e6))
    (snapshot,) = (tmp_path / "run" / "snapshots").iterdir()  # the first mark passed at step 1, the second never
    assert snapshot.name == "checkpoint-0min.pt" and load_checkpoint(snapshot)[1]["steps_done"] == 1


def test_snapshot_marks_are_due_once_and_a_resumed_run_skips_the_taken_ones(tmp_path):
    from dfplan.training import Snapshots

    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "model-5min.pt").write_bytes(b"taken before the resume")
    marks = Snapshots(tmp_path, (20, 5, 10), "model", ".pt")
    assert marks.due(60 * 9) == []  # 5 was taken, 10 not yet passed
    assert marks.due(60 * 25) == [(10, tmp_path / "snapshots" / "model-10min.pt"),
                                  (20, tmp_path / "snapshots" / "model-20min.pt")]
    assert marks.due(60 * 100) == []
