"""Curriculum teachers and the task spaces they choose from (issue 17)."""
