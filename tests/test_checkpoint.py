import pytest
import torch

from dfplan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dfplan.sampler import SamplerConfig, sample


def draw(model, seed=3):
    return sample(model, torch.full((8, 1), 0.5), 8, SamplerConfig(num_steps=5, schedule="pyramid", eta=1.0),
                  generator=torch.Generator().manual_seed(seed))


def test_save_then_load_gives_identical_samples_for_the_same_seed(trained_walk_model, tmp_path):
    save_checkpoint(tmp_path / "m.pt", trained_walk_model, meta={"note": "x"})
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta == {"note": "x"}
    torch.testing.assert_close(draw(loaded), draw(trained_walk_model), rtol=0, atol=0)
    assert not torch.equal(draw(loaded, seed=4), draw(loaded, seed=3))


def test_checkpoint_holds_plain_data_and_the_normalizer(trained_walk_model, tmp_path):
    save_checkpoint(tmp_path / "m.pt", trained_walk_model)
    data = torch.load(tmp_path / "m.pt", weights_only=True)  # no code is unpickled
    assert data["format"] == "dfplan.diffusion_forcing" and data["version"] == 1
    assert data["config"]["denoiser"]["backbone"] == "transformer"
    assert "normalizer.step_scale" in data["weights"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_checkpoint_is_a_clear_error(trained_walk_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, trained_walk_model)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_text("episodes,score\n1,2\n")  # a text file given by mistake (torch raises KeyError on it)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_foreign_or_incompatible_checkpoints_are_rejected(trained_walk_model, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a dfplan"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "m.pt", trained_walk_model)
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    data["version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")
    data["version"] = 1
    data["config"]["denoiser"]["width"] = 32
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="incompatible"):
        load_checkpoint(tmp_path / "mismatch.pt")
    data["config"]["denoiser"]["colour"] = "red"
    torch.save(data, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="unknown DenoiserConfig fields: colour"):
        load_checkpoint(tmp_path / "unknown.pt")


def test_failed_write_leaves_the_previous_checkpoint_intact(trained_walk_model, tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, trained_walk_model)
    before = path.read_bytes()

    def broken_save(obj, f):
        open(f, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, trained_walk_model)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
