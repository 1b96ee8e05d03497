"""The Curricula page: a teacher choosing a student's tasks, live (issue 17)."""

from widgets.curricula.level_buffer import LevelBufferView
from widgets.curricula.page import CurriculaView
from widgets.curricula.task_space import TaskSpaceView

__all__ = ["CurriculaView", "LevelBufferView", "TaskSpaceView"]
