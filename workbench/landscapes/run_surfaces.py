"""Reward surfaces of a run's policy, computed from its latest checkpoint and stored with it.

The surface is the return of the environment's own reward (not an edited one) around the
checkpoint's policy parameters, over two directions: filter-normalised random ones
(:func:`workbench.landscapes.surfaces.surface_2d`, Sullivan et al.'s picture), or the first
two PCA directions of the run's checkpoints (Li et al.'s), in whose plane the training
trajectory lies and is drawn. It is stored as the run's snapshot ``surface`` at the
checkpoint's step: the arrays of :meth:`SurfaceResult.to_dict`, ``magnitude``,
``directions`` (``random`` or ``pca``) and, for PCA, ``trajectory`` (the checkpoints' (a, b),
oldest first) with ``explained_variance``. ``workbench surface RUN_ID`` and the Landscapes
page both come here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from workbench.landscapes.surfaces import (
    PointCallback,
    SurfaceResult,
    evaluate_grid,
    gradient_line,
    grid_axis,
    pca_directions,
    policy_parameters,
    project_trajectory,
    surface_2d,
)
from workbench.runs import RunStore
from workbench.runs.store import CheckpointError
from workbench.runs.trainer import resolve_trainer
from workbench.trainers.sb3 import SB3Config, SB3Trainer, build_model, env_kwargs

SURFACE_SNAPSHOT = "surface"
GRADIENT_LINE_SNAPSHOT = "gradient_line"


def policy_of_run(store: RunStore, run_id: str) -> tuple[BaseAlgorithm, SB3Config, int]:
    """The SB3 model of a run's latest good checkpoint, its config, and the checkpoint's
    step. A ValueError names what is missing (not an SB3 run, no checkpoint yet)."""
    record = store.get_run(run_id)
    trainer = resolve_trainer(record.trainer, run_id)
    # Curriculum runs change the observation (goals, gaps, levels): their policies are not
    # build_model's.
    if not issubclass(trainer, SB3Trainer) or record.trainer == "curriculum":
        raise ValueError(
            f"run {run_id} is a {record.trainer!r} run; reward surfaces take the policies of "
            "'sb3' and 'reward' runs"
        )
    config = trainer.Config.from_dict(record.config)
    found = store.latest_good_checkpoint(run_id)
    if found is None:
        raise ValueError(
            f"run {run_id} has no checkpoint yet: press Checkpoint (or wait for checkpoint_every)"
        )
    step, state, _ = found
    model = build_model(config.changed(n_envs=1, device="cpu"))
    model.set_parameters(dict(state["trainer"]["parameters"]), exact_match=True, device="cpu")
    return model, config, step


def run_surface(
    store: RunStore,
    run_id: str,
    grid: int = 11,
    magnitude: float = 1.0,
    episodes: int = 4,
    seed: int = 0,
    on_point: PointCallback | None = None,
    directions: str = "random",
    on_plane: Callable[[float, np.ndarray | None], None] | None = None,
) -> tuple[SurfaceResult, int]:
    """Compute the surface around the run's latest checkpoint, store it as the run's
    ``surface`` snapshot at the checkpoint's step, and return it with that step.

    ``directions="pca"`` spans the plane of the run's checkpoints (at least 3); there
    ``magnitude`` is a multiple of the trajectory's extent (1.0: the farthest checkpoint
    at the grid's edge), not a length in parameter space. ``on_plane(magnitude,
    trajectory)`` is called before the first point, with the grid's extent along each
    direction and the trajectory's (a, b) (None for random directions)."""
    if grid < 3 or grid % 2 == 0:
        raise ValueError(
            f"grid must be odd and at least 3 (its middle point is the policy itself), got {grid}"
        )
    _check_episodes_and_magnitude(episodes, magnitude)
    if directions not in ("random", "pca"):
        raise ValueError(f"directions must be 'random' or 'pca', got {directions!r}")
    model, config, step = policy_of_run(store, run_id)
    extra: dict[str, Any] = {"directions": directions}
    if directions == "random":
        if on_plane is not None:
            on_plane(magnitude, None)
        result = surface_2d(
            model, config.env_id, grid=grid, magnitude=magnitude, episodes=episodes, seed=seed,
            env_kwargs=env_kwargs(config), on_point=on_point,
        )  # fmt: skip
    else:
        checkpoints = checkpoint_policies(store, run_id)
        if len(checkpoints) < 3:
            raise ValueError(
                f"run {run_id} has {len(checkpoints)} checkpoint(s); the PCA plane of a "
                "trajectory needs at least 3"
            )
        centre = policy_parameters(model)
        trajectory, explained = project_trajectory(checkpoints, centre)
        planes, _ = pca_directions(checkpoints, centre)
        # Grid coordinates in units of the trajectory's extent: its farthest checkpoint
        # sits at magnitude 1.
        extent = float(np.abs(trajectory).max()) or 1.0
        magnitude = magnitude * extent
        if on_plane is not None:
            on_plane(magnitude, trajectory)
        axis = grid_axis(grid, magnitude)
        coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        result = evaluate_grid(
            model, config.env_id, planes, coords, episodes, seed, on_point=on_point,
            env_kwargs=env_kwargs(config),
        )  # fmt: skip
        result.grid_shape, result.kind = (grid, grid), "surface"
        extra.update(trajectory=trajectory, explained_variance=explained)
    store.add_snapshot(
        run_id, step, SURFACE_SNAPSHOT, {**result.to_dict(), "magnitude": magnitude, **extra}
    )
    return result, step


def _check_episodes_and_magnitude(episodes: int, magnitude: float) -> None:
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if not magnitude > 0:
        raise ValueError(f"magnitude must be positive, got {magnitude}")


def checkpoint_policies(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """The policy parameters of each of the run's checkpoints that loads, oldest first."""
    policies = []
    for _, path in store.checkpoints(run_id):
        try:
            state = store.load_checkpoint(path)
        except CheckpointError:  # a damaged checkpoint: left out of the trajectory
            continue
        policies.append(dict(state["trainer"]["parameters"]["policy"]))
    return policies


def run_gradient_line(
    store: RunStore,
    run_id: str,
    points: int = 20,
    magnitude: float = 0.4,
    episodes: int = 8,
    seed: int = 0,
    on_point: PointCallback | None = None,
) -> tuple[SurfaceResult, int]:
    """The return along the normalised policy gradient of the run's latest checkpoint
    (Sullivan et al.'s line: 20 points up to 0.4), stored as its ``gradient_line``
    snapshot at the checkpoint's step."""
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    _check_episodes_and_magnitude(episodes, magnitude)
    model, config, step = policy_of_run(store, run_id)
    result = gradient_line(
        model, config.env_id, points=points, magnitude=magnitude, episodes=episodes,
        seed=seed, env_kwargs=env_kwargs(config), on_point=on_point,
    )  # fmt: skip
    store.add_snapshot(
        run_id, step, GRADIENT_LINE_SNAPSHOT, {**result.to_dict(), "magnitude": magnitude}
    )
    return result, step


def stored_surface(
    store: RunStore, run_id: str
) -> tuple[SurfaceResult, float, int, np.ndarray | None] | None:
    """The run's latest stored surface, its magnitude, step and (PCA plane) trajectory;
    None when there is none."""
    rows = store.snapshots(run_id, SURFACE_SNAPSHOT)
    if not rows:
        return None
    step = rows[-1][1]
    values = store.load_snapshot(run_id, SURFACE_SNAPSHOT, step)
    trajectory = values.get("trajectory")
    return SurfaceResult.from_dict(values), float(values["magnitude"]), step, trajectory
