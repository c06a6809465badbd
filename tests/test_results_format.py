"""The results file: validated rows, atomic keyed upsert, corrupt files refused; evaluate()."""

import json

import pytest

from agents import RandomAgent
from benchmarks.evaluate import evaluate
from benchmarks.results import ResultRow, ResultsFormatError, load_rows, upsert_rows


def _row(**changes):
    fields = dict(
        env="maze2d-umaze-v1", agent="random", variant="default", n_episodes=2, train_seeds=[],
        eval_seeds=[0, 1], score_mean=8.8, score_sem=1.5, success_rate=0.5, first_reach_mean=120.0,
        return_mean=36.0, act_ms_median=0.01, replan_ms_median=None, train_wall_s=None, device="cpu",
        commit="abc123", date="2026-01-01T00:00:00+00:00", command="python -m benchmarks.evaluate",
    )  # fmt: skip
    fields.update(changes)
    return ResultRow(**fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"env": "hopper-v4"},
        {"n_episodes": 3},
        {"success_rate": 1.5},
        {"score_sem": -1.0},
        {"score_mean": float("nan")},
        {"first_reach_mean": None},
        {"date": "yesterday"},
        {"agent": ""},
        {"eval_seeds": [0, "1"]},
    ],
)
def test_invalid_rows_rejected(changes):
    with pytest.raises(ResultsFormatError):
        _row(**changes)


def test_from_dict_rejects_unknown_and_missing_fields():
    data = _row().to_dict()
    with pytest.raises(ResultsFormatError, match="unknown"):
        ResultRow.from_dict({**data, "scor_mean": 1.0})
    del data["score_mean"]
    with pytest.raises(ResultsFormatError, match="missing"):
        ResultRow.from_dict(data)


def test_upsert_replaces_by_key_and_keeps_others(tmp_path):
    path = tmp_path / "results.json"
    upsert_rows([_row(), _row(agent="oracle", score_mean=140.0)], path)
    upsert_rows([_row(score_mean=9.9), _row(env="maze2d-large-v1")], path)
    rows = load_rows(path)
    assert len(rows) == 3
    by_key = {r.key: r for r in rows}
    assert by_key[("maze2d-umaze-v1", "random", "default")].score_mean == 9.9
    assert by_key[("maze2d-umaze-v1", "oracle", "default")].score_mean == 140.0
    assert isinstance(json.loads(path.read_text()), list)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp files left


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', '[{"env": "maze2d-umaze-v1"}]'])
def test_corrupt_file_is_an_error_and_left_untouched(tmp_path, content):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ResultsFormatError):
        upsert_rows([_row()], path)
    assert path.read_text() == content


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    upsert_rows([_row()], path)
    before = path.read_text()

    def broken_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr("dfplan.files.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        upsert_rows([_row(score_mean=50.0)], path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_evaluate_returns_valid_row_with_recorded_seeds():
    result = evaluate(RandomAgent(), "maze2d-umaze-v1", n_episodes=2, seed=10, agent_name="random")
    row = result.row
    assert row.eval_seeds == [10, 11] and row.n_episodes == 2 and len(result.episodes) == 2
    assert row.device == "cpu" and row.commit and row.act_ms_median > 0
    assert all(e.length == 300 for e in result.episodes)
    again = evaluate(
        RandomAgent(), "maze2d-umaze-v1", n_episodes=2, seed=10, agent_name="random"
    ).row
    assert again.return_mean == row.return_mean  # seeded end to end


def test_evaluate_cuts_episodes_at_max_episode_steps_and_records_it():
    row = evaluate(RandomAgent(), "maze2d-umaze-v1", n_episodes=2, batch_size=2, agent_name="random",
                   max_episode_steps=120)
    assert all(e.length == 120 for e in row.episodes) and row.row.extra["episode_steps"] == 120
    longer = evaluate(RandomAgent(), "maze2d-umaze-v1", n_episodes=1, agent_name="random", max_episode_steps=5000)
    assert longer.episodes[0].length == 300  # never longer than the suite's episodes
    with pytest.raises(ValueError, match="max_episode_steps"):
        evaluate(RandomAgent(), "maze2d-umaze-v1", n_episodes=1, agent_name="random", max_episode_steps=0)


def test_hold_rate_splits_the_return_into_arrival_and_staying():
    from benchmarks.evaluate import hold_rate
    from envs.scoring import episode_metrics

    stays = episode_metrics("maze2d-umaze-v1", [0.0] * 100 + [1.0] * 200, first_reach_step=101)
    leaves = episode_metrics("maze2d-umaze-v1", [0.0] * 100 + [1.0] * 50 + [0.0] * 150, first_reach_step=101)
    never = episode_metrics("maze2d-umaze-v1", [0.0] * 300, first_reach_step=-1)
    assert hold_rate([stays]) == 1.0 and hold_rate([leaves]) == 0.25
    assert hold_rate([stays, leaves, never]) == 0.625  # over the successful episodes only
    assert hold_rate([never]) is None


def test_json_row_files_upsert_by_key_and_refuse_what_they_cannot_read(tmp_path):
    from dfplan.files import read_json_rows, upsert_json_rows

    path = tmp_path / "rows.json"
    assert read_json_rows(path, ("env", "agent"), "motion file") == []
    upsert_json_rows([{"env": "b", "agent": "x", "v": 1}, {"env": "a", "agent": "x", "v": 2}], path, ("env", "agent"),
                     "motion file", sort=True)
    upsert_json_rows([{"env": "b", "agent": "x", "v": 3}], path, ("env", "agent"), "motion file", sort=True)
    assert read_json_rows(path, ("env", "agent"), "motion file") == [{"env": "a", "agent": "x", "v": 2},
                                                                     {"env": "b", "agent": "x", "v": 3}]
    for text, message in (("[{", "not valid JSON"), ('{"env": "a"}', "expected a list of rows with env, agent"),
                          ('[{"env": "a"}]', "expected a list of rows with env, agent")):
        path.write_text(text)
        with pytest.raises(ValueError, match=f"rows.json is not a motion file .*{message}"):
            upsert_json_rows([{"env": "c", "agent": "y"}], path, ("env", "agent"), "motion file")
        assert path.read_text() == text  # left as it was


def test_measured_rows_are_stamped_with_wall_time_commit_date_and_command(monkeypatch):
    import time

    from dfplan import provenance

    monkeypatch.setattr(provenance, "git_commit", lambda: "abc123")
    command = provenance.command_line("benchmarks.motion", ["--envs", "maze2d-umaze-v1", "--goal", "a b"])
    assert command == "python -m benchmarks.motion --envs maze2d-umaze-v1 --goal 'a b'"  # quoted, rerunnable
    row = provenance.stamp(time.perf_counter() - 2.04, command)
    assert row["commit"] == "abc123" and row["command"] == command and row["wall_s"] == 2.0
    assert row["date"].endswith("+00:00")  # UTC, to the second
    assert set(provenance.stamp(time.perf_counter(), command, wall_key="eval_wall_s")) == {"eval_wall_s", "commit",
                                                                                          "date", "command"}


@pytest.mark.parametrize("suite", ["maze2d", "antmaze"])
def test_every_committed_row_was_recorded_from_committed_code(suite):
    from pathlib import Path

    rows = load_rows(Path(__file__).resolve().parents[1] / "results" / suite / "results.json")
    assert rows
    assert [(row.env, row.agent, row.variant) for row in rows if row.commit.endswith("-dirty")] == []
