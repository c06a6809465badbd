"""Run the benchmark suite: every (env × agent × training seed) job, then the report.

    python -m benchmarks.run --suite maze2d --agents df,oracle,random --preset quick

Presets: ``quick`` evaluates the shipped DF checkpoints (training seed 0) on all six envs
with 30 episodes per env (the rows say so: ``n_episodes``, ``extra.preset``); ``full`` is
the headline protocol, 100 episodes × training seeds 0, 1, 2. ``--episodes`` and
``--seeds`` override either. A trained agent without a model trains first (once per
maze and seed; see :mod:`benchmarks.registry`), then its evaluations run.

Jobs run in ``--workers`` spawned processes (``0``: in this process), or as Ray tasks with
``--engine ray``. Each finished job is recorded at once in the job ledger beside the
results file (:mod:`benchmarks.ledger`); rerunning the same command skips the jobs
recorded as done (whose model is unchanged), so an interrupted sweep resumes where it
stopped; ``--rerun`` evaluates the selected jobs again regardless. A failed job is
recorded with its traceback, listed at the end, and makes the exit code 1. When all
training seeds of a setting are done, their pooled row is upserted into the results
file (replacing the row of the same env, agent and variant: the file holds the last
sweep's numbers, so a ``quick`` sweep after a ``full`` one replaces its rows); after the
sweep the report is regenerated (:mod:`benchmarks.report`). The results file is
``runs/maze2d/results.json`` unless ``--results`` names another: a sweep leaves the
committed ``results/maze2d/`` and README alone and prints its rows beside the committed
ones; ``--results results/maze2d/results.json`` is how a maintainer records rows.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from benchmarks import report
from benchmarks.engines import ENGINES, Engine, make_engine
from benchmarks.jobs import EvalJob, JobOutcome, TrainJob, run_eval_job, run_train_job
from benchmarks.ledger import ledger_path, load_ledger, pooled_row, record_outcome, still_done
from benchmarks.registry import (
    AGENTS,
    DEFAULT_AGENTS,
    OFFLINE_RL_INSTALL,
    TrainedModel,
    TrainRequest,
    get_agent_spec,
)
from benchmarks.results import (
    ANTMAZE_RESULTS_PATH,
    DEFAULT_RESULTS_PATH,
    ResultRow,
    load_rows,
    upsert_rows,
)
from dfplan.config import comma_list
from dfplan.provenance import command_line
from envs import get_suite_spec
from envs.antmazes import ANTMAZE_IDS
from envs.mazes import ENV_IDS

SUITES = {"maze2d": ENV_IDS, "antmaze": ANTMAZE_IDS}
"""Suite name -> its env ids."""
COMMITTED_RESULTS = {"maze2d": DEFAULT_RESULTS_PATH, "antmaze": ANTMAZE_RESULTS_PATH}
"""Suite name -> its committed results file."""
INTERRUPTED = 130
"""Exit code of an interrupted sweep (as a shell reports Ctrl-C)."""
SWEEP_RESULTS_PATH = Path("runs/maze2d/results.json")
"""Where a sweep writes by default: its own file, so the committed ``results/`` stay as they are
(``runs/antmaze/results.json`` for the AntMaze suite)."""


def default_agents(suite: str) -> tuple[str, ...]:
    """What ``--suite <suite>`` evaluates when ``--agents`` is not given: the default agents that run there."""
    return tuple(name for name in DEFAULT_AGENTS if suite in get_agent_spec(name).suites)


@dataclass(frozen=True)
class SweepPreset:
    """Evaluation budget of a preset (training settings: ``dfplan.presets``)."""

    episodes: int
    """Evaluation episodes per env per trained model."""
    seeds: tuple[int, ...]
    """Training seeds (ignored for agents that are not trained)."""


PRESETS = {"quick": SweepPreset(episodes=30, seeds=(0,)), "full": SweepPreset(episodes=100, seeds=(0, 1, 2))}


@dataclass(frozen=True)
class Sweep:
    """The job list: evaluations, and the training jobs they wait for."""

    evals: tuple[EvalJob, ...]
    trains: dict[str, TrainJob]
    needs: dict[str, str | None]
    """Eval job key -> key of the training job it needs (None: none)."""


def plan_sweep(agents: list[str], env_ids: list[str], preset: str, seeds: list[int], episodes: int,
               eval_seed: int, device: str, runs_dir: Path, command: str) -> Sweep:
    """Every (env × agent × training seed) evaluation job, and the deduplicated training jobs."""
    workdir = str(Path.cwd())
    evals, trains, needs = [], {}, {}
    for agent in agents:
        spec = get_agent_spec(agent)
        for env_id in env_ids:
            for seed in seeds if spec.trained else [None]:
                job = EvalJob(env_id, agent, spec.variant, preset, seed, episodes, eval_seed, spec.eval_batch_size,
                              device, command, workdir)
                evals.append(job)
                needs[job.key] = None
                if seed is not None:
                    request = TrainRequest(spec.model_agent, spec.training_env(env_id), preset, seed, runs_dir.resolve(),
                                           device)
                    train = TrainJob(request, workdir)
                    trains[train.key] = train
                    needs[job.key] = train.key
    return Sweep(tuple(evals), trains, needs)


class _Runner:
    """Executes a sweep on an engine, recording outcomes and upserting complete rows."""

    def __init__(self, sweep: Sweep, engine: Engine, results: Path, progress: bool, rerun: bool = False) -> None:
        self.sweep, self.engine, self.results, self.ledger = sweep, engine, results, ledger_path(results)
        self.records = load_ledger(self.ledger)
        self.failed: list[tuple[str, str]] = []
        self.futures: dict[Future, TrainJob | EvalJob] = {}
        self.groups: dict[tuple, list[EvalJob]] = defaultdict(list)
        for job in sweep.evals:
            self.groups[job.group].append(job)
        self.pending = [job for job in sweep.evals if rerun or not still_done(self.records.get(job.key))]
        self.waiting: dict[str, list[EvalJob]] = defaultdict(list)
        """Training job key -> the pending evaluations that need its model."""
        for job in self.pending:
            if sweep.needs[job.key] is not None:
                self.waiting[sweep.needs[job.key]].append(job)
        self.bar = tqdm(total=len(self.pending) + len(self.waiting), desc="sweep", unit="job", disable=not progress,
                        dynamic_ncols=True)

    def run(self) -> None:
        for key in list(self.waiting):  # the long jobs first
            self._submit(self.sweep.trains[key])
        for job in self.pending:
            if self.sweep.needs[job.key] is None:
                self._submit(job)
        while self.futures:
            finished, _ = wait(self.futures, return_when=FIRST_COMPLETED)
            for future in finished:
                self._handle(future, self.futures.pop(future))
        self.bar.close()

    def _submit(self, job: TrainJob | EvalJob, model: TrainedModel | None = None) -> None:
        if isinstance(job, TrainJob):
            future = self.engine.submit(run_train_job, job)
        else:
            future = self.engine.submit(run_eval_job, job, model)
        if future.done():  # the inline engine: record it now, before the next job runs
            self._handle(future, job)
        else:
            self.futures[future] = job

    def _handle(self, future: Future, job: TrainJob | EvalJob) -> None:
        """Record a finished job; a finished training job releases the evaluations that need it."""
        outcome = self._outcome(future, job)
        self._finish(job, outcome)
        if isinstance(job, TrainJob):
            for dependent in self.waiting.pop(job.key):
                if outcome.ok:
                    self._submit(dependent, outcome.model)
                else:
                    self._finish(dependent, JobOutcome(dependent.key, False, 0.0,
                                                       error=f"its training job {job.key} failed (see there)"))

    @staticmethod
    def _outcome(future: Future, job: TrainJob | EvalJob) -> JobOutcome:
        """The job's outcome; an engine-level failure (a worker died, Ray error) is a failed job."""
        try:
            return future.result()
        except Exception as error:
            return JobOutcome(job.key, False, 0.0, error=f"{type(error).__name__}: {error}")

    def _finish(self, job: TrainJob | EvalJob, outcome: JobOutcome) -> None:
        description = {"request": {**asdict(job.request), "runs_dir": str(job.request.runs_dir)}} \
            if isinstance(job, TrainJob) else asdict(job)
        self.records[job.key] = record_outcome(self.ledger, outcome, description)
        self.bar.update(1)
        if not outcome.ok:
            self.failed.append((job.key, outcome.error or "unknown error"))
            tqdm.write(f"FAILED {job.key} ({outcome.wall_s:.0f} s)")
            return
        summary = ""
        if outcome.row is not None:
            summary = (f": score {outcome.row['score_mean']:.1f} ± {outcome.row['score_sem']:.1f}, "
                       f"success {outcome.row['success_rate']:.0%}")
            self._upsert([job.group])
        tqdm.write(f"done   {job.key}{summary} ({outcome.wall_s:.0f} s)")

    def _upsert(self, groups: list[tuple]) -> None:
        """Upsert the pooled row of each group whose jobs are all done."""
        rows = []
        for group in groups:
            records = [self.records.get(job.key, {}) for job in self.groups[group]]
            if all(record.get("status") == "done" for record in records):
                rows.append(pooled_row(records))
        if rows:
            upsert_rows(rows, self.results)

    def upsert_all(self) -> None:
        """Upsert every complete group of the sweep (rows of skipped jobs too)."""
        self._upsert(list(self.groups))


