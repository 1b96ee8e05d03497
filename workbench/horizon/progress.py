"""Progress callbacks of the horizon analyses, so that a caller (the dashboard, a CLI) can
say how far a long computation is without the engine knowing who listens.

A :data:`Progress` is called with ``(done, total)``: ``done`` grows from 0, and the last
call has ``done == total``. ``total`` is exact where the work is known in advance (sweep
points); otherwise the function says whether it is an upper bound that shrinks as the
work ends early (a bisection, a learner that stops when optimal) or a count so far that
grows (states found by a breadth-first search). A :data:`NamedProgress` also names the
part of a composite computation being done now (``"bound"``, ``"GORP"``)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
NamedProgress = Callable[[str, int, int], None]

__all__ = ["NamedProgress", "Progress"]
