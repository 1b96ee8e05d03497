"""Reward landscapes: state maps, the reward editor, EPIC distance and reward surfaces."""
