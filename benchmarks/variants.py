"""Named variants as data: ``agent/variant`` -> what it changes, and the legend the report prints.

A DF variant changes the shipped planner's settings (nested :class:`dfplan.planner.PlannerConfig`
fields, merged partially onto those stored with the checkpoint), may plan with another
checkpoint (a retrained ablation model, ``{maze}`` standing for the env's maze), and may cut
episodes shorter (an evaluation protocol). Every ``df/<variant>`` row of
``results/maze2d/results.json`` is rerun by ``python -m benchmarks.run --results
results/maze2d/results.json --agents df/<variant> --envs <env> --episodes 100`` (the rows'
``extra.planner`` records the full settings). ``EPISODE_END`` is the shipped planner before the
fixed 20-token horizon replaced it: the lever rows of that time change one option of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EPISODE_END: dict[str, Any] = {"to_episode_end": True, "max_horizon": 30}
STRAIGHT_LINE: dict[str, Any] = {**EPISODE_END, "guidance": "goal", "sampler": {"guidance_scale": 0.3}}
PAPER_SAMPLER: dict[str, Any] = {**EPISODE_END, "sampler": {"schedule": "pyramid", "num_steps": 50}}
SELF_GUIDED: dict[str, Any] = {"guidance": "goal", "goal_reach": 0.7, "velocity_weight": 1.0, "action_mode": "inverse",
                               "sampler": {"guidance_scale": 0.5}}
PRE_REST: dict[str, Any] = {"goal_rest": 0.0, "rest_margin": 1, "velocity_weight": 1.0, "replan_every": 10}
"""The shipped settings before the Large planner imposed the goal at rest (2026-12-02); ``rest_margin``
is inert without ``goal_rest`` and is pinned to the default the rows recorded; every planner then replanned
every 10 env steps."""
PRE_PD_NEAR: dict[str, Any] = {"pd_near": 0.0, **PRE_REST, "replan_near": 4}
"""The Medium / Large planners' shared settings before PD at the goal (2026-12-02, later): the goal not
imposed at rest, the speed penalty at weight 1, replanning every 4 steps at the goal."""
PRE_FAR2: dict[str, Any] = {"guidance_far": 1.0, "replan_every": 10, "replan_near": 0}
"""The shipped Large planner before it took `df/guidance-far2+replan-every7`'s settings (the lever rows
measured on it pin these; the U-Maze and Medium planners have them)."""
DF_WALKER: dict[str, Any] = {"inverse_lead": 15}
"""AntMaze ``df/walker``: the shipped planner's settings, the walker shown the planned (x, y) 15 steps ahead
(chosen on Medium diverse, seeds 1000–1019: leads 5 / 10 / 15 / 20 walked 25 / 35 / 60 / 60 % (lead 20 on
seeds 1000–1009 only); with ``anchor_weight=100`` leads 15 / 20 walked 45 / 60 %)."""
DF_WALKER_LEGEND = ("AntMaze: the shipped DF planner's plans walked by the shipped ant walker (the oracle's and "
                    "the roadmap's low-level policy) towards the planned (x, y) 15 steps ahead, instead of the "
                    "model's inverse head: the torques are not the model's (labelled, like Hierarchical Diffuser); "
                    "it measures DF's plans against the roadmap's route with the same executor")
VARIANT_CHECKPOINTS = "results/checkpoints/df-variants"
"""Where the retrained ablation models live (repository-relative; not in the wheel)."""


@dataclass(frozen=True)
class Variant:
    """One named variant of an agent."""

    legend: str
    """What it changes, in a sentence (the report's legend)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Agent settings changed (DF: PlannerConfig fields, nested partially; roadmap: RoadmapConfig fields)."""
    checkpoint: str | None = None
    """DF only: another model, ``{maze}`` replaced by the env's maze (``maze2d-large-v1``); None = shipped."""
    max_episode_steps: int | None = None
    """Cut every episode at this many steps (the DF paper's 600-step Large protocol); None = the suite's."""
    on_shipped: bool = False
    """DF only: change the shipped planner as it is now; False pins the settings shipped when the
    earlier lever rows were measured (:data:`LEVER_BASE`) under the overrides."""


def _change(*layers: dict[str, Any]) -> dict[str, Any]:
    """Overrides layered left to right, nested dicts merged."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


DF_VARIANTS: dict[str, Variant] = {
    # the shipped planner as it is now, one option changed
    "goal-rest-head": Variant("the shipped planner with the goal at rest imposed from one token after its "
                              "estimated arrival (`goal_rest=1`, `rest_margin=1`, `velocity_weight=0.05`): near the "
                              "goal the inverse head's 20-step lead reaches the imposed tokens, so it is a hold "
                              "through the model's own head, not the model's plan: labelled, not DF (on Medium the "
                              "planner before `pd_near`, the inverse head everywhere, replanning every 4 steps at the "
                              "goal)", {"goal_rest": 1.0, "rest_margin": 1, "velocity_weight": 0.05, "pd_near": 0.0,
                                        "replan_near": 4}, on_shipped=True),
    "no-pd-near": Variant("the shipped planner acting through the inverse head at the goal too (`pd_near=0`) instead "
                          "of tracking the plan's next state by PD within 0.5 of it (on U-Maze the shipped DF before "
                          "`pd_near`)", {"pd_near": 0.0}, on_shipped=True),
    "pre-pd-near": Variant("the Medium planner shipped before `pd_near`: the inverse head everywhere, no goal at rest, "
                           "the speed penalty at weight 1 and replanning every 4 steps at the goal (`pd_near=0`, "
                           "`goal_rest=0`, `velocity_weight=1`, `replan_near=4`)",
                           PRE_PD_NEAR, on_shipped=True),
    "no-goal-rest": Variant("the shipped planner without the goal at rest imposed after its estimated arrival, with "
                            "the firmer speed penalty at the goal and replanning every 4 steps there (`goal_rest=0`, "
                            "`velocity_weight=1`, `replan_near=4`: on Large the shipped DF before it, and before `guidance_far=2` + "
                            "replans every 7)",
                            {**PRE_FAR2, "goal_rest": 0.0, "velocity_weight": 1.0, "replan_near": 4},
                            on_shipped=True),
    "replan-near4": Variant("the shipped planner replanning every 4 steps within 0.5 of the goal instead of every 10 "
                            "(`replan_near=4`: on Large the shipped DF of 2026-12-02 before it was dropped, 2.5x the "
                            "replans at the goal, before `guidance_far=2` + replans every 7)", {**PRE_FAR2, "replan_near": 4}, on_shipped=True),
    "replan-every5": Variant("the shipped planner replanning every 5 env steps on the way and every 10 within 0.5 of "
                             "the goal (`replan_every=5`, `replan_near=10`): each plan started from where the agent "
                             "is twice as often, at twice the replans (on Large the planner before `guidance_far=2` + "
                             "replans every 7)", {**PRE_FAR2, "replan_every": 5, "replan_near": 10},
                             on_shipped=True),
    "guidance-far2+replan-every5": Variant("the shipped planner with the guidance 2× firmer beyond 1.0 of the goal "
                                           "and replanning every 5 env steps on the way, every 10 within 0.5 of it "
                                           "(`guidance_far=2`, `replan_every=5`, `replan_near=10`): a firmer pull "
                                           "along the route from plans started twice as often",
                                           {"guidance_far": 2.0, "replan_every": 5, "replan_near": 10},
                                           on_shipped=True),
    "guidance-far2+replan-every7": Variant("`df/guidance-far2+replan-every5` replanning every 7 env steps on the way "
                                           "instead of 5 (`guidance_far=2`, `replan_every=7`, `replan_near=10`): "
                                           "fewer replans, for the 10 ms budget (the shipped Large planner since)",
                                           {"guidance_far": 2.0, "replan_every": 7, "replan_near": 10},
                                           on_shipped=True),
    "no-replan-near": Variant("the shipped planner without replanning every 4 steps within 0.5 of the goal "
                              "(`replan_near=0`: every 10 steps everywhere; on Large the shipped DF before it and "
                              "before `goal_rest` and `guidance_far=2` + replans every 7; on Medium before `pd_near`)",
                              {**PRE_FAR2, "replan_near": 0, "pd_near": 0.0, **PRE_REST}, on_shipped=True),
    "no-tempo": Variant("the shipped Medium planner without its faster approach (`inverse_tempo=1`: the inverse head "
                        "asked to reach the planned observation 20 steps ahead in 20, not in 10 fading to 20 within "
                        "0.5 of the goal; the Medium planner before `pd_near` and `goal_rest`)",
                        {"inverse_tempo": 1.0, "tempo_fade": 0.0, **PRE_PD_NEAR},
                        on_shipped=True),
    "guidance-far": Variant("the shipped planner with the guidance 2× firmer beyond 1.0 of the goal "
                            "(`guidance_far=2`): a firmer pull along the route that leaves the hold alone (the "
                            "planners before `pd_near` and `goal_rest`, replanning every 4 steps at the goal)",
                            {"guidance_far": 2.0, **PRE_PD_NEAR}, on_shipped=True),
    # the shipped planner of the earlier lever rows (LEVER_BASE), one option changed
    "feedforward": Variant("the plan's own action plus the PD correction onto its states (`action_mode=feedforward`) "
                           "instead of PD alone: the model's actions, kept on the model's states",
                           {"action_mode": "feedforward"}),
    "pursuit": Variant("the plan's *path* followed by pure pursuit (PD onto the planned position 0.5 ahead of the "
                       "nearest planned point, `action_mode=pursuit`) instead of PD tracking of its states: the model "
                       "chooses the route, the tracker the speed", {"action_mode": "pursuit"}),
    "inverse": Variant("native actions: the learned inverse-dynamics head (`dfplan/inverse_dynamics.py`, fit on the "
                       "same data) maps the actual observation and the planned one 20 steps ahead to the action "
                       "(`action_mode=inverse`) instead of PD tracking: no gains, no tracker", {"action_mode": "inverse"}),
    "inverse+search": Variant("native actions (`inverse`) on plans found by search over partially denoised plans "
                              "(`dfplan/search.py`: 2 plans kept, 4 children each at DDIM rows 0 and 5 with guidance "
                              "scales 0–1, the learned cost ranking them)",
                              {"action_mode": "inverse", "search": {"width": 2, "branches": 4, "branch_points": 2}}),
    "inverse+pyramid": Variant("native actions (`inverse`) with the paper's long-horizon setting: plans over the "
                               "remaining episode (at most 30 tokens) on the pyramid scheduling matrix",
                               _change(EPISODE_END, {"action_mode": "inverse", "sampler": {"schedule": "pyramid"}})),
    "inverse+pyramid-mcg4": Variant("`inverse+pyramid` with Monte Carlo Guidance over 4 sampled futures",
                                    _change(EPISODE_END, {"action_mode": "inverse",
                                                          "sampler": {"schedule": "pyramid", "mcg_samples": 4}})),
    "inverse+episode-end": Variant("native actions (`inverse`) planning over the remaining episode (at most 30 "
                                   "tokens) with the full-sequence matrix: the reference for the two pyramid rows",
                                   _change(EPISODE_END, {"action_mode": "inverse"})),
    "inverse+tempo2": Variant("native actions (`inverse`) asked to reach the planned observation 20 steps ahead in 10 "
                              "(`inverse_tempo=2`): the plan's route at twice the plan's pace",
                              {"action_mode": "inverse", "inverse_tempo": 2.0}),
    "inverse+near3": Variant("native actions (`inverse`) with a 3× firmer guidance for an agent at its goal, fading "
                             "over 0.5 (`guidance_near=3`): the model never saw stopping (0.4 % of the data's steps "
                             "are slower than 0.3), so its plans orbit a goal that no wall stops them at",
                             {"action_mode": "inverse", "guidance_near": 3.0}),
    "eta0": Variant("deterministic DDIM (eta 0) instead of eta 1", {"sampler": {"eta": 0.0}}),
    "warm-start3": Variant("rolling replanning with 3 rows per replan (the unexecuted plan re-noised to DDIM step 3): "
                           "the latency lever", {"warm_start": 3}),
    "pd-gains20": Variant("stiffer tracking of the planned states: PD gains 20 / 2 instead of 10 / 1", {"kp": 20.0, "kd": 2.0}),
    "support10": Variant("guidance and ranking also penalize planned positions off the data's roadmap (further than "
                         "0.2 from its nearest node, e.g. through a wall; `support_weight=10`)", {"support_weight": 10.0}),
    "goal-hold": Variant("the shipped planner, plus the oracle's control law switched on by the known goal: within 0.5 "
                         "of it, PD onto the goal at rest instead of the plan (`goal_hold=0.5`); not DF, it measures "
                         "what holding costs", {"goal_hold": 0.5}),
    "paper-protocol": Variant("the shipped planner on the DF paper's evaluation protocol: episodes cut at 600 steps "
                              "(compare by raw return)", max_episode_steps=600, on_shipped=True),
    "horizon20": Variant("a fixed 20-token (200-step) receding horizon instead of the remaining episode: the shipped "
                         "setting since", {"max_horizon": 30}),
    # the earlier shipped planner (plans over the remaining episode), one option changed
    "episode-end": Variant("plans over the remaining episode (the paper's setting, at most 30 tokens = 300 steps) "
                           "instead of a fixed 20-token horizon; the shipped setting until the horizon rows; the rows "
                           "below change one option of it", EPISODE_END),
    "straight-line": Variant("guidance by straight-line goal distance (scale 0.3) instead of the learned cost-to-go",
                             STRAIGHT_LINE),
    "candidates4": Variant("4 plans sampled per replan, the one of lowest learned cost executed",
                           _change(EPISODE_END, {"candidates": 4})),
    "pyramid": Variant("pyramid scheduling matrix (near future certain, far future uncertain) instead of "
                       "full-sequence", _change(EPISODE_END, {"sampler": {"schedule": "pyramid"}})),
    "pyramid-mcg4": Variant("pyramid + Monte Carlo Guidance: the cost averaged over 4 sampled futures of every "
                            "still-noisy token",
                            _change(EPISODE_END, {"sampler": {"schedule": "pyramid", "mcg_samples": 4}})),
    "warm-start5": Variant("rolling replanning: the unexecuted plan kept, re-noised to DDIM step 5, 5 rows per replan "
                           "instead of 10", _change(EPISODE_END, {"warm_start": 5})),
    "no-guidance": Variant("no guidance at all: the model's unconditioned plans",
                           _change(STRAIGHT_LINE, {"guidance": "none"})),  # the scale is unused; as recorded
    "paper-sampler": Variant("the paper's sampler: a pyramid over the remaining episode with 50 DDIM steps",
                             PAPER_SAMPLER),
    # the straight-line planner of U-Maze, one option changed
    "straight-line+horizon20": Variant("the straight-line planner with a fixed 20-token horizon",
                                       {"guidance": "goal", "sampler": {"guidance_scale": 0.3}, "max_horizon": 30}),
    "straight-line+pyramid": Variant("the straight-line planner with the pyramid scheduling matrix",
                                     _change(STRAIGHT_LINE, {"sampler": {"schedule": "pyramid"}})),
    "straight-line+mcg4": Variant("the straight-line planner with Monte Carlo Guidance over 4 futures",
                                  _change(STRAIGHT_LINE, {"sampler": {"mcg_samples": 4}})),
    "straight-line+diffused-actions": Variant("the straight-line planner executing its diffused actions (DF's native "
                                              "mode) instead of PD tracking", _change(STRAIGHT_LINE, {"action_mode": "diffused"})),
    # retrained ablation models
    "frame-stack20": Variant("tokens of 20 env steps instead of 10 (retrained, same budget and 240-step window), plans "
                             "of at most 15 tokens over the remaining episode",
                             {"to_episode_end": True, "max_horizon": 15}, f"{VARIANT_CHECKPOINTS}/{{maze}}-fs20.pt"),
    "goal-conditioned": Variant("the goal-conditioned denoiser (retrained with hindsight goals, same budget) alone: no "
                                "guidance", _change(EPISODE_END, {"guidance": "none"}),
                                f"{VARIANT_CHECKPOINTS}/{{maze}}-gc.pt"),
    "goal-conditioned+learned": Variant("the goal-conditioned denoiser with the learned-cost guidance", EPISODE_END,
                                        f"{VARIANT_CHECKPOINTS}/{{maze}}-gc.pt"),
    "goal-conditioned+learned+horizon20": Variant("the goal-conditioned denoiser with the shipped planner (learned "
                                                  "cost, 20-token horizon)", {"to_episode_end": False, "max_horizon": 30},
                                                  f"{VARIANT_CHECKPOINTS}/{{maze}}-gc.pt"),
    "self-guided": Variant("DF on its own: the goal-conditioned denoiser with a reward channel (retrained with "
                           "hindsight goals and their sparse reward, `--goal-conditioned --goal-reward 0.5`, same "
                           "budget), guided by a bounded straight-line pull that fades beyond 0.7 of the goal "
                           "(`goal_reach=0.7`) plus the speed penalty near it, acting through the inverse-dynamics "
                           "head: no learned cost-to-go, no goal hold, no PD tracker", SELF_GUIDED,
                           f"{VARIANT_CHECKPOINTS}/{{maze}}-gcr.pt"),
    "self-guided+pd-near": Variant("`self-guided` tracking its plan's next state by PD within 0.5 of the goal "
                                   "(`pd_near=0.5`) instead of the inverse head: still no learned cost-to-go, no goal "
                                   "hold, no action that does not come from the model's plan",
                                   _change(SELF_GUIDED, {"pd_near": 0.5}), f"{VARIANT_CHECKPOINTS}/{{maze}}-gcr.pt"),
    "self-guided+pd-near+reward1": Variant("`self-guided+pd-near` whose guidance also rewards the model's own "
                                           "predicted return, Σ r̂ at weight 1 (`reward_weight=1`: DF's own value "
                                           "estimate beside the bounded goal pull)",
                                           _change(SELF_GUIDED, {"pd_near": 0.5, "reward_weight": 1.0}),
                                           f"{VARIANT_CHECKPOINTS}/{{maze}}-gcr.pt"),
    "self-guided+pd-near+value3": Variant("`self-guided+pd-near` on a model whose reward channel holds the hindsight "
                                          "goal's discounted value γ^(steps to arrival), γ = 0.995, goals up to 4 "
                                          "windows ahead (the Large self-guided model fine-tuned 6k steps at batch 64 "
                                          "with `--goal-value 0.995 --hindsight-reach 4`), its sum rewarded at weight 3 "
                                          "(`reward_weight=3`): DF's own dense value estimate, reaching past the plan's end",
                                          _change(SELF_GUIDED, {"pd_near": 0.5, "reward_weight": 3.0}),
                                          f"{VARIANT_CHECKPOINTS}/{{maze}}-gcv.pt"),
    "self-guided+reward": Variant("`self-guided` whose guidance and ranking also reward the model's own predicted "
                                  "return (`reward_weight=3`)", _change(SELF_GUIDED, {"reward_weight": 3.0}),
                                  f"{VARIANT_CHECKPOINTS}/{{maze}}-gcr.pt"),
    "reward-guided": Variant("the same model guided by its predicted return alone (`guidance=reward`, no goal "
                             "distance, no speed penalty), inverse-dynamics actions",
                             {"guidance": "reward", "velocity_weight": 0.0}, f"{VARIANT_CHECKPOINTS}/{{maze}}-gcr.pt"),
    "trained-longer": Variant("the shipped model trained on from its weights, the shipped planner settings of its "
                              "day: Medium 24k more steps at batch 128 (4× the windows seen in all, 99 more minutes "
                              "of CPU), Large 20k more at batch 64 (2.25×, 42 more minutes)",
                              {}, f"{VARIANT_CHECKPOINTS}/{{maze}}-ft.pt"),
    "dwell-data": Variant("the shipped planner on the shipped model fine-tuned on more than D4RL's data: 4k steps at "
                          "batch 64 on the maze's dataset plus a *dwelling* stream (`python -m envs.collect --dwell "
                          "100`: each reached goal held for 0-100 more steps; 150k / 300k / 600k steps on U-Maze / "
                          "Medium / Large), the U-Maze and Medium inverse heads refit on the same mix: a model that "
                          "has seen the agent stop", {},
                          f"{VARIANT_CHECKPOINTS}/{{maze}}-dwell.pt"),
    "rnn": Variant("the paper's GRU denoiser (width 128, same budget) with the shipped planner", {},
                   f"{VARIANT_CHECKPOINTS}/{{maze}}-rnn.pt"),
    "rnn-paper-sampler": Variant("the GRU denoiser with the paper's sampler", PAPER_SAMPLER,
                                 f"{VARIANT_CHECKPOINTS}/{{maze}}-rnn.pt"),
}
"""DF variants: no retraining unless ``checkpoint`` names a retrained model."""

LEVER_BASE: dict[str, Any] = {"action_mode": "pd", "guidance_near": 1.0, "replan_near": 0, "inverse_tempo": 1.0,
                              "tempo_fade": 0.0, "guidance_far": 1.0, "pd_near": 0.0, **PRE_REST}
"""The shipped settings the earlier lever rows were measured on: PD tracking, no extra pull, no
extra replanning and no faster approach at the goal. The shipped planners changed since (U-Maze
and Medium act through their inverse-dynamics heads, by PD tracking within 0.5 of the goal;
Medium pulls 3× firmer at its goal and approaches at twice its plan's pace; Medium and Large
impose the goal at rest after its estimated arrival with a lighter speed penalty), so a
variant that is not ``on_shipped`` keeps these unless it names them, and reproduces the
planner its row recorded."""

DF_VARIANTS = {name: variant if variant.checkpoint or variant.on_shipped
               else Variant(variant.legend, _change(LEVER_BASE, variant.overrides), variant.checkpoint,
                            variant.max_episode_steps)
               for name, variant in DF_VARIANTS.items()}

ROADMAP_VARIANTS: dict[str, Variant] = {
    "lookahead0.3": Variant("(roadmap) aiming 0.3 ahead instead of 0.5: the no-diffusion follower as first measured",
                            {"lookahead": 0.3}),
    "paper-protocol": Variant("(roadmap) on the DF paper's 600-step episodes", max_episode_steps=600),
}
"""Roadmap variants (:class:`agents.roadmap.RoadmapConfig` fields)."""
