"""Offline datasets: behaviours, the Minari round trip, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from environments.maze import get_layout
from workbench.datasets import DatasetError, build_dataset, collect, list_datasets, load_dataset

FOUR_ROOMS = "workbench/PointMaze-FourRooms-v0"


def cells(observations: np.ndarray) -> int:
    return len(np.unique(np.floor(observations.reshape(-1, 2)).astype(int), axis=0))


def test_behaviours_stay_in_the_maze_and_explore_in_order_random_momentum_play():
    maze = get_layout("four_rooms")
    covered = {}
    for behaviour in ("random", "momentum", "play"):
        observations, actions = collect(FOUR_ROOMS, behaviour, episodes=20, episode_steps=300)
        assert observations.shape == (20, 301, 2) and actions.shape == (20, 300, 2)
        assert maze.is_free(observations.reshape(-1, 2)).all()
        assert np.abs(actions).max() <= 0.2 + 1e-6
        covered[behaviour] = cells(observations)
    assert covered["random"] < covered["momentum"] <= covered["play"] + 5, covered
    assert covered["play"] > 0.8 * int(maze.free.sum()), covered


def test_a_built_dataset_loads_back_as_the_same_transitions(tmp_path):
    folder = build_dataset(
        "fr-play", FOUR_ROOMS, "play", episodes=3, episode_steps=50, seed=7, home=tmp_path
    )
    assert folder == tmp_path / "datasets" / "workbench" / "fr-play-v0"
    assert list_datasets(tmp_path) == ["workbench/fr-play-v0"]
    data = load_dataset("fr-play", home=tmp_path)
    observations, actions = collect(FOUR_ROOMS, "play", episodes=3, episode_steps=50, seed=7)
    assert data.env_id == FOUR_ROOMS and len(data) == 150
    assert np.array_equal(data.observations, observations[:, :-1].reshape(-1, 2))
    assert np.array_equal(data.next_observations, observations[:, 1:].reshape(-1, 2))
    assert np.array_equal(data.actions, actions.reshape(-1, 2))
    assert np.array_equal(
        data.states[data.final_index[:50]], np.repeat(observations[0, -1:], 50, 0)
    )
    with pytest.raises(DatasetError, match="already exists"):
        build_dataset("fr-play", FOUR_ROOMS, "play", episodes=3, episode_steps=50, home=tmp_path)


def test_a_truncated_dataset_gives_a_clear_error_naming_it(tmp_path):
    folder = build_dataset("cut", FOUR_ROOMS, "random", episodes=2, episode_steps=20, home=tmp_path)
    part = next(folder.rglob("*.arrow"))
    part.write_bytes(part.read_bytes()[:40])
    with pytest.raises(DatasetError, match=r"'workbench/cut-v0'.*cannot be read.*rebuild"):
        load_dataset("cut", home=tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda home: load_dataset("nothing-here", home=home), "no dataset 'workbench/nothing-here-v0'"),
        (lambda home: build_dataset("x", FOUR_ROOMS, "teleport", home=home), "unknown behaviour 'teleport'"),
        (lambda home: build_dataset("x", "workbench/Nope-v0", "play", home=home), "unknown environment"),
        (lambda home: build_dataset("x", "workbench/Plane-v0", "play", episodes=2, home=home), "needs a maze"),
        (lambda home: build_dataset("bad name!", FOUR_ROOMS, "play", home=home), "not valid"),
    ],
)  # fmt: skip
def test_bad_requests_name_what_was_wrong(tmp_path, call, message):
    with pytest.raises((DatasetError, ValueError), match=message):
        call(tmp_path)
