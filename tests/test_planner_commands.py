"""python -m dfplan eval / plan / ship on a tiny checkpoint, through the maze plugin."""

import json

import pytest

from dfplan import cli
from dfplan.planner import DFPlanner

FAST = ["--planner.horizon", "4", "--planner.sampler.num_steps", "3", "--planner.replan_every", "40"]


def test_eval_writes_a_results_row(tiny_maze_checkpoint, tmp_path):
    results = tmp_path / "results.json"
    code = cli.main(["eval", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--episodes", "2",
                     "--batch", "2", "--device", "cpu", "--results", str(results), "--variant", "tiny", *FAST])
    assert code == 0
    (row,) = json.loads(results.read_text())
    assert row["agent"] == "df" and row["variant"] == "tiny" and row["n_episodes"] == 2
    assert row["act_ms_median"] > 0 and row["replan_ms_median"] > 0
    assert row["extra"]["planner"]["horizon"] == 4 and row["command"].startswith("python -m dfplan eval")


def test_ship_then_load_by_path_keeps_the_planner_settings(tiny_maze_checkpoint, tmp_path):
    out = tmp_path / "shipped.pt"
    assert cli.main(["ship", "--run", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--out", str(out),
                     "--planner.action_mode", "diffused", "--planner.horizon", "6"]) == 0
    planner = DFPlanner.load(out, device="cpu")
    assert planner.config.action_mode == "diffused" and planner.config.horizon == 6
    assert planner.meta["env"] == "maze2d-umaze-v1" and planner.meta["action_high"] == [1.0, 1.0]


def test_plan_draws_a_picture_and_a_gif(tiny_maze_checkpoint, tmp_path):
    code = cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--start=-1,-1",
                     "--goal", "1,1", "--png", str(tmp_path / "plan.png"), "--gif", str(tmp_path / "ep.gif"),
                     "--device", "cpu", *FAST])
    assert code == 0
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ep.gif").read_bytes()[:3] == b"GIF"


@pytest.mark.parametrize("args", [["--start", "1"], ["--goal", "a,b"]])
def test_plan_rejects_bad_coordinates(tiny_maze_checkpoint, tmp_path, args, capsys):
    base = {"--start": "0,0", "--goal": "1,1"}
    base[args[0]] = args[1]
    code = cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1",
                     "--png", str(tmp_path / "p.png"), *[x for kv in base.items() for x in kv]])
    assert code == 2 and "error:" in capsys.readouterr().err


def test_unknown_env_names_the_plugins(tiny_maze_checkpoint, capsys):
    assert cli.main(["eval", "--checkpoint", str(tiny_maze_checkpoint), "--env", "CartPole-v1"]) == 2
    assert "no dfplan plugin knows env 'CartPole-v1'" in capsys.readouterr().err
