"""How good is a learned cost-to-go? Checked against the maze's true shortest paths.

The cost-to-go (:mod:`dfplan.cost_to_go`) learns from the data alone; here the maze map —
privileged, used only to *grade* it, like the score — gives each free cell its true
breadth-first distance to a goal cell. Two numbers per maze, over every (cell, goal cell)
pair with the agent at rest at cell centres:

* ``rank_correlation``: Spearman correlation of learned steps with the true distances
  (straight-line distance is printed beside it as the reference a learned cost must beat);
* ``descent_rate``: the fraction of (cell, goal) pairs, goal not reached, whose neighbouring
  free cell with the lowest learned cost is one step closer to the goal — where greedy
  descent on the cost leads the right way round the walls. Straight-line distance's rate
  shows how often it leads into a dead end.

    python -m benchmarks.cost_check --cost dfplan/checkpoints/maze2d-medium-v1.cost.pt --env maze2d-medium-v1 --png cost.png
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path

import numpy as np
import torch

from dfplan.cost_to_go import CostToGo, load_cost_to_go
from envs.mazes import ENV_IDS, MazeSpec, get_env_spec

MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1))


def grid_distances(maze: MazeSpec, goal: tuple[int, int]) -> dict[tuple[int, int], int]:
    """Breadth-first distance in cells from every free cell to ``goal``."""
    dist = {goal: 0}
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nxt = (r + dr, c + dc)
            if maze.is_free(nxt) and nxt not in dist:
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def learned_cell_costs(model: CostToGo, maze: MazeSpec, obs_dim: int) -> np.ndarray:
    """``(cells, cells)`` learned steps from each free cell centre (at rest) to each free cell centre."""
    centres = torch.as_tensor(maze.cell_to_xy(np.array(maze.free_cells)), dtype=torch.float32)
    n = len(centres)
    obs = torch.zeros(n, n, obs_dim)
    obs[..., :2] = centres[None, :, :]  # row: one goal; column: one start
    with torch.no_grad():
        return model.steps(obs, centres[:, None, :]).numpy().T


def check(model: CostToGo, maze: MazeSpec) -> dict[str, float]:
    cells = list(maze.free_cells)
    index = {cell: i for i, cell in enumerate(cells)}
    learned = learned_cell_costs(model, maze, model.obs_dim)
    xy = maze.cell_to_xy(np.array(cells))
    straight = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    true, got, line = [], [], []
    right = {"learned": 0, "straight": 0}
    pairs = 0
    for g, goal in enumerate(cells):
        dist = grid_distances(maze, goal)
        for i, cell in enumerate(cells):
            true.append(dist[cell])
            got.append(learned[i, g])
            line.append(straight[i, g])
            if cell == goal:
                continue
            pairs += 1
            neighbours = [index[(cell[0] + dr, cell[1] + dc)] for dr, dc in MOVES if (cell[0] + dr, cell[1] + dc) in index]
            for name, table in (("learned", learned[:, g]), ("straight", straight[:, g])):
                best = min(neighbours, key=lambda j: table[j])
                right[name] += dist[cells[best]] < dist[cell]
    true_a = np.array(true)
    return {"rank_correlation": _spearman(np.array(got), true_a), "straight_rank_correlation": _spearman(np.array(line), true_a),
            "descent_rate": right["learned"] / pairs, "straight_descent_rate": right["straight"] / pairs, "pairs": pairs}


def render(model: CostToGo, maze: MazeSpec, path: str | Path, goal_cell: tuple[int, int] | None = None) -> Path:
    """A heat map of learned steps to ``goal_cell`` (default: the maze's D4RL goal) over the maze."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    goal_cell = goal_cell or maze.goal_cell
    half_w, half_h = maze.n_cols / 2, maze.n_rows / 2
    xs, ys = np.meshgrid(np.linspace(-half_w, half_w, 8 * maze.n_cols), np.linspace(-half_h, half_h, 8 * maze.n_rows))
    obs = torch.zeros(1, xs.size, model.obs_dim)
    obs[0, :, 0], obs[0, :, 1] = torch.as_tensor(xs.ravel()), torch.as_tensor(ys.ravel())
    goal = torch.as_tensor(maze.cell_to_xy(goal_cell), dtype=torch.float32)
    with torch.no_grad():
        steps = model.steps(obs, goal[None, None]).numpy().reshape(xs.shape)
    cells = maze.xy_to_cell(np.stack([xs, ys], -1))
    inside = (cells[..., 0] >= 0) & (cells[..., 0] < maze.n_rows) & (cells[..., 1] >= 0) & (cells[..., 1] < maze.n_cols)
    free = inside & ~maze.walls[np.clip(cells[..., 0], 0, maze.n_rows - 1), np.clip(cells[..., 1], 0, maze.n_cols - 1)]
    steps = np.where(free, steps, np.nan)  # colour free space only (walls are drawn on top)
    fig, ax = plt.subplots(figsize=(maze.n_cols * 0.6 + 1, maze.n_rows * 0.6))
    mesh = ax.pcolormesh(xs, ys, steps, shading="auto", cmap="viridis")
    for row, col in zip(*np.nonzero(maze.walls), strict=True):
        x, y = maze.cell_to_xy((row, col))
        ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, color="0.25"))
    ax.plot(*goal.numpy(), "r*", ms=14)
    ax.set_aspect("equal")
    ax.set_title(f"{maze.name}: learned steps to the goal")
    fig.colorbar(mesh, ax=ax)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_check", description=__doc__.splitlines()[0])
    parser.add_argument("--cost", required=True, help="cost-to-go file (python -m dfplan train-cost)")
    parser.add_argument("--env", required=True, help="maze env id whose map grades it")
    parser.add_argument("--png", help="also draw the learned steps to the maze's goal here")
    args = parser.parse_args(argv)
    try:
        model = load_cost_to_go(args.cost)
        maze = get_env_spec(args.env).maze
        trained = model.meta.get("data")  # an env id, or the .npz the cost was fitted on
        if trained in ENV_IDS and get_env_spec(trained).maze.name != maze.name:
            raise ValueError(f"{args.cost} was fitted on {trained}'s data, not on the {maze.name} maze of {args.env}")
        if args.png and Path(args.png).suffix.lower() not in (".png", ".pdf", ".svg", ".jpg"):
            raise ValueError(f"--png {args.png}: give a .png (or .pdf, .svg, .jpg) path")
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stats = check(model, maze)
    print(f"{args.env}: rank correlation {stats['rank_correlation']:.3f} (straight line {stats['straight_rank_correlation']:.3f}), "
          f"greedy descent right {stats['descent_rate']:.1%} (straight line {stats['straight_descent_rate']:.1%}) "
          f"over {stats['pairs']} (cell, goal) pairs")
    if args.png:
        print(f"picture: {render(model, maze, args.png)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
