"""Subprocess entry point of a run: ``python -m workbench.runs.worker --home HOME RUN_ID``.

A crash, hang or kill of this process never reaches the server that started it; the
server's watcher marks the run failed with the reason.
"""

from __future__ import annotations

import argparse
import sys

from workbench.runs.store import RunStore
from workbench.runs.trainer import execute_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="workbench home holding the run store")
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    final = execute_run(RunStore(args.home), args.run_id)
    return 0 if final in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
