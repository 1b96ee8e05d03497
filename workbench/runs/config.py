"""Configs: every knob of a trainer declared once, as a ``param`` parameter.

A knob has bounds (or a list of objects), a docstring, and a flag in its ``metadata``:
*hot* knobs are applied at the next update boundary of a running run (learning rates,
coefficients, discount); *structural* knobs need a new run (network width, environment).
The objective panel in the UI, the CLI and the API all validate through this class, so an
out-of-range value is refused with the same message everywhere.

    class MyConfig(Config):
        learning_rate = param.Number(3e-4, bounds=(1e-6, 1.0), doc="Adam step size.", metadata=HOT)
        width = param.Integer(64, bounds=(1, 4096), doc="Hidden units per layer.")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import param

HOT: dict[str, Any] = {"hot": True}


class KnobError(ValueError):
    """A knob change that is refused, with the reason."""


class Config(param.Parameterized):
    """Base of all trainer configs. Knobs are the parameters other than ``name``."""

    @classmethod
    def knob_names(cls) -> list[str]:
        return [name for name in cls.param if name != "name"]

    @classmethod
    def is_hot(cls, knob: str) -> bool:
        return bool((cls.param[knob].metadata or {}).get("hot"))

    @classmethod
    def hot_knobs(cls) -> list[str]:
        return [name for name in cls.knob_names() if cls.is_hot(name)]

    @classmethod
    def structural_knobs(cls) -> list[str]:
        return [name for name in cls.knob_names() if not cls.is_hot(name)]

    @classmethod
    def check(cls, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate knob values without applying them; returns them as given.

        Raises :class:`KnobError` naming the knob and the allowed values.
        """
        probe = cls()
        for knob, value in changes.items():
            if knob not in cls.knob_names():
                raise KnobError(
                    f"unknown knob {knob!r} for {cls.__name__}; knobs: {', '.join(cls.knob_names())}"
                )
            # param takes True and False for numbers (bool is an int): a JSON or TOML slip.
            if isinstance(value, bool) and isinstance(cls.param[knob], param.Number):
                raise KnobError(f"{knob}={value!r} refused: {describe(cls, knob)}, not a boolean")
            parameter = cls.param[knob]
            if isinstance(parameter, param.Integer) and not isinstance(value, int):
                raise KnobError(f"{knob}={value!r} refused: {knob} must be a whole number")
            try:
                setattr(probe, knob, value)
            except ValueError:
                # param's own message names its classes; the user needs the allowed values.
                raise KnobError(f"{knob}={value!r} refused: {describe(cls, knob)}") from None
        return dict(changes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """A config from saved knob values (unknown keys are refused)."""
        return cls(**cls.check(values))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.knob_names()}

    def changed(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated)."""
        return type(self)(**{**self.to_dict(), **self.check(changes)})


def describe(cls: type[Config], knob: str) -> str:
    """One line: what values ``knob`` accepts."""
    parameter = cls.param[knob]
    bounds = getattr(parameter, "bounds", None)
    objects = getattr(parameter, "objects", None)
    if bounds is not None:
        low, high = bounds
        return f"{knob} must be in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if objects:
        return f"{knob} must be one of {list(objects)}"
    return f"{knob} must be a {type(parameter).__name__}"


def parse_knob(config_class: type[Config], knob: str, text: str) -> Any:
    """A knob value from typed text (CLI ``--set``, a dashboard input), converted by the
    knob's declared type; never ``eval``. Range checks are :meth:`Config.check`'s."""
    if knob not in config_class.knob_names():
        raise KnobError(
            f"unknown knob {knob!r} for {config_class.__name__}; knobs: {', '.join(config_class.knob_names())}"
        )
    parameter = config_class.param[knob]
    text = str(text).strip()
    try:
        if isinstance(parameter, param.Boolean):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(parameter, param.Integer):
            return int(text)
        if isinstance(parameter, param.Number):
            return float(text)
    except ValueError:
        kind = "whole number" if isinstance(parameter, param.Integer) else "number"
        raise KnobError(f"{knob}={text!r} refused: {knob} must be a {kind}") from None
    return text
