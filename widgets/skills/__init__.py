"""The Skills page (METRA, LSD, DIAYN): trajectories coloured by skill, the latent map, the
skill picker, and the page that composes them with the run's charts."""

from widgets.skills.page import SkillsView
from widgets.skills.picker import SkillPicker
from widgets.skills.trajectories import LatentMap, SkillTrajectories, skill_colors

__all__ = ["LatentMap", "SkillPicker", "SkillTrajectories", "SkillsView", "skill_colors"]
