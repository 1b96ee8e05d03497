"""Helpers shared by torch trainers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def load_matching(module: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Load the entries of ``state`` whose names and shapes match ``module``; return the
    names of those skipped (a fork that changed a layer's shape)."""
    own = module.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict(fits, strict=False)
    return sorted(set(state) - set(fits))
