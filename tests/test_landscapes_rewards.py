"""The reward editor's engine: the safe expression language refuses everything outside its
whitelist and evaluates the rest vectorized; reward specs give hand-computed values, combine
linearly, round-trip through plain data; the wrapper rewards with the spec in force."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import environments  # noqa: F401  (registers the workbench environments)
from workbench.landscapes import expressions as expressions_module
from workbench.landscapes.expressions import ExpressionError, parse_expression
from workbench.landscapes.rewards import (
    NAMED_VARIABLES,
    EditableReward,
    RewardError,
    RewardSpec,
    TransitionBatch,
)

VARIABLES = ("x", "y", "dx")
X = np.array([0.0, 1.0, 4.0])
Y = np.array([1.0, 2.0, -3.0])
ENV = {"x": X, "y": Y, "dx": np.zeros(3)}


def evaluate(text: str) -> np.ndarray:
    return parse_expression(text, VARIABLES)(ENV)


# ---- Expressions: refused ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("x.__class__", "attribute access is not allowed: 'x.__class__'"),
        ("sqrt(x).real", "attribute access"),
        ("x[0]", "subscripts (indexing) are not allowed: 'x[0]'"),
        ("import os", "imports are not allowed, only an expression: 'import os'"),
        ("from os import path", "imports are not allowed"),
        ("open('x')", "function 'open' is not allowed"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("np.sqrt(x)", "attribute access is not allowed: 'np.sqrt'"),
        ("(lambda: 1)()", "lambda functions are not allowed"),
        ("[x for x in y]", "comprehensions are not allowed"),
        ("norm(x for x in y)", "generator expressions are not allowed"),
        ("'abc'", "strings are not allowed"),
        ("b'abc'", "bytes are not allowed"),
        ("f'{x}'", "f-strings are not allowed"),
        ("clip(x, lo=0, hi=1)", "keyword arguments are not allowed: 'clip(x, lo=0, hi=1)'"),
        ("(y := 1)", "assignment expressions (:=) are not allowed"),
        ("norm(*x)", "starred arguments"),
        ("z + 1", "unknown variable 'z'; allowed: x, y, dx"),
        ("__builtins__", "unknown variable '__builtins__'"),
        ("sqrt", "function 'sqrt' must be called, as in sqrt(x)"),
        ("clip(x, 1)", "clip takes clip(x, lo, hi), got 2 arguments: 'clip(x, 1)'"),
        ("x @ y", "operator '@' is not allowed"),
        ("~x", "operator '~' is not allowed"),
        ("x is y", "comparison 'is' is not allowed"),
        ("(x, y)", "tuples are not allowed"),
        ("1j", "complex numbers are not allowed"),
        ("None", "None is not allowed"),
        ("x = 1", "assignments are not allowed"),
        ("x; y", "only one expression is allowed"),
        ("x +* 2", "syntax error at column"),
        ("sqrt(x", "syntax error"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("x+" * 250 + "x", "expression too long: 501 characters, at most 500"),
        ("-" * 60 + "x", "expression nested too deeply: depth 61, at most 50"),
        ("norm(" + ",".join(["x"] * 201) + ")", "expression too large: 203 parts, at most 200"),
    ],
)
def test_refused_expressions_name_the_problem(text: str, named: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text, VARIABLES)
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_the_expression_module_never_evaluates_text() -> None:
    source = Path(expressions_module.__file__).read_text()
    assert not re.search(r"\b(eval|exec|compile)\s*\(", source)


# ---- Expressions: evaluated --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + 2 * y", [2.0, 5.0, -2.0]),
        ("-x + +y", [1.0, 1.0, -7.0]),
        ("x ** 2 % 3", [0.0, 1.0, 1.0]),
        ("x // 3 - y / 2", [-0.5, -1.0, 2.5]),
        ("sqrt(x) + abs(y)", [1.0, 3.0, 5.0]),
        ("where(x > 0, x, -1)", [-1.0, 1.0, 4.0]),
        ("clip(x, 0.5, 2)", [0.5, 1.0, 2.0]),
        ("norm(x, y)", [1.0, np.sqrt(5.0), 5.0]),
        ("hypot(x, y)", [1.0, np.sqrt(5.0), 5.0]),
        ("norm(y)", [1.0, 2.0, 3.0]),
        ("minimum(x, y) + maximum(x, y)", [1.0, 3.0, 1.0]),
        ("0 < x < 3", [0.0, 1.0, 0.0]),
        ("x >= 1 != y", [0.0, 1.0, 1.0]),
        ("x if y > 0 else -x", [0.0, 1.0, -4.0]),
        ("x > 0 and y > 0", [0.0, 1.0, 0.0]),
        ("x or y", [1.0, 1.0, 1.0]),
        ("not x", [1.0, 0.0, 0.0]),
        ("(x > 0) + (y > 0)", [1.0, 2.0, 1.0]),
        ("exp(0 * x) + log(1 + 0 * y) + tanh(0) + sin(0) + cos(0)", [2.0, 2.0, 2.0]),
        ("2", [2.0, 2.0, 2.0]),
        ("True + 1e-1", [1.1, 1.1, 1.1]),
        ("cos(pi)", [-1.0, -1.0, -1.0]),
        ("  x  ", [0.0, 1.0, 4.0]),
    ],
)
def test_allowed_expressions_evaluate_vectorized(text: str, expected: list[float]) -> None:
    result = evaluate(text)
    assert result.dtype == np.float64
    assert result.shape == (3,)
    np.testing.assert_allclose(result, expected)


def test_invalid_numbers_are_left_to_the_caller_without_warnings() -> None:
    np.testing.assert_array_equal(evaluate("x / 0"), [np.nan, np.inf, np.inf])
    np.testing.assert_allclose(evaluate("log(x - 1)"), [np.nan, -np.inf, np.log(3.0)])
    assert np.all(np.isinf(evaluate("exp(1000 * y) + 10 ** 400")))


def test_an_expression_knows_its_text_and_variables() -> None:
    expression = parse_expression(" y + x * y ", VARIABLES)
    assert expression.text == "y + x * y"
    assert expression.variables == ("y", "x")
    with pytest.raises(ExpressionError, match="no value for variable 'x'"):
        expression({"y": Y})


# ---- Reward terms and specs --------------------------------------------------------------

OBS = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 2.0]])
ACTIONS = np.array([[0.1, 0.2], [-0.2, 0.0], [0.0, 0.0]])
NEXT_OBS = np.array([[0.1, 0.2], [0.8, 2.0], [2.0, 2.0]])
GOAL = (2.0, 2.0)


def rewards(**spec_arguments) -> np.ndarray:
    return RewardSpec(**spec_arguments).evaluate(OBS, ACTIONS, NEXT_OBS)


def test_terms_give_hand_computed_values() -> None:
    np.testing.assert_allclose(rewards(weights={"progress": 1.0}), [0.1, -0.2, 0.0])
    np.testing.assert_allclose(rewards(weights={"progress": 1.0}, axis=1), [0.2, 0.0, 0.0])
    np.testing.assert_allclose(
        rewards(weights={"goal_distance": 1.0}, goal=GOAL), [-np.hypot(1.9, 1.8), -1.2, 0.0]
    )
    np.testing.assert_allclose(rewards(weights={"control_cost": 1.0}), [-0.05, -0.04, 0.0])
    np.testing.assert_allclose(
        rewards(weights={"region": 1.0}, region_box=(0, 0, 1, 1)), [1.0, 0.0, 0.0]
    )
    np.testing.assert_allclose(
        rewards(weights={"region": -2.0}, region_box=(0.5, 1.5, 3, 3)), [0.0, -2.0, -2.0]
    )
    np.testing.assert_allclose(
        rewards(weights={"success": 1.0}, goal=GOAL, radius=1.25), [0.0, 1.0, 1.0]
    )
    np.testing.assert_allclose(rewards(weights={"success": 1.0}, goal=GOAL), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(rewards(weights={"time": 0.5}), [-0.5, -0.5, -0.5])


def test_variables_give_hand_computed_values() -> None:
    batch = TransitionBatch.of(OBS, ACTIONS, NEXT_OBS, GOAL)
    expected = {
        "x": [0.0, 1.0, 2.0],
        "y": [0.0, 2.0, 2.0],
        "next_x": [0.1, 0.8, 2.0],
        "next_y": [0.2, 2.0, 2.0],
        "dx": [0.1, -0.2, 0.0],
        "dy": [0.2, 0.0, 0.0],
        "ax": [0.1, -0.2, 0.0],
        "ay": [0.2, 0.0, 0.0],
        "goal_x": [2.0, 2.0, 2.0],
        "goal_y": [2.0, 2.0, 2.0],
        "dist": [np.hypot(1.9, 1.8), 1.2, 0.0],
        "speed": [np.hypot(0.1, 0.2), 0.2, 0.0],
        "o1": [0.0, 2.0, 2.0],
        "next_o0": [0.1, 0.8, 2.0],
        "a1": [0.2, 0.0, 0.0],
    }
    assert set(NAMED_VARIABLES) <= set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(batch.variable(name), values, err_msg=name)
        from_expression = rewards(expressions=[(name, 1.0)], goal=GOAL)
        np.testing.assert_allclose(from_expression, values, err_msg=name)


def test_weights_combine_linearly() -> None:
    progress = rewards(weights={"progress": 1.0})
    control = rewards(weights={"control_cost": 1.0})
    formula = rewards(expressions=[("where(dist < 1.5, 1, 0) - speed", 1.0)], goal=GOAL)
    np.testing.assert_allclose(
        formula, [0.0 - np.hypot(0.1, 0.2), 1.0 - 0.2, 1.0], err_msg="formula alone"
    )
    combined = rewards(
        weights={"progress": 2.0, "control_cost": -0.5},
        expressions=[("where(dist < 1.5, 1, 0) - speed", 0.25)],
        goal=GOAL,
    )
    np.testing.assert_allclose(combined, 2.0 * progress - 0.5 * control + 0.25 * formula)
    assert rewards(weights={"progress": 0.0, "time": 0.0}).tolist() == [0.0, 0.0, 0.0]


def test_a_non_finite_reward_names_its_expression() -> None:
    with pytest.raises(RewardError, match=r"expression 'log\(x\)' is not finite .* transition 0"):
        rewards(expressions=[("log(x)", 1.0)])
    with pytest.raises(RewardError, match="the total reward is not finite"):
        rewards(expressions=[("1e300 * (1 + x)", 1e300)])


def test_what_needs_a_goal_or_a_coordinate_says_so() -> None:
    with pytest.raises(RewardError, match="term 'goal_distance' needs a goal"):
        rewards(weights={"goal_distance": 1.0})
    with pytest.raises(RewardError, match="expression 'dist': variable 'dist' needs a goal"):
        rewards(expressions=[("dist", 1.0)])
    with pytest.raises(RewardError, match="variable 'o5' needs observation coordinate 5"):
        rewards(expressions=[("o5", 1.0)])
    with pytest.raises(RewardError, match="term 'progress' needs observation coordinate 3"):
        rewards(weights={"progress": 1.0}, axis=3)
    # A goal passed to evaluate serves when the spec has none; the spec's own wins.
    spec = RewardSpec(weights={"goal_distance": 1.0})
    np.testing.assert_allclose(spec.evaluate(OBS, ACTIONS, NEXT_OBS, goal=[0.8, 2.0])[1], 0.0)
    own = RewardSpec(weights={"goal_distance": 1.0}, goal=GOAL)
    np.testing.assert_allclose(own.evaluate(OBS, ACTIONS, NEXT_OBS, goal=[0.8, 2.0])[2], 0.0)


def test_a_malformed_spec_raises_at_construction() -> None:
    with pytest.raises(ExpressionError, match="unknown variable 'velocity'"):
        RewardSpec(expressions=[("velocity * 2", 1.0)])
    with pytest.raises(ExpressionError, match="function 'open' is not allowed"):
        RewardSpec(expressions=[("open('x')", 1.0)])
    with pytest.raises(RewardError, match="unknown term 'speed'; terms: progress"):
        RewardSpec(weights={"speed": 1.0})
    with pytest.raises(RewardError, match="term 'region' needs region_box"):
        RewardSpec(weights={"region": 1.0})
    with pytest.raises(RewardError, match="weight of term 'time' must be finite"):
        RewardSpec(weights={"time": float("nan")})
    with pytest.raises(RewardError, match="radius must be positive"):
        RewardSpec(radius=0.0)
    with pytest.raises(RewardError, match="needs x0 <= x1"):
        RewardSpec(region_box=(1, 0, 0, 1))
    with pytest.raises(RewardError, match="goal must be two finite numbers"):
        RewardSpec(goal=(1.0, "a"))  # type: ignore[arg-type]


def test_specs_round_trip_through_plain_data() -> None:
    spec = RewardSpec(
        weights={"progress": 1.0, "region": -2.0, "success": 10.0},
        expressions=[("sqrt(dx**2)", 0.5), ("a0 * o1", -1.0)],
        goal=(3.5, 1.5),
        axis=1,
        region_box=(0, 0, 1.5, 2),
        radius=0.25,
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert RewardSpec.from_dict(data) == spec
    assert RewardSpec.from_dict({}) == RewardSpec()
    assert RewardSpec.from_dict({"expressions": ["dx", ["dy", 2]]}).expressions == (
        ("dx", 1.0),
        ("dy", 2.0),
    )
    with pytest.raises(RewardError, match="unknown reward spec key 'wieghts'"):
        RewardSpec.from_dict({"wieghts": {}})


def test_describe_writes_a_one_line_formula() -> None:
    spec = RewardSpec(
        weights={"progress": 1.0, "control_cost": -0.1, "time": 0.0},
        expressions=[("sqrt(dx**2)", 0.5)],
    )
    assert spec.describe() == (
        "1.0\u00b7progress(x) \u2212 0.1\u00b7control_cost + 0.5\u00b7(sqrt(dx**2))"
    )
    assert RewardSpec().describe() == "0"
    assert RewardSpec(weights={"time": -1.0}).describe() == "\u22121.0\u00b7time"


# ---- The wrapper --------------------------------------------------------------------------


def test_the_wrapper_rewards_with_the_spec_in_force() -> None:
    env = gym.make("workbench/PointMaze-UMaze-v0", reward_mode="dense")
    dense = RewardSpec(weights={"goal_distance": 1.0})
    wrapped = EditableReward(env, dense)
    obs, _ = wrapped.reset(seed=0)
    goal = env.unwrapped.goal
    action = np.array([0.15, -0.1], dtype=np.float32)

    next_obs, reward, _, _, info = wrapped.step(action)
    expected = dense.evaluate(obs[None], action[None], next_obs[None], goal=goal)[0]
    assert reward == pytest.approx(expected)
    # goal_distance is the dense mode's reward, up to the float32 observation.
    assert reward == pytest.approx(info["env_reward"], abs=1e-5)

    shaped = RewardSpec(weights={"progress": 1.0, "time": 0.1}, expressions=[("dist", 2.0)])
    wrapped.set_spec(shaped)
    assert wrapped.reward_spec is shaped
    obs = next_obs
    next_obs, reward, _, _, info = wrapped.step(action)
    expected = shaped.evaluate(obs[None], action[None], next_obs[None], goal=goal)[0]
    assert reward == pytest.approx(expected)
    assert info["env_reward"] == pytest.approx(-np.linalg.norm(next_obs - goal), abs=1e-5)
    assert reward != pytest.approx(info["env_reward"])
    env.close()


def test_the_wrapper_needs_a_reset_and_a_spec() -> None:
    env = gym.make("workbench/PointMaze-UMaze-v0")
    wrapped = EditableReward(env, RewardSpec(weights={"time": 1.0}))
    with pytest.raises(RuntimeError, match="call reset before step"):
        wrapped.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match="expected a RewardSpec"):
        wrapped.set_spec({"weights": {}})  # type: ignore[arg-type]
    env.close()
