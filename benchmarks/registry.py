"""The benchmark agents by name: how to obtain a trained agent for (env, preset, seed).

Each :class:`AgentSpec` says whether the agent is trained, how to train it (or find an
existing model: a shipped checkpoint, a finished run), how to build the evaluated agent
from that model, and the evaluation batch size. A trained baseline in ``agents/`` is one
:class:`Baseline` entry (its module and class) plus its :data:`AGENTS` entries.

Training happens once per (agent, training env, preset, seed), in the run folder
``<runs_dir>/<agent>-<training env>-<preset>-seed<seed>``; an unfinished run is resumed, a
finished one is reused. ``df`` trains one model per maze on the ``maze2d-*`` dataset and
evaluates it on both the ``maze2d-*`` and ``multi2d-*`` env of that maze, as the shipped
checkpoints do.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.protocol import Agent
from benchmarks.variants import DF_VARIANTS, DF_WALKER, DF_WALKER_LEGEND, ROADMAP_VARIANTS, Variant
from dfplan.files import atomic_write
from dfplan.shipped import maze_name
from envs.antmazes import ANTMAZE_IDS

TRAIN_LOG = "train.log"
BASELINE_DIR_ENV = "DFPLAN_BASELINE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
"""The training subprocess's output, kept in its run folder."""


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The importable module names of ``modules`` that are not installed."""
    return [module for module in modules if importlib.util.find_spec(module) is None]


@dataclass(frozen=True)
class TrainRequest:
    """What to train: ``agent`` on ``env_id``'s dataset with ``preset`` and ``seed``."""

    agent: str
    env_id: str
    """The training env (see :attr:`AgentSpec.training_env`)."""
    preset: str
    """``quick`` or ``full``."""
    seed: int
    """Training seed."""
    runs_dir: Path
    """Parent folder of the run folders."""
    device: str = "auto"
    """Training device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``."""

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / f"{self.agent}-{self.env_id}-{self.preset}-seed{self.seed}"


@dataclass(frozen=True)
class TrainedModel:
    """A trained model on disk, as a training job hands it to the evaluation jobs."""

    path: Path
    """Checkpoint file."""
    seed: int
    """The training seed of the model."""
    train_wall_s: float | None
    """Training wall time in seconds, when recorded."""
    source: str
    """``shipped`` or ``trained``."""


@dataclass(frozen=True)
class BuildRequest:
    """What to evaluate: the agent for ``env_id`` (from ``model`` when trained)."""

    env_id: str
    seed: int
    """Seed for the agent's own randomness (the first evaluation seed)."""
    model: TrainedModel | None = None
    device: str = "auto"


@dataclass(frozen=True)
class BuiltAgent:
    """An agent ready to evaluate, with the facts its result row records."""

    agent: Agent
    device: str
    """Where it runs (the row's ``device``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts for the row's ``extra`` (checkpoint, planner settings, ...)."""


@dataclass(frozen=True)
class AgentSpec:
    """How the runner obtains and evaluates one benchmark agent."""

    name: str
    build: Callable[[BuildRequest], BuiltAgent]
    """Build the evaluated agent (from the trained model, for trained agents)."""
    train: Callable[[TrainRequest], TrainedModel] | None = None
    """Obtain a trained model (reuse, resume or train); None for agents that are not trained."""
    eval_batch_size: int = 1
    """Episodes run in lockstep through one batched ``act``."""
    variant: str = "default"
    """The result rows' variant label."""
    training_env: Callable[[str], str] = str
    """The env whose training run serves an evaluation env (identity by default)."""
    in_default_sweep: bool = True
    """Whether ``benchmarks.run`` evaluates it when ``--agents`` is not given (lever variants: no)."""
    max_episode_steps: int | None = None
    """Evaluation protocol: cut every episode at this many steps when the env's are longer (the DF
    paper's 600-step Large episodes); None keeps the suite's lengths."""
    model_of: str | None = None
    """For a variant registered under ``<agent>/<variant>``: the agent whose trained models
    (and result rows' ``agent`` name) it shares; None for the agent itself."""
    requires: tuple[str, ...] = ()
    """Optional packages it needs beyond ``pip install .`` (importable module names)."""
    legend: str = ""
    """What it is or changes, in a sentence (``--list`` and the report's legend)."""
    suites: tuple[str, ...] = ("maze2d",)
    """The suites (``benchmarks.run --suite``) it can be evaluated on."""

    @property
    def trained(self) -> bool:
        return self.train is not None

    def missing(self) -> list[str]:
        """Its required packages that are not installed."""
        return missing_modules(self.requires)

    own_model: bool = False
    """A variant with a model of its own (a retrained ablation), not the one of ``model_of``."""

    @property
    def row_agent(self) -> str:
        """The ``agent`` of its result rows (and of its training runs)."""
        return self.model_of or self.name

    @property
    def model_agent(self) -> str:
        """The agent whose ``train`` provides its model: its own name for a variant with its own model."""
        return self.name if self.own_model else self.row_agent


