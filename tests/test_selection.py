"""python -m benchmarks select: a grid of planner settings on the selection seeds, one resumable table."""

import json

import pytest

from benchmarks import cli, selection

FAST = ["--planner.horizon", "4", "--planner.sampler.num_steps", "3"]


def test_the_grid_is_typed_by_the_planner_flags_and_every_combination_is_a_setting():
    grid = selection.parse_grid(["planner.replan_every=4,8", "--planner.sampler.guidance_scale=0.5, 1"],
                                cli._planner_value)
    assert grid == [("planner.replan_every", [4, 8]), ("planner.sampler.guidance_scale", [0.5, 1.0])]
    combos = selection.settings(grid)
    assert len(combos) == 4 and combos[1] == {"planner.replan_every": 4, "planner.sampler.guidance_scale": 1.0}
    assert selection.label(combos[1]) == "replan_every=4_guidance_scale=1.0"
    assert selection.settings([]) == [{}] and selection.label({}) == "default"


@pytest.mark.parametrize("item, message", [
    ("planner.replan_every", "expected KEY=V1,V2"),
    ("planner.replan_every=", "expected KEY=V1,V2"),
    ("train.steps=3", "only planner settings"),
    ("planner.no_such_setting=3", "unknown planner setting"),
    ("planner.replan_every=four", "invalid int value"),
])
def test_a_bad_grid_is_refused_before_anything_runs(item, message):
    with pytest.raises(ValueError, match=message):
        selection.parse_grid([item], cli._planner_value)


def test_a_grid_naming_a_setting_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        selection.parse_grid(["planner.replan_every=4", "planner.replan_every=8"], cli._planner_value)


def test_a_file_that_is_not_a_selection_table_is_named(tmp_path):
    bad = tmp_path / "table.json"
    bad.write_text("[1, 2")
    with pytest.raises(ValueError, match="not a selection table"):
        selection.load_table(bad)
    bad.write_text("[]")
    with pytest.raises(ValueError, match="no 'entries' list"):
        selection.load_table(bad)
    with pytest.raises(ValueError, match="is a folder"):
        selection.load_table(tmp_path)
    assert selection.load_table(tmp_path / "absent.json") == {"entries": []}


def test_select_evaluates_each_setting_once_and_resumes_a_cut_table(tiny_maze_checkpoint, tmp_path, capsys):
    out, traces = tmp_path / "sel.json", tmp_path / "traces"
    base = ["select", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--episodes", "2",
            "--batch", "2", "--device", "cpu", "--out", str(out), *FAST]
    assert cli.main([*base, "--grid", "planner.replan_every=40", "--trace-dir", str(traces)]) == 0
    (first,) = json.loads(out.read_text())["entries"]
    assert first["setting"] == {"planner.replan_every": 40} and first["seed"] == 1000 and first["episodes"] == 2
    assert first["planner"]["replan_every"] == 40 and first["planner"]["horizon"] == 4
    assert 0 <= first["success_rate"] <= 1 and first["act_ms_median"] > 0 and "episodes" in first["failures"]
    assert json.loads((traces / "replan_every=40.json").read_text())["meta"]["env"] == "maze2d-umaze-v1"
    capsys.readouterr()

    assert cli.main([*base, "--grid", "planner.replan_every=40,30"]) == 0  # the first setting is already there
    printed = capsys.readouterr().out
    assert "[1/2] replan_every=40: already in" in printed and "[2/2] replan_every=30: success" in printed
    entries = json.loads(out.read_text())["entries"]
    assert [e["setting"]["planner.replan_every"] for e in entries] == [40, 30] and entries[0] == first
    assert "| replan_every=30 |" in printed and "| replan_every=40 |" in printed

    assert cli.main([*base[:-2], "--planner.sampler.num_steps", "2", "--grid", "planner.replan_every=40"]) == 0
    entries = json.loads(out.read_text())["entries"]  # other fixed flags: a setting of its own, evaluated
    assert len(entries) == 3 and entries[-1]["fixed"]["planner.sampler.num_steps"] == 2
    assert first["fixed"] == {"planner.horizon": 4, "planner.sampler.num_steps": 3}


def test_select_refuses_a_bad_grid_or_table_without_evaluating(tiny_maze_checkpoint, tmp_path, capsys):
    base = ["select", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--device", "cpu"]
    assert cli.main([*base, "--out", str(tmp_path / "t.json"), "--grid", "planner.nope=1"]) == 2
    assert "unknown planner setting" in capsys.readouterr().err and not (tmp_path / "t.json").exists()
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{")
    assert cli.main([*base, "--out", str(corrupt), "--grid", "planner.replan_every=4"]) == 2
    assert "not a selection table" in capsys.readouterr().err and corrupt.read_text() == "{"
    assert cli.main([*base, "--out", str(tmp_path / "t.json"), "--env", "maze2d-nowhere-v1"]) == 2
    assert "unknown env" in capsys.readouterr().err


def test_an_executor_other_than_the_models_own_is_part_of_what_a_setting_is():
    import argparse

    args = argparse.Namespace(**{"planner.horizon": 4, "planner.replan_every": None, "executor": "walker"})
    assert selection.fixed_flags(args, []) == {"planner.horizon": 4, "executor": "walker"}
    args.executor = "model"
    assert selection.fixed_flags(args, [("planner.horizon", [4, 8])]) == {}
