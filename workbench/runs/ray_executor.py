"""The Ray executor: a run trains in a Ray task, on this machine or on any node of a cluster.

Workers on other nodes cannot write the run store's SQLite file, so nothing in a Ray worker
touches it: the worker's trainer talks to a :class:`StoreProxy`, which forwards every call to
one :class:`StoreServer` actor pinned to the driver's node (the machine whose disk holds the
store). A run trained this way is an ordinary run in the store, read live by every view.

Ray is an optional extra (``pip install rl-workbench[distributed]``); nothing else in the
workbench imports this module unless a run or a sweep asks for Ray.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from workbench.runs.store import RunStore

RAY_NAMESPACE = "rl_workbench"

# A Ray task blocked in ``ray.get`` gives its CPU back until the call returns, and every
# store call of a trainer on Ray is one: Ray then starts the next queued run beside it, and
# 8 runs on 2 CPUs trained 3 or 4 at a time (55% of the subprocess executor's throughput).
# Custom resources are never given back, so a run also takes one training slot; a local Ray
# has one per CPU, a cluster's nodes get them from ``ray start --resources``
# (docs/scaling.md). Without any slot in the cluster, runs take CPUs only.
TRAINING_SLOT = "workbench_training_slot"

# Concurrent calls the store actor serves: a slow call (a checkpoint's fsync) must not hold
# up every other trial's scalars. SQLite serializes the writes themselves.
STORE_SERVER_THREADS = 8


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "the Ray executor needs Ray: pip install 'rl-workbench[distributed]' "
            "(make venv installs it)"
        ) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start or join Ray once per process and return the module.

    ``address`` (else ``$RAY_ADDRESS``) joins an existing cluster (``ray start --head``,
    KubeRay); without one a local Ray starts here with ``num_cpus`` CPUs (all by default)
    and no Ray dashboard. A process already connected keeps its connection.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {
        "namespace": RAY_NAMESPACE,
        "include_dashboard": False,
        "log_to_driver": False,  # trainers' output goes to the run store and worker logs
    }
    if address:
        ray.init(address=address, **options)
    else:  # "local": a Ray of its own, not one that `ray start` left running here
        slots = num_cpus if num_cpus is not None else os.cpu_count() or 1
        ray.init(address="local", num_cpus=num_cpus, resources={TRAINING_SLOT: slots}, **options)
    return ray


class StoreServer:
    """Owns a :class:`RunStore` on the driver's node; workers call its public methods by
    name through :class:`StoreProxy`. Runs as a Ray actor."""

    def __init__(self, home: str) -> None:
        self.store = RunStore(home)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method.startswith("_") or not callable(getattr(self.store, method, None)):
            raise AttributeError(f"the run store has no method {method!r}")
        return getattr(self.store, method)(*args, **kwargs)


# Store writes a trainer makes often whose answer is None (every flush's scalars, every
# snapshot): sent without waiting for the store actor, which then writes while the trainer
# trains on (a snapshot's round trip, with its two fsyncs, held a trainer up for milliseconds
# a hundred steps apart). See :meth:`StoreProxy.settle` for their order and errors.
WRITE_BEHIND = frozenset({"add_scalars", "add_snapshot"})


class StoreProxy:
    """A run store in a Ray worker: every method call goes to the :class:`StoreServer` on
    the driver's node and returns its result. ``home`` and ``run_folder`` name paths on that
    node (the same machine on one-node Ray; see docs/scaling.md for clusters)."""

    # Seconds between a trainer's looks for commands (pause, stop, knob changes). Each look
    # is a call of the store actor (about 1 ms of the trainer's time and 0.6 ms of the
    # actor's CPU): at a local store's 0.1 s, a trainer made ten such calls a second, almost
    # always for nothing. Every 0.5 s, as it flushes, is soon enough for a pause or a stop.
    command_poll_interval = 0.5

    def __init__(self, server: Any, home: str | Path) -> None:
        self._server = server
        self.home = Path(home)
        self.path = self.home / "runs.sqlite"
        self._write_in_flight: Any = None  # the ObjectRef of a write-behind call

    def settle(self) -> None:
        """Wait for the write-behind call in flight, raising its error if it failed. Every
        call of this proxy settles first, so at most one write is in flight and the store sees
        this worker's calls in the order they were made; a failed write is raised by the next
        call. Call it before a worker's last word (its task ends) or before telling others
        (Ray Tune) about what was written."""
        ref, self._write_in_flight = self._write_in_flight, None
        if ref is not None:
            require_ray().get(ref)

    def run_folder(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):  # pickling and copying look these up: not store calls
            raise AttributeError(method)
        ray = require_ray()
        server = self._server

        def call(*args: Any, **kwargs: Any) -> Any:
            self.settle()
            ref = server.call.remote(method, *args, **kwargs)
            if method in WRITE_BEHIND:
                self._write_in_flight = ref
                return None
            return ray.get(ref)

        call.__name__ = method
        return call


# The driver's handles of its store actors, by (driver node, Ray job, store home). A named
# actor that is not detached is destroyed once no handle to it is left: without these, the
# actor died when a sweep's trials let go of theirs, and a run started next looked up the
# dying actor by name (ActorDiedError). The node and job tell one Ray session from the next
# one after ``ray.shutdown()``.
_STORE_SERVERS: dict[tuple[str, str, str], Any] = {}


def store_server(home: str | Path) -> Any:
    """The store actor of ``home`` on this (the driver's) node, started on first use. One per
    store and Ray session: every run and trial of this driver shares it, and it lives as
    long as the driver's connection to Ray."""
    ray = require_ray()
    home = str(Path(home).resolve())
    context = ray.get_runtime_context()
    node = context.get_node_id()
    key = (node, context.get_job_id(), home)
    if key not in _STORE_SERVERS:
        _STORE_SERVERS[key] = _start_store_server(ray, home, node)
    return _STORE_SERVERS[key]


def _start_store_server(ray: Any, home: str, node: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    name = "workbench-store-" + hashlib.sha1(home.encode()).hexdigest()[:12]
    actor_class = ray.remote(StoreServer)
    return actor_class.options(
        name=name,
        namespace=RAY_NAMESPACE,
        get_if_exists=True,
        num_cpus=0,
        max_concurrency=STORE_SERVER_THREADS,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
    ).remote(home)


def train_in_worker(server: Any, home: str, run_id: str, threads: int = 1) -> str:
    """A Ray task's body: train (or resume) a run to its end; returns its final state."""
    import torch

    from workbench.runs.trainer import execute_run

    torch.set_num_threads(threads)
    store = StoreProxy(server, home)
    record_worker(store, run_id)
    try:
        return execute_run(store, run_id)
    finally:
        store.settle()


def record_worker(store: Any, run_id: str) -> None:
    """A ``worker`` event: the Ray node and process a run (re)starts in, so that a user
    (and a test) can tell where it trained and which process to look at."""
    ray = require_ray()
    context = ray.get_runtime_context()
    node = context.get_node_id()
    address = ray.util.get_node_ip_address()
    where = {"node": node, "ip": address, "pid": os.getpid()}
    store.add_event(run_id, store.get_run(run_id).step, "worker", where)


def submit(store: RunStore, run_id: str, num_cpus: float = 1, threads: int = 1) -> Any:
    """Start a run as a Ray task (Ray must be connected); returns the task's ObjectRef."""
    ray = require_ray()
    slots = {TRAINING_SLOT: num_cpus} if ray.cluster_resources().get(TRAINING_SLOT) else {}
    task = ray.remote(train_in_worker).options(num_cpus=num_cpus, resources=slots, max_retries=0)
    return task.remote(store_server(store.home), str(store.home.resolve()), run_id, threads)
