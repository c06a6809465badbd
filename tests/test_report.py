"""The report is generated from results.json alone, and identically every time."""

import json
import shutil
from pathlib import Path

from benchmarks import report

RESULTS = Path(__file__).resolve().parents[1] / "results" / "maze2d" / "results.json"


def test_report_regenerates_identically_from_the_same_results(tmp_path):
    shutil.copy(RESULTS, tmp_path / "results.json")
    readme = tmp_path / "top" / "README.md"
    readme.parent.mkdir()
    readme.write_text(f"intro\n{report.HEADLINE_START}\nold table\n{report.HEADLINE_END}\noutro\n")
    report.main(["--results", str(tmp_path / "results.json"), "--readme", str(readme)])
    first = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    report.main(["--results", str(tmp_path / "results.json"), "--readme", str(readme)])
    second = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first == second
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert "| oracle (100 ep.) |" in text and "*Diffusion Forcing (published)*" in text


def test_report_tables_agree_with_the_rows(tmp_path):
    shutil.copy(RESULTS, tmp_path / "results.json")
    report.main(["--results", str(tmp_path / "results.json"), "--readme", "-"])
    markdown = (tmp_path / "README.md").read_text()
    for row in json.loads(RESULTS.read_text()):
        if row["variant"] == "default":
            assert f"{row['score_mean']:.1f} ± {row['score_sem']:.1f}" in markdown
    assert (tmp_path / "scores.png").stat().st_size > 1000
    budgets = {}
    for row in json.loads(RESULTS.read_text()):  # every trained agent's row states its budget
        if row["variant"] == "default" and "budget" in row["extra"].get("training", {}):
            budgets.setdefault(row["agent"], set()).add(row["extra"]["training"]["budget"])
    assert budgets
    for agent, budget in budgets.items():
        label = next(iter(budget)) if len(budget) == 1 else "budgets by maze below"
        assert f"| {agent} ({label}, 100 ep.) |" in markdown
    lever_variants = {row["variant"] for row in json.loads(RESULTS.read_text())
                      if row["agent"] in ("df", "roadmap") and row["env"] in report.LEVER_ENVS
                      and row["extra"].get("episode_steps") in (None, report.ENV_STEPS[row["env"]])} - {"default"}
    for name in lever_variants:  # every lever row is explained under the table
        assert f"- `{name}`: {report.LEVERS[name]}" in markdown


def test_budget_table_states_each_trained_agents_budget_time_and_device():
    rows = [report.ResultRow(**row) for row in json.loads(RESULTS.read_text())]
    row = next(r for r in rows if r.agent == "random" and r.env == "maze2d-large-v1")
    trained = report.ResultRow(**{**row.to_dict(), "agent": "bc", "train_wall_s": 600.0, "train_seeds": [0],
                                  "extra": {"training": {"budget": "20k gradient steps × batch 256", "device": "cpu"}}})
    table = report.budget_table([*rows, trained])
    assert "| bc | — | — | 20k gradient steps × batch 256; 10 min on cpu |" in table
    assert "random" not in table  # untrained agents have no budget


def test_lever_table_shows_every_df_variant_on_medium_and_large_beside_the_oracle():
    rows = [report.ResultRow(**row) for row in json.loads(RESULTS.read_text())]
    base = next(r for r in rows if r.agent == "df" and r.env == "maze2d-medium-v1" and r.variant == "default")
    assert report.lever_table([r for r in rows if r.variant == "default"]) == ""  # nothing to compare yet
    lever = report.ResultRow(**{**base.to_dict(), "variant": "learned", "success_rate": 0.97, "first_reach_mean": 150.0,
                                "score_mean": 140.25, "score_sem": 5.0, "return_mean": 402.0, "act_ms_median": 12.34,
                                "extra": {"hold_rate_mean": 0.8}})
    cut = report.ResultRow(**{**base.to_dict(), "variant": "shorter", "extra": {"episode_steps": 300}})
    table = report.lever_table([*rows, lever, cut])
    assert "| df (learned) (100 ep.) | 97 % | 150 | 80 % | 140.2 ± 5.0 | 402 | 12.3 | — | — | — | — | — | — |" in table
    assert "| oracle (100 ep.) |" in table and "| roadmap (100 ep.) |" in table and "| iql" not in table
    assert "shorter" not in table  # rows of shorter episodes are not levers: their scores are not comparable


