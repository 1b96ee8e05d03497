"""Reward surfaces of a run's policy, computed from its latest checkpoint and stored with it.

The surface is the return of the environment's own reward (not an edited one) around the
checkpoint's policy parameters, over two filter-normalised random directions
(:func:`workbench.landscapes.surfaces.surface_2d`). It is stored as the run's snapshot
``surface`` at the checkpoint's step: the arrays of :meth:`SurfaceResult.to_dict` plus
``magnitude``. ``workbench surface RUN_ID`` and the Landscapes page both come here.
"""

from __future__ import annotations

from stable_baselines3.common.base_class import BaseAlgorithm

from workbench.landscapes.surfaces import PointCallback, SurfaceResult, gradient_line, surface_2d
from workbench.runs import RunStore
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
) -> tuple[SurfaceResult, int]:
    """Compute the surface around the run's latest checkpoint, store it as the run's
    ``surface`` snapshot at the checkpoint's step, and return it with that step."""
    if grid < 2:
        raise ValueError(f"grid must be at least 2 points per axis, got {grid}")
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if not magnitude > 0:
        raise ValueError(f"magnitude must be positive, got {magnitude}")
    model, config, step = policy_of_run(store, run_id)
    result = surface_2d(
        model, config.env_id, grid=grid, magnitude=magnitude, episodes=episodes, seed=seed,
        env_kwargs=env_kwargs(config), on_point=on_point,
    )  # fmt: skip
    store.add_snapshot(run_id, step, SURFACE_SNAPSHOT, {**result.to_dict(), "magnitude": magnitude})
    return result, step


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
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if not magnitude > 0:
        raise ValueError(f"magnitude must be positive, got {magnitude}")
    model, config, step = policy_of_run(store, run_id)
    result = gradient_line(
        model, config.env_id, points=points, magnitude=magnitude, episodes=episodes,
        seed=seed, env_kwargs=env_kwargs(config), on_point=on_point,
    )  # fmt: skip
    store.add_snapshot(
        run_id, step, GRADIENT_LINE_SNAPSHOT, {**result.to_dict(), "magnitude": magnitude}
    )
    return result, step


def stored_surface(store: RunStore, run_id: str) -> tuple[SurfaceResult, float, int] | None:
    """The run's latest stored surface, its magnitude and step; None when there is none."""
    rows = store.snapshots(run_id, SURFACE_SNAPSHOT)
    if not rows:
        return None
    step = rows[-1][1]
    values = store.load_snapshot(run_id, SURFACE_SNAPSHOT, step)
    return SurfaceResult.from_dict(values), float(values["magnitude"]), step