def _walker_facts(walker) -> dict[str, Any]:
    """What an AntMaze row records about the walker that moves the ant: its budget, preset and file's measure."""
    meta = walker.meta
    return {"walker": {"budget": meta.get("budget"), "preset": meta.get("preset"), "measured": meta.get("measured"),
                       "lineage": [parent.get("preset") for parent in meta.get("lineage", [])]}}


def _build_oracle(request: BuildRequest) -> BuiltAgent:
    from benchmarks.evaluate import AGENTS as PLAIN_AGENTS

    agent = PLAIN_AGENTS["oracle"](request.env_id, request.seed)
    if request.env_id not in ANTMAZE_IDS:
        return BuiltAgent(agent, "cpu")
    from envs.ant_controller import WALKER_REACH

    return BuiltAgent(agent, "cpu", {**_walker_facts(agent.walker), "walker_reach": WALKER_REACH})


def _build_random(request: BuildRequest) -> BuiltAgent:
    from benchmarks.evaluate import AGENTS as PLAIN_AGENTS

    return BuiltAgent(PLAIN_AGENTS["random"](request.env_id, request.seed), "cpu")


def _roadmap_builder(**config: Any) -> Callable[[BuildRequest], BuiltAgent]:
    """The roadmap agent (the learned cost-to-go followed by PD, no diffusion) on the shipped cost file
    of the env's maze; ``config``: :class:`agents.roadmap.RoadmapConfig` fields of a variant.

    On AntMaze: :class:`agents.roadmap.AntRoadmapAgent`, the env's own cost file (fitted on its
    dataset, beside its DF checkpoint) walked by the shipped walker."""

    def build(request: BuildRequest) -> BuiltAgent:
        from dataclasses import asdict

        from agents.roadmap import AntRoadmapAgent, RoadmapAgent, RoadmapConfig
        from dfplan.planner import resolve_checkpoint

        if request.env_id in ANTMAZE_IDS:
            agent = AntRoadmapAgent.load(resolve_checkpoint(request.env_id).with_suffix(".cost.pt"),
                                         RoadmapConfig(**config) if config else None)  # its own default ring
            extra = _walker_facts(agent.walker)
        else:
            agent, extra = RoadmapAgent.load(maze_name(request.env_id), RoadmapConfig(**config)), {}
        meta = agent.cost_to_go.meta
        return BuiltAgent(agent, "cpu", {**extra, "roadmap": asdict(agent.config),
                                         "cost_model": agent.path.name,
                                         "cost_fit_wall_s": meta.get("fit_wall_s")})

    return build


def _roadmap_spec(variant: str = "default", spec: Variant | None = None) -> AgentSpec:
    """The roadmap agent, or its variant ``roadmap/<variant>`` (a row of :data:`benchmarks.variants.ROADMAP_VARIANTS`)."""
    spec = spec or Variant("the learned cost-to-go followed by PD, no diffusion model")
    name = "roadmap" if variant == "default" else f"roadmap/{variant}"
    return AgentSpec(name, _roadmap_builder(**spec.overrides), eval_batch_size=50, variant=variant,
                     max_episode_steps=spec.max_episode_steps, model_of=None if variant == "default" else "roadmap",
                     in_default_sweep=variant == "default", legend=spec.legend,
                     suites=("maze2d", "antmaze") if variant == "default" else ("maze2d",))


