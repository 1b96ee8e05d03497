"""Trainers that plug into the live Run engine, one file each."""
