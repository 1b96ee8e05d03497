"""Agents written for this workbench (one readable file each)."""
