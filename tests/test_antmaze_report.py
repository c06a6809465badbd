"""The AntMaze report: generated from AntMaze rows only, published numbers labelled as D4RL's."""

import json

import pytest

from benchmarks import antmaze_report, report
from benchmarks.results import ResultRow, upsert_rows


def _row(agent: str, env: str, success: float, reach: float | None) -> ResultRow:
    return ResultRow(env=env, agent=agent, variant="default", n_episodes=100, train_seeds=[], eval_seeds=list(range(100)),
                     score_mean=100 * success, score_sem=2.0, success_rate=success, first_reach_mean=reach,
                     return_mean=success, act_ms_median=0.5, replan_ms_median=None, train_wall_s=None, device="cpu",
                     commit="abc", date="2026-12-02T00:00:00+00:00", command="python -m benchmarks.run ...",
                     extra={"walker": {"budget": "SAC, 670k env steps", "preset": "cap", "lineage": ["p5"]}}
                     if agent == "oracle" else {})


def test_report_tables_show_success_time_to_goal_latency_and_the_published_reference(tmp_path):
    path = tmp_path / "results.json"
    upsert_rows([_row("random", "antmaze-umaze-v2", 0.0, None), _row("oracle", "antmaze-umaze-v2", 0.92, 310.0),
                 _row("oracle", "antmaze-large-play-v2", 0.5, 800.0)], path)
    report.main(["--results", str(path)])  # dispatches to the AntMaze report
    text = (tmp_path / "README.md").read_text()
    lines = text.splitlines()
    oracle = [line for line in lines if line.startswith("| oracle")]
    assert oracle[0].startswith("| oracle (100 ep.) | 92.0 ± 2.0 | — | — | — | 50.0 ± 2.0 | — |")
    assert oracle[1].startswith("| oracle (100 ep.) | 310 | — | — | — | 800 |")
    assert lines.index(oracle[0]) < lines.index(next(line for line in lines if line.startswith("| random")))
    assert "| *IQL* | 87.5 | 62.2 | 71.2 | 70.0 | 39.6 | 47.5 |" in text
    assert "D4RL's original data and ant" in text
    assert "| oracle | — | SAC, 670k env steps (p5 → cap) | cpu |" in text and "| random | — | — | cpu |" in text


def test_no_antmaze_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="no AntMaze rows"):
        antmaze_report.report_text([], json.loads(antmaze_report.PUBLISHED_PATH.read_text()))


def test_variant_rows_are_explained_under_the_score_table():
    import dataclasses

    from benchmarks.variants import DF_WALKER_LEGEND

    rows = [_row("df", "antmaze-medium-diverse-v2", 0.3, 700.0),
            dataclasses.replace(_row("df", "antmaze-medium-diverse-v2", 0.47, 738.0), variant="walker"),
            dataclasses.replace(_row("df", "antmaze-umaze-v2", 0.7, 400.0), variant="by-hand")]
    text = antmaze_report.report_text(rows, json.loads(antmaze_report.PUBLISHED_PATH.read_text()))
    assert "| df (walker) (100 ep.) | — | — | — | 47.0 ± 2.0 | — | — |" in text
    assert f"- **df (walker)**: {DF_WALKER_LEGEND}" in text
    assert "- **df (by-hand)**: a labelled `benchmarks eval --variant` row" in text
    assert text.index("- **df (walker)**") < text.index("## Time to the goal")
