"""Curriculum teachers and the task spaces they choose from (issue 17).

Teachers by the short names the CLI and run configs use; each module holds one family.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.curricula.base import CurriculumError, TaskBox, Teacher

TEACHERS: dict[str, str] = {
    "random": "workbench.curricula.random_teacher:RandomTeacher",
    "alp-gmm": "workbench.curricula.alp_gmm:ALPGMM",
    "covar-gmm": "workbench.curricula.covar_gmm:CovarGMM",
    "riac": "workbench.curricula.riac:RIAC",
    "plr": "workbench.curricula.plr:PLR",
    "robust-plr": "workbench.curricula.plr:RobustPLR",
    "accel": "workbench.curricula.accel:ACCEL",
}


def teacher_class(name: str) -> type[Teacher]:
    """The teacher class registered as ``name``; a :class:`CurriculumError` listing the
    known names otherwise (nothing is imported by a name that is not registered)."""
    if name not in TEACHERS:
        raise CurriculumError(f"unknown teacher {name!r}; known: {', '.join(TEACHERS)}")
    module, _, attribute = TEACHERS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def make_teacher(name: str, **kwargs: Any) -> Teacher:
    """A new teacher by its short name (keyword arguments go to its constructor)."""
    return teacher_class(name)(**kwargs)


__all__ = ["TEACHERS", "CurriculumError", "TaskBox", "Teacher", "make_teacher", "teacher_class"]