def test_target_table_shows_by_how_much_each_bar_is_met_or_missed():
    rows = [report.ResultRow(**row) for row in json.loads(RESULTS.read_text())]
    oracle = next(r for r in rows if r.agent == "oracle" and r.env == "maze2d-medium-v1" and r.variant == "default")
    df = report.ResultRow(**{**oracle.to_dict(), "agent": "df", "score_mean": oracle.score_mean - 10.0,
                             "score_sem": 4.0, "success_rate": 0.96, "return_mean": 380.4})
    roadmap = report.ResultRow(**{**oracle.to_dict(), "agent": "roadmap", "score_mean": oracle.score_mean + 5.0})
    published = {"results": {"maze2d-medium-v1": {"Diffusion Forcing": [df.score_mean + 2.5, 7.5],
                                                  "Diffuser": [df.score_mean - 20.0, 2.7]}}}
    table = report.target_table([oracle, df, roadmap], published)
    line = next(text for text in table.splitlines() if text.startswith("| medium |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[2:] == ["380", "96 %", f"{roadmap.score_mean:.1f}", "-15.0", f"{oracle.score_mean:.1f}", "-10.0",
                         f"{df.score_mean + 2.5:.1f}", "-2.5", f"{df.score_mean - 20:.1f}", "+20.0"]
    assert len(table.splitlines()) == 3  # header, rule, the one env with a DF row
    assert report.target_table([oracle], published) == ""


def test_paper_protocol_table_compares_the_published_column_as_score_and_as_raw_return():
    rows = [report.ResultRow(**row) for row in json.loads(RESULTS.read_text())]
    base = next(r for r in rows if r.agent == "df" and r.env == "maze2d-large-v1" and r.variant == "default")
    assert report.paper_protocol_table(rows, report.load_published()) == "" or any(
        r.variant == "paper-protocol" for r in rows)
    cut = report.ResultRow(**{**base.to_dict(), "variant": "paper-protocol", "return_mean": 390.0, "score_mean": 140.0,
                              "extra": {"episode_steps": 600}})
    published = {"results": {"maze2d-large-v1": {"Diffusion Forcing": [159.0, 2.7]}}}
    table = report.paper_protocol_table([r for r in rows if r.variant != "paper-protocol"] + [cut], published)
    line = next(text for text in table.splitlines() if text.startswith("| large | df |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[2:] == [f"{base.score_mean:.1f}", f"{base.return_mean:.1f}", "600", "390.0", "140.0", "159.0",
                         f"{base.score_mean - 159.0:+.1f}", "+231.0"]


def test_report_draws_the_compute_curves_when_the_file_is_beside_the_results(tmp_path):
    shutil.copy(RESULTS, tmp_path / "results.json")
    row = {"env": "maze2d-medium-v1", "agent": "diffuser", "model": "5 min", "steps": 3000, "train_minutes": 5.0,
           "score_mean": 12.5, "score_sem": 3.0, "success_rate": 0.5, "n_episodes": 50}
    (tmp_path / "compute_curves.json").write_text(json.dumps([row, {**row, "model": "final", "train_minutes": 45.0}]))
    report.main(["--results", str(tmp_path / "results.json"), "--readme", "-"])
    markdown = (tmp_path / "README.md").read_text()
    assert "## Score against training compute" in markdown and "| maze2d-medium-v1 | diffuser | 5 min | 3000 | 5.0 |" in markdown
    assert (tmp_path / "compute_curves.png").stat().st_size > 1000


def test_report_shows_when_the_executed_steps_settle_when_the_file_is_beside_the_results(tmp_path):
    shutil.copy(RESULTS, tmp_path / "results.json")
    row = {"env": "maze2d-large-v1", "agent": "df/inverse+pyramid", "rows": 39, "settled_at": 0.256,
           "remaining": [0.5, 0.0], "guidance_shift": 1.175, "progress": 34.87, "progress_unguided": -0.35,
           "schedule": "pyramid", "mcg_samples": 4, "executed_steps": 10}
    (tmp_path / "settling.json").write_text(json.dumps([row]))
    report.main(["--results", str(tmp_path / "results.json"), "--readme", "-"])
    markdown = (tmp_path / "README.md").read_text()
    assert "## When the executed steps settle" in markdown
    assert "| large | df/inverse+pyramid | pyramid + MCG 4 | 39 | 26 % of the rows | 1.18 | 34.9 / -0.3 (in 10 steps) |" in markdown
