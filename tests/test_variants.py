"""Variants are data: every results row names a registered agent or variant, and a DF variant's
settings reproduce the planner its row recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import registry, run
from benchmarks.results import DEFAULT_RESULTS_PATH, load_rows
from benchmarks.variants import DF_VARIANTS, Variant
from dfplan.checkpoint import read_torch_file
from dfplan.config import from_dict, merged, to_dict
from dfplan.planner import PlannerConfig, resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ROWS = load_rows(ROOT / DEFAULT_RESULTS_PATH)


def _name(row) -> str:
    return row.agent if row.variant == "default" else f"{row.agent}/{row.variant}"


def test_every_committed_row_is_an_agent_or_variant_the_runner_knows_and_lists(capsys):
    assert ROWS
    assert run.main(["--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert listed == set(registry.AGENTS)
    assert {_name(row) for row in ROWS} <= listed


def _subset(recorded: dict, planned: dict, where: str = "") -> list[str]:
    """Fields of ``recorded`` that ``planned`` disagrees with (nested dicts field by field)."""
    wrong = []
    for key, value in recorded.items():
        if key == "episode_steps":  # the env's length, filled in at load
            continue
        if isinstance(value, dict):
            wrong += _subset(value, planned.get(key, {}), f"{where}{key}.")
        elif planned.get(key) != value:
            wrong.append(f"{where}{key}: row {value!r}, variant {planned.get(key)!r}")
    return wrong


DF_ROWS = [row for row in ROWS if row.agent == "df" and row.extra.get("planner")]


@pytest.mark.parametrize("row", DF_ROWS, ids=lambda r: f"{r.env}:{r.variant}")
def test_a_df_variant_reproduces_the_planner_its_row_recorded(row):
    spec = DF_VARIANTS.get(row.variant, Variant("default"))
    path = ROOT / spec.checkpoint.format(maze=row.env.replace("multi2d-", "maze2d-")) if spec.checkpoint \
        else resolve_checkpoint(row.env)
    stored = from_dict(PlannerConfig, read_torch_file(path)["meta"]["planner"])
    planned = to_dict(merged(stored, spec.overrides))
    # a field the row did not record did not exist when it ran: it ran with that field's default
    recorded = to_dict(merged(PlannerConfig(), row.extra["planner"]))
    assert _subset(recorded, planned) == []
    assert row.extra.get("episode_steps") in (None, spec.max_episode_steps or row.extra.get("episode_steps"))


def test_a_variant_needing_a_missing_package_is_refused_by_name_and_skipped_by_default(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(registry.AgentSpec, "missing", lambda self: ["d3rlpy"] if self.name == "cql" else [])
    with pytest.raises(SystemExit):
        run.main(["--agents", "cql", "--results", str(tmp_path / "r.json")])
    assert "needs d3rlpy" in capsys.readouterr().err


def test_a_variant_with_its_own_model_trains_and_evaluates_with_that_model_not_the_shipped_one(tmp_path):
    sweep = run.plan_sweep(["df", "df/rnn", "df/pursuit"], ["maze2d-umaze-v1"], "quick", [0], 2, 0, "cpu",
                           tmp_path, "test")
    needs = {job.agent: sweep.trains[sweep.needs[job.key]].request.agent for job in sweep.evals}
    assert needs == {"df": "df", "df/rnn": "df/rnn", "df/pursuit": "df"}
    request = sweep.trains[sweep.needs[next(j.key for j in sweep.evals if j.agent == "df/rnn")]].request
    model = registry.get_agent_spec("df/rnn").train(request)
    assert model.path == ROOT / "results" / "checkpoints" / "df-variants" / "maze2d-umaze-v1-rnn.pt"


def test_the_default_sweep_skips_an_agent_whose_package_is_missing_and_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(registry.AgentSpec, "missing", lambda self: ["d3rlpy"] if self.name == "cql" else [])
    monkeypatch.setattr(run, "DEFAULT_AGENTS", ("oracle", "cql"))
    assert run.main(["--results", str(tmp_path / "r.json"), "--envs", "maze2d-umaze-v1", "--episodes", "1",
                     "--workers", "0", "--no-progress", "--no-report"]) == 0
    assert "skipping cql: d3rlpy not installed" in capsys.readouterr().out
    assert [row.agent for row in load_rows(tmp_path / "r.json")] == ["oracle"]
