"""Subprocess entry point of a run: ``python -m workbench.runs.worker --home HOME RUN_ID``.

A crash, hang or kill of this process never reaches the server that started it; the
server's watcher marks the run failed with the reason.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from workbench.runs.store import RunStore
from workbench.runs.trainer import execute_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="workbench home holding the run store")
    parser.add_argument("run_id")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (small nets: 1 is fastest)"
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    store = RunStore(args.home)
    threading.Thread(target=_stop_when_orphaned, args=(store, args.run_id), daemon=True).start()
    final = execute_run(store, args.run_id)
    return 0 if final in ("finished", "stopped") else 1


def _stop_when_orphaned(store: RunStore, run_id: str) -> None:
    """If the process that started this run dies (a server killed without cleanup), stop
    the run cleanly (it checkpoints) instead of training on unseen."""
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            store.add_command(run_id, "stop", {"reason": "the starting process exited"})
            return


if __name__ == "__main__":
    sys.exit(main())