def _checkpoint_facts(path: Path) -> tuple[dict[str, Any], bool]:
    """A DF checkpoint's meta and whether its training finished (False if unreadable)."""
    from dfplan.checkpoint import CheckpointError, read_torch_file

    try:
        meta = dict(read_torch_file(path).get("meta") or {})
    except (FileNotFoundError, CheckpointError):
        return {}, False
    steps = meta.get("train_config", {}).get("steps")
    return meta, steps is not None and meta.get("steps_done", 0) >= steps


def _run_logged(command: list[str], run: Path) -> None:
    """Run a training command with its output appended to ``run/train.log``; a failure raises with the log's tail."""
    with open(run / TRAIN_LOG, "a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = "\n".join((run / TRAIN_LOG).read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"training {run} failed (exit code {code}); last lines of {run / TRAIN_LOG}:\n{tail}")


def train_command(request: TrainRequest) -> list[str]:
    """The ``python -m benchmarks train`` command that trains (or resumes) ``request``'s run."""
    command = [sys.executable, "-m", "benchmarks", "train", "--env", request.env_id, "--preset", request.preset,
               "--seed", str(request.seed), "--device", request.device, "--out", str(request.run_dir)]
    if request.agent == "df":
        return [*command, "--resume"]
    return [*command[:4], "--agent", request.agent, *command[4:]]


def _train_df(request: TrainRequest) -> TrainedModel:
    """The shipped checkpoint, else a finished run, else train one now.

    The shipped checkpoint serves preset ``quick`` when it was trained with the requested
    seed (the shipped models use seed 0, the quick sweep's default). Training runs ``python -m benchmarks train --env ... --resume`` as a subprocess, its output
    in the run folder's ``train.log``; a failure raises with the log's tail.
    """
    from dfplan.planner import resolve_checkpoint

    if request.preset == "quick":
        shipped = resolve_checkpoint(request.env_id)
        if shipped.exists():
            meta, _ = _checkpoint_facts(shipped)
            if meta.get("train_config", {}).get("seed", request.seed) == request.seed:
                return TrainedModel(shipped, request.seed, meta.get("train_wall_s"), "shipped")
    run = request.run_dir
    checkpoint = run / "checkpoint.pt"
    meta, finished = _checkpoint_facts(checkpoint)
    if not finished:
        run.mkdir(parents=True, exist_ok=True)
        _run_logged(train_command(request), run)
        meta, finished = _checkpoint_facts(checkpoint)
        if not finished:
            raise RuntimeError(f"training {run} ended without a finished checkpoint; see {run / TRAIN_LOG}")
    return TrainedModel(checkpoint, request.seed, meta.get("train_wall_s"), "trained")


def training_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """What a result row records about a model's training: budget, training env, preset, device.

    Baselines state their ``budget`` in their metadata; a DF checkpoint's is read from its
    training config.
    """
    facts = {key: meta[key] for key in ("budget", "env", "preset", "device") if key in meta}
    train_config = meta.get("train_config", {})
    if "budget" not in facts and "steps" in train_config and "batch_size" in train_config:
        facts["budget"] = f"{train_config['steps'] / 1000:g}k gradient steps × batch {train_config['batch_size']}"
    return facts


def _df_builder(executor: str = "model", **planner: Any) -> Callable[[BuildRequest], BuiltAgent]:
    """The DF planner from the trained model, its stored settings changed by ``planner``
    (:class:`dfplan.planner.PlannerConfig` fields, nested ones partially); ``executor="walker"``: its plans
    walked by the shipped ant walker (``agents/df_walker.py``, AntMaze's labelled ``df/walker``)."""

    def build(request: BuildRequest) -> BuiltAgent:
        import envs
        from dfplan.planner import DFPlanner

        if request.model is None:
            raise ValueError("the df agent needs a trained model")
        env = envs.make(request.env_id)
        try:
            if executor == "walker":
                from agents.df_walker import load_df_walker

                agent = load_df_walker(request.model.path, request.device, env=env, **planner)
            else:
                agent = DFPlanner.load(request.model.path, request.device, env=env, **planner)
        finally:
            env.close()
        extra = {"planner": agent.planner_meta(), "training": training_facts(agent.meta)}
        if executor == "walker":
            extra.update(executor="walker", **_walker_facts(agent.inverse.walker), walker_reach=agent.inverse.reach)
        return BuiltAgent(agent, str(agent.device), extra)

    return build


def _variant_model(template: str) -> Callable[[TrainRequest], TrainedModel]:
    """A variant's own retrained model: the file ``template`` names for the env's maze (quick preset, seed 0)."""

    def train(request: TrainRequest) -> TrainedModel:
        path = REPO_ROOT / template.format(maze=maze_name(request.env_id))
        if request.preset != "quick" or request.seed != 0:
            raise ValueError(f"{path.name} is one model (quick preset, seed 0); run this variant with --preset quick --seeds 0")
        if not path.is_file():
            raise FileNotFoundError(f"no variant model {path} (docs/maze-suite.md says how to retrain the ablation models)")
        meta, _ = _checkpoint_facts(path)
        return TrainedModel(path, 0, meta.get("train_wall_s"), "shipped")

    return train


def _df_spec(variant: str = "default", spec: Variant | None = None) -> AgentSpec:
    """The DF agent, or its variant ``df/<variant>`` (a row of :data:`benchmarks.variants.DF_VARIANTS`)."""
    spec = spec or Variant("the shipped planner")
    name = "df" if variant == "default" else f"df/{variant}"
    train = _variant_model(spec.checkpoint) if spec.checkpoint else _train_df
    return AgentSpec(name, _df_builder(**spec.overrides), train, eval_batch_size=50, variant=variant,
                     training_env=maze_name, max_episode_steps=spec.max_episode_steps,
                     model_of=None if variant == "default" else "df", in_default_sweep=variant == "default",
                     legend=spec.legend, own_model=spec.checkpoint is not None,
                     suites=("maze2d", "antmaze") if variant == "default" else ("maze2d",))


@dataclass(frozen=True)
class Baseline:
    """A trained baseline in ``agents/``: its module's ``train`` and its agent class.

    The module meets one contract: a ``PRESETS`` dict of training settings by name,
    ``train(env_id, preset, seed, out_dir, device, **train_options)
    -> Path`` (resumes an unfinished ``out_dir``, returns a finished one at once) and
    ``finished_model(out_dir) -> Path | None``; the class has ``load(path, device, **options)``
    and a ``meta`` dict (``train_wall_s``, ``budget``, ``env``, ``seed``, ...).
    """

    module: str
    """Import path, e.g. ``agents.diffuser``."""
    agent_class: str
    """The agent class in that module."""
    train_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the module's ``train`` (e.g. the offline algorithm)."""
    training_env: Callable[[str], str] = maze_name
    """The env whose training run serves an evaluation env (one model per maze)."""
    requires: tuple[str, ...] = ()
    """Optional packages it needs beyond ``pip install .`` (importable module names)."""

    def missing(self) -> list[str]:
        """Its required packages that are not installed."""
        return missing_modules(self.requires)

    def check_preset(self, preset: str) -> None:
        """Raise ``ValueError`` (listing the valid ones) unless its module's ``PRESETS`` name ``preset``."""
        presets = importlib.import_module(self.module).PRESETS
        if preset not in presets:
            raise ValueError(f"unknown preset {preset!r} for {self.module}; valid: {', '.join(presets)}")

    def train(self, env_id: str, preset: str, seed: int, out_dir: Path, device: str = "auto",
              max_steps: int | None = None) -> Path:
        """Train (or resume, or reuse) the run; ``max_steps`` caps its gradient steps (a smoke test)."""
        options = dict(self.train_options) if max_steps is None else {**self.train_options, "max_steps": max_steps}
        return importlib.import_module(self.module).train(env_id, preset, seed, Path(out_dir), device, **options)

    def finished_model(self, out_dir: Path) -> Path | None:
        return importlib.import_module(self.module).finished_model(Path(out_dir))

    def load(self, path: str | Path, device: str = "auto", **options: Any) -> Agent:
        """The agent from ``path`` (a model file, or a run folder holding a finished model)."""
        path = Path(path)
        if path.is_dir():
            model = self.finished_model(path)
            if model is None:
                raise FileNotFoundError(f"{path} holds no finished model")
            path = model
        if not path.exists():
            raise FileNotFoundError(f"no such model file: {path}")
        return getattr(importlib.import_module(self.module), self.agent_class).load(path, device, **options)


OFFLINE_RL = ("d3rlpy",)
OFFLINE_RL_INSTALL = 'pip install -e ".[offline]" && pip install --no-deps d3rlpy==2.8.1'
"""How to install d3rlpy here (pip cannot resolve its gymnasium pin beside gymnasium-robotics; docs/baselines.md)."""


def _multi2d_env(env_id: str) -> str:
    """The ``multi2d-*`` env of ``env_id``'s maze (online goal-conditioned training draws goals)."""
    return env_id.replace("maze2d-", "multi2d-")


BASELINES: dict[str, Baseline] = {
    "diffuser": Baseline("agents.diffuser", "DiffuserAgent"),
    "sac-her": Baseline("agents.sac_her", "SACHERAgent", training_env=_multi2d_env),
    "iql": Baseline("agents.offline_rl", "OfflineRLAgent", {"algorithm": "iql"}, requires=OFFLINE_RL),
    "cql": Baseline("agents.offline_rl", "OfflineRLAgent", {"algorithm": "cql"}, requires=OFFLINE_RL),
}
"""The trained baselines of DESIGN.md section 6, by agent name."""


def get_baseline(name: str) -> Baseline:
    """The baseline ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)} (and df, trained by dfplan)")
    return BASELINES[name]


def baseline_dir() -> Path:
    """Where the suite's shipped baseline models live: ``$DFPLAN_BASELINE_DIR``, else the
    repository's ``results/checkpoints`` (they are the suite's, not the library's: not in the wheel)."""
    return Path(os.environ.get(BASELINE_DIR_ENV) or REPO_ROOT / "results" / "checkpoints")


def shipped_baseline_dir(agent: str, training_env: str) -> Path:
    """Where a shipped baseline model lives: ``<baseline dir>/<agent>/<training env>/``."""
    return baseline_dir() / agent / training_env


def ship_baseline(agent: str, run_dir: str | Path) -> Path:
    """Copy the finished model of ``run_dir`` (the model file and its same-stem sidecars, e.g.
    ``model.json``) into :func:`shipped_baseline_dir` of its training env; returns that folder.

    The runner's ``quick`` preset then uses it instead of training (when its seed matches).
    """
    import shutil

    baseline = get_baseline(agent)
    model = baseline.finished_model(Path(run_dir))
    if model is None:
        raise FileNotFoundError(f"{run_dir} holds no finished {agent} model")
    env = baseline.load(model, "cpu").meta.get("env")
    if not env:
        raise ValueError(f"{model} does not record its training env")
    target = shipped_baseline_dir(agent, env)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(model.parent.glob(f"{model.stem}.*")):
        atomic_write(target / path.name, lambda tmp, source=path: shutil.copyfile(source, tmp))
    return target


def _baseline_trainer(agent: str) -> Callable[[TrainRequest], TrainedModel]:
    """Obtain a baseline model: the shipped one (preset quick), else a finished run, else train now.

    Training runs ``python -m benchmarks train --agent <agent> ...`` as a subprocess (its output in
    the run folder's ``train.log``), which resumes an unfinished run.
    """

    def trainer(request: TrainRequest) -> TrainedModel:
        baseline = get_baseline(agent)
        if request.preset == "quick":
            shipped = baseline.finished_model(shipped_baseline_dir(agent, request.env_id))
            if shipped is not None:
                meta = baseline.load(shipped, "cpu").meta
                if meta.get("seed", request.seed) == request.seed:
                    return TrainedModel(shipped, request.seed, meta.get("train_wall_s"), "shipped")
        run = request.run_dir
        model = baseline.finished_model(run)
        if model is None:
            run.mkdir(parents=True, exist_ok=True)
            _run_logged(train_command(dataclasses.replace(request, agent=agent)), run)
            model = baseline.finished_model(run)
            if model is None:
                raise RuntimeError(f"training {run} ended without a finished model; see {run / TRAIN_LOG}")
        meta = baseline.load(model, "cpu").meta
        return TrainedModel(model, request.seed, meta.get("train_wall_s"), "trained")

    return trainer


def _baseline_builder(agent: str, **options: Any) -> Callable[[BuildRequest], BuiltAgent]:
    """Build a baseline agent (with load ``options``, e.g. Diffuser's executed actions) from its model."""

    def build(request: BuildRequest) -> BuiltAgent:
        if request.model is None:
            raise ValueError(f"the {agent} agent needs a trained model")
        built = get_baseline(agent).load(request.model.path, request.device, **options)
        meta = getattr(built, "meta", {})
        return BuiltAgent(built, str(getattr(built, "device", "cpu")), {"training": training_facts(meta), **options})

    return build


def _baseline_spec(agent: str, variant: str = "default", legend: str = "", suites: tuple[str, ...] = ("maze2d",),
                   **options: Any) -> AgentSpec:
    name = agent if variant == "default" else f"{agent}/{variant}"
    return AgentSpec(name, _baseline_builder(agent, **options), _baseline_trainer(agent), eval_batch_size=50,
                     variant=variant, training_env=get_baseline(agent).training_env,
                     model_of=None if variant == "default" else agent, requires=get_baseline(agent).requires,
                     legend=legend, suites=suites)


AGENTS: dict[str, AgentSpec] = {
    "df": _df_spec(),
    "df/walker": AgentSpec("df/walker", _df_builder("walker", **DF_WALKER), _train_df, eval_batch_size=50, variant="walker",
                           training_env=maze_name, model_of="df", in_default_sweep=False, suites=("antmaze",),
                           legend=DF_WALKER_LEGEND),
    **{f"df/{name}": _df_spec(name, variant) for name, variant in DF_VARIANTS.items()},
    "diffuser": _baseline_spec("diffuser"),
    "diffuser/diffused-actions": _baseline_spec("diffuser", "diffused-actions", "Diffuser executing its sampled "
                                                "actions instead of tracking its planned states", actions="diffused"),
    "sac-her": _baseline_spec("sac-her"),
    "iql": _baseline_spec("iql", suites=("maze2d", "antmaze")),  # AntMaze: one model per env (its own dataset)
    "cql": _baseline_spec("cql"),
    "roadmap": _roadmap_spec(),
    **{f"roadmap/{name}": _roadmap_spec(name, variant) for name, variant in ROADMAP_VARIANTS.items()},
    "oracle": AgentSpec("oracle", _build_oracle, suites=("maze2d", "antmaze")),
    "random": AgentSpec("random", _build_random, suites=("maze2d", "antmaze")),
}
"""The agents the runner can evaluate, by name (``<agent>/<variant>`` for a variant sharing an
agent's trained models)."""


DEFAULT_AGENTS: tuple[str, ...] = tuple(name for name, spec in AGENTS.items() if spec.in_default_sweep)
"""What ``benchmarks.run`` evaluates by default on Maze2D: every agent, without the lever variants."""


def get_agent_spec(name: str) -> AgentSpec:
    """The spec of agent ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if name in AGENTS:
        return AGENTS[name]
    agents = [agent for agent, spec in AGENTS.items() if spec.model_of is None]
    variants = [agent for agent, spec in AGENTS.items() if spec.model_of is not None]
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(agents)}; and {len(variants)} variants "
                     f"such as {variants[0]} (python -m benchmarks.run --list shows them all)")
