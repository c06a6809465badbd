"""Headless rendering of the mazes: a matplotlib (Agg) PNG and a cheap numpy RGB frame renderer.

Neither needs a display, OpenGL or a GPU. Positions are PointMaze (x, y) in maze units.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from envs.mazes import MAZES, MazeSpec, get_env_spec

WALL_RGB = (60, 60, 70)
FREE_RGB = (235, 235, 225)
AGENT_RGB = (30, 90, 220)
GOAL_RGB = (220, 40, 40)


def _maze(maze: MazeSpec | str) -> MazeSpec:
    if isinstance(maze, MazeSpec):
        return maze
    return MAZES[maze] if maze in MAZES else get_env_spec(maze).maze


def render_png(
    maze: MazeSpec | str,
    path: str | Path,
    agent_xy: np.ndarray | None = None,
    goal_xy: np.ndarray | None = None,
    trajectory: np.ndarray | None = None,
    plan: np.ndarray | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Save a top-down picture of the maze as a PNG and return its path.

    Args:
        maze: a :class:`MazeSpec`, a maze name (``large``) or a suite env id.
        agent_xy: agent position (2,); drawn as a disc.
        goal_xy: goal position (2,); drawn as a star with its 0.5 success circle.
        trajectory: visited positions (T, 2) (or (T, >=2): the first two columns are used).
        plan: a planned path (H, 2) (or (H, >=2)), drawn dashed.
        title: figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    maze = _maze(maze)
    half_w, half_h = maze.n_cols * maze.scale / 2, maze.n_rows * maze.scale / 2
    fig = Figure(figsize=(maze.n_cols * 0.6 + 0.4, maze.n_rows * 0.6 + 0.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = np.where(maze.walls[..., None], np.array(WALL_RGB), np.array(FREE_RGB)).astype(np.uint8)
    ax.imshow(
        image, extent=(-half_w, half_w, -half_h, half_h), origin="upper", interpolation="nearest"
    )
    if trajectory is not None:
        xy = np.asarray(trajectory)[:, :2]
        ax.plot(xy[:, 0], xy[:, 1], color="tab:blue", lw=1.2, alpha=0.8, label="trajectory")
    if plan is not None:
        xy = np.asarray(plan)[:, :2]
        ax.plot(xy[:, 0], xy[:, 1], "--", color="tab:orange", lw=1.5, label="plan")
    if goal_xy is not None:
        gx, gy = np.asarray(goal_xy)[:2]
        ax.add_patch(Circle((gx, gy), 0.5, fill=False, ls=":", color="tab:red"))
        ax.plot([gx], [gy], "*", color="tab:red", ms=14, label="goal")
    if agent_xy is not None:
        px, py = np.asarray(agent_xy)[:2]
        ax.add_patch(Circle((px, py), 0.1 * maze.scale, color="tab:blue", zorder=5))
    if trajectory is not None or plan is not None:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    ax.set_xlim(-half_w, half_w)
    ax.set_ylim(-half_h, half_h)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


@lru_cache(maxsize=32)
def _pixel_grid(maze: MazeSpec, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre positions (size, size, 2) and the wall background (size, size, 3) uint8.

    The frame is a square of side max(n_rows, n_cols) cells centred on the maze; area
    outside the maze is drawn as wall.
    """
    side = max(maze.n_rows, maze.n_cols) * maze.scale
    centres = (np.arange(size) + 0.5) / size * side - side / 2
    x, y = np.meshgrid(centres, -centres)  # row i of the image is y = -centres[i]
    xy = np.stack([x, y], axis=-1)
    cells = maze.xy_to_cell(xy)
    inside = (
        (cells[..., 0] >= 0)
        & (cells[..., 0] < maze.n_rows)
        & (cells[..., 1] >= 0)
        & (cells[..., 1] < maze.n_cols)
    )
    wall = ~inside
    wall[inside] = maze.walls[cells[inside][:, 0], cells[inside][:, 1]]
    background = np.where(wall[..., None], np.array(WALL_RGB), np.array(FREE_RGB)).astype(np.uint8)
    background.flags.writeable = False
    xy.flags.writeable = False
    return xy, background


def frame_geometry(maze: MazeSpec | str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`render_frames` draws on: pixel-centre positions (size, size, 2) float64 in maze
    units and the empty maze (size, size, 3) uint8 (writable copies)."""
    xy, background = _pixel_grid(_maze(maze), size)
    return xy.copy(), background.copy()


def render_frames(
    maze: MazeSpec | str,
    positions: np.ndarray,
    goals: np.ndarray | None = None,
    size: int = 48,
    agent_radius: float = 0.3,
    goal_radius: float = 0.25,
) -> np.ndarray:
    """Small top-down RGB frames: walls, goal disc (optional) and agent disc.

    Args:
        maze: a :class:`MazeSpec`, a maze name or a suite env id.
        positions: agent positions (T, 2) or one position (2,) (extra columns ignored).
        goals: goal positions, same leading shape as ``positions``, or (2,) for all frames.
        size: frame side in pixels.
        agent_radius, goal_radius: disc radii in cells (larger than the physical 0.1 so
            the blob stays visible at 32–48 px; world units are these × ``maze.scale``).

    Returns:
        uint8 frames (T, size, size, 3), or (size, size, 3) for a single position.
    """
    maze = _maze(maze)
    xy, background = _pixel_grid(maze, size)
    positions = np.asarray(positions, dtype=np.float64)
    single = positions.ndim == 1
    positions = np.atleast_2d(positions)[:, :2]
    frames = np.repeat(background[None], len(positions), axis=0)
    if goals is not None:
        goals = np.broadcast_to(np.asarray(goals, dtype=np.float64)[..., :2], positions.shape)
        near_goal = np.linalg.norm(xy[None] - goals[:, None, None], axis=-1) <= goal_radius * maze.scale
        frames[near_goal] = GOAL_RGB
    near_agent = np.linalg.norm(xy[None] - positions[:, None, None], axis=-1) <= agent_radius * maze.scale
    frames[near_agent] = AGENT_RGB
    return frames[0] if single else frames


def render_gif(env_id: str, path: str | Path, positions: np.ndarray, goal: np.ndarray | None = None,
               fps: int = 20, size: int = 96) -> Path:
    """An episode GIF from positions ``(T, 2)`` (every second one drawn) with the frame renderer."""
    from matplotlib import animation
    from matplotlib.figure import Figure

    from dfplan.files import atomic_write

    frames = render_frames(env_id, np.asarray(positions)[::2], goals=goal, size=size)
    fig = Figure(figsize=(3, 3))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    image = ax.imshow(frames[0])
    anim = animation.FuncAnimation(fig, lambda i: [image.set_data(frames[i])], frames=len(frames))
    return atomic_write(path, lambda tmp: anim.save(tmp, writer=animation.PillowWriter(fps=fps)))