def comparison_table(rows: list[ResultRow], committed: list[ResultRow], keys: set[tuple[str, str, str]],
                     committed_path: str | Path = DEFAULT_RESULTS_PATH) -> str:
    """This sweep's rows (``keys``: (env, agent, variant)) beside the committed rows of the same key."""
    reference = {(r.env, r.agent, r.variant): r for r in committed}
    lines = [f"this sweep beside the committed rows ({committed_path}):",
             f"{'env':<26} {'agent':<30} {'score (n)':>16} {'committed (n)':>16}"]
    for row in sorted((r for r in rows if (r.env, r.agent, r.variant) in keys), key=lambda r: (r.env, r.agent, r.variant)):
        name = row.agent if row.variant == "default" else f"{row.agent}/{row.variant}"
        ref = reference.get((row.env, row.agent, row.variant))
        theirs = f"{ref.score_mean:.1f} ({ref.n_episodes})" if ref else "—"
        lines.append(f"{row.env:<26} {name:<30} {f'{row.score_mean:.1f} ({row.n_episodes})':>16} {theirs:>16}")
    return "\n".join(lines)


def agent_listing() -> str:
    """Every agent and ``agent/variant`` the suite knows, one per line, with what it changes."""
    lines = []
    for name, spec in AGENTS.items():
        notes = [] if spec.in_default_sweep else ["variant"]
        if spec.legend:
            notes.append(spec.legend)
        if spec.requires:
            notes.append(f"needs {', '.join(spec.requires)}")
        lines.append(f"{name:<28} {'; '.join(notes)}".rstrip())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--suite", choices=sorted(SUITES), default="maze2d")
    parser.add_argument("--agents", help=f"comma-separated (default: {','.join(DEFAULT_AGENTS)}, less those whose "
                        "optional packages are not installed); --list shows the variants too")
    parser.add_argument("--list", action="store_true", help="print every agent and agent/variant, then exit")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--envs", default="all", help="comma-separated env ids, or 'all' (default)")
    parser.add_argument("--episodes", type=int, help="evaluation episodes per env and model (default: the preset's)")
    parser.add_argument("--seeds", help="comma-separated training seeds (default: the preset's)")
    parser.add_argument("--eval-seed", type=int, default=0, help="first eval seed (episode i uses seed + i)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: run jobs in this process)")
    parser.add_argument("--engine", choices=ENGINES, default="pool")
    parser.add_argument("--device", default="auto", help="training and evaluation device: auto | cpu | cuda | cuda:N")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"results file (ledger: jobs.json beside it; default {SWEEP_RESULTS_PATH}, or runs/antmaze/"
                             f"results.json for --suite antmaze: the committed {DEFAULT_RESULTS_PATH} and "
                             f"{ANTMAZE_RESULTS_PATH} are only written when named here)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmarks"), help="training run folders")
    parser.add_argument("--readme", help="README whose headline table the report updates "
                                         "(default: README.md for the default results file, else none; '-': none)")
    parser.add_argument("--rerun", action="store_true", help="evaluate the selected jobs again even if the ledger "
                        "records them as done (e.g. after a planner change a record without a model stamp "
                        "cannot detect)")
    parser.add_argument("--no-report", action="store_true", help="do not regenerate the report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    from dfplan.device import resolve_device

    if args.list:
        print(agent_listing())
        return 0
    if args.results is None:
        args.results = SWEEP_RESULTS_PATH if args.suite == "maze2d" else Path(f"runs/{args.suite}/results.json")
    try:
        agents = list(default_agents(args.suite)) if args.agents is None else comma_list(args.agents)
        missing = {agent: get_agent_spec(agent).missing() for agent in agents}  # unknown names fail here
        missing = {agent: packages for agent, packages in missing.items() if packages}
        if missing and args.agents is not None:
            agent, packages = next(iter(missing.items()))
            raise ValueError(f"agent {agent} needs {', '.join(packages)}, which is not installed: {OFFLINE_RL_INSTALL}")
        if missing:  # the default sweep: run what is installed, say what is not
            print(f"skipping {', '.join(missing)}: {', '.join(sorted({p for ps in missing.values() for p in ps}))} "
                  f"not installed ({OFFLINE_RL_INSTALL})")
            agents = [agent for agent in agents if agent not in missing]
        env_ids = list(SUITES[args.suite]) if args.envs == "all" else [get_suite_spec(e).env_id for e in comma_list(args.envs)]
        outside = [env for env in env_ids if env not in SUITES[args.suite]]
        if outside:
            raise ValueError(f"{', '.join(outside)} not in the {args.suite} suite (--suite {', '.join(sorted(SUITES))})")
        unsupported = [agent for agent in agents if args.suite not in get_agent_spec(agent).suites]
        if unsupported:
            raise ValueError(f"{', '.join(unsupported)} cannot run on the {args.suite} suite yet; agents there: "
                             f"{', '.join(default_agents(args.suite))}")
        resolve_device(args.device)  # an unknown or missing device fails here, not inside every job
        load_rows(args.results)  # a corrupt results file fails before any job runs, not after
        load_ledger(ledger_path(args.results))
    except ValueError as error:
        parser.error(str(error))
    try:
        seeds = [int(s) for s in comma_list(args.seeds)] if args.seeds is not None else list(preset.seeds)
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    episodes = preset.episodes if args.episodes is None else args.episodes
    if not agents or not env_ids or not seeds or episodes < 1 or args.workers < 0:
        parser.error("need at least one agent, env and seed, --episodes >= 1 and --workers >= 0")
    command = command_line("benchmarks.run", argv)
    sweep = plan_sweep(agents, env_ids, args.preset, seeds, episodes, args.eval_seed, args.device, args.runs_dir,
                       command)
    try:
        engine = make_engine(args.engine, args.workers)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runner = _Runner(sweep, engine, args.results, progress=not args.no_progress, rerun=args.rerun)
    skipped = len(sweep.evals) - len(runner.pending)
    print(f"{args.suite} {args.preset}: {len(sweep.evals)} evaluation jobs ({skipped} already done, skipped), "
          f"{episodes} episodes each, training seeds {seeds}; {len(runner.waiting)} training jobs (an existing "
          f"model is reused); ledger {runner.ledger}")
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.bar.close()
        print(f"\ninterrupted: finished jobs are recorded in {runner.ledger}; rerun the same command to resume",
              file=sys.stderr)
        return INTERRUPTED
    finally:
        engine.shutdown()
    runner.upsert_all()
    if not args.no_report and args.results.is_file():  # no results file yet: every job failed, nothing to report
        report.main(["--results", str(args.results), *(["--readme", args.readme] if args.readme else [])])
    committed = COMMITTED_RESULTS[args.suite]
    if args.results.is_file() and committed.is_file() and args.results.resolve() != committed.resolve():
        print(comparison_table(load_rows(args.results), load_rows(committed), {(job.env_id, get_agent_spec(job.agent).row_agent, job.variant) for job in sweep.evals}, committed))
    for key, error in runner.failed:
        print(f"\nFAILED {key}:\n{error}", file=sys.stderr)
    if runner.failed:
        print(f"{len(runner.failed)} job(s) failed (recorded in {runner.ledger}); rerun to retry them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
