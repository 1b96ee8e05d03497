"""Trainer names resolve through a registry and never import a module (issue 16.8)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.runs import Run, RunStore
from workbench.runs import trainer as trainer_module
from workbench.runs.trainer import (
    TRAINER_ENTRY_POINTS,
    TrainerError,
    execute_run,
    installed_trainers,
    resolve_trainer,
    trainer_name,
)
from workbench.trainers.regression import RegressionConfig, RegressionTrainer

# A module whose import leaves a mark: a name that imports it fails the test.
TRAP = """
from pathlib import Path

Path(__file__).with_name("imported").write_text("the trap module was imported")


class Trap:
    pass
"""


@pytest.fixture
def trap(tmp_path, monkeypatch) -> Path:
    """An importable module ``trainer_trap_16_8`` that writes the file it returns on import."""
    (tmp_path / "trainer_trap_16_8.py").write_text(TRAP)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "imported"
    sys.modules.pop("trainer_trap_16_8", None)


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "home")


class OwnTrainer(RegressionTrainer):
    """A user's trainer, handed over as a class from Python code."""


def test_a_module_class_name_from_the_cli_is_refused_in_one_line_without_importing(
    tmp_path, capsys, trap
):
    home = tmp_path / "home"
    for name in ("os:system", "trainer_trap_16_8:Trap"):
        assert main(["--home", str(home), "train", name]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "Traceback" not in error
        assert f"trainer {name!r} is not registered" in error
        assert TRAINER_ENTRY_POINTS in error  # says how to add one's own
    assert not trap.exists() and "trainer_trap_16_8" not in sys.modules
    assert not (home / "runs.sqlite").exists() or RunStore(home).list_runs() == []


def test_the_console_command_refuses_train_os_system_in_one_line(tmp_path):
    """The probe's command, as a user types it: no traceback, non-zero, no run made."""
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), "train", "os:system"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "trainer 'os:system' is not registered" in result.stderr
    assert not (home / "runs.sqlite").exists() or RunStore(home).list_runs() == []


def test_a_run_record_naming_a_module_imports_nothing_and_names_the_run(store, trap, capsys):
    """A record anyone could have written: start, resume and the CLI refuse it by name."""
    record = store.create_run("planted", "trainer_trap_16_8:Trap", {})
    with pytest.raises(TrainerError) as refused:
        Run(store, record.id).trainer_class  # noqa: B018 (the lookup is the test)
    message = str(refused.value)
    assert record.id in message and "'trainer_trap_16_8:Trap' is not registered" in message
    assert "\n" not in message

    assert main(["--home", str(store.home), "runs", "resume", record.id]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and record.id in error and "trainer_trap_16_8:Trap" in error
    assert store.get_run(record.id).state == "created"  # the CLI refused before touching it

    # The worker's path (a subprocess executor): the run fails with the same line.
    assert execute_run(store, record.id) == "failed"
    failed = store.get_run(record.id)
    assert record.id in failed.message and "'trainer_trap_16_8:Trap' is not registered" in (
        failed.message
    )
    assert not trap.exists() and "trainer_trap_16_8" not in sys.modules


def test_run_create_takes_a_class_or_a_registered_name_but_not_a_module_path(store, trap):
    with pytest.raises(TrainerError, match="'trainer_trap_16_8:Trap' is not registered"):
        Run.create("trainer_trap_16_8:Trap", store=store)
    assert not trap.exists() and store.list_runs() == []

    builtin = Run.create("regression", store=store, total_steps=10)
    assert builtin.record.trainer == "regression"
    assert Run(store, builtin.id).trainer_class is RegressionTrainer

    # A class passed from Python (one defined in a notebook, say): its record names its
    # module:Class path, and this process resolves that to the class it was given.
    own = Run.create(OwnTrainer, store=store, total_steps=10)
    path = f"{__name__}:OwnTrainer"
    assert own.record.trainer == path
    assert Run(store, own.id).trainer_class is OwnTrainer
    assert resolve_trainer(path) is OwnTrainer


def test_own_trainers_come_from_the_entry_point_group(store, trap, monkeypatch):
    """An installed package registers ``name = "module:Class"`` under rl_workbench.trainers;
    only such a name loads its module, and a name that loads no Trainer is refused."""
    entries = {
        "own": EntryPoint("own", f"{__name__}:OwnTrainer", TRAINER_ENTRY_POINTS),
        "config": EntryPoint(
            "config", f"{RegressionConfig.__module__}:RegressionConfig", TRAINER_ENTRY_POINTS
        ),
        "broken": EntryPoint("broken", "no_such_module_16_8:Thing", TRAINER_ENTRY_POINTS),
    }
    monkeypatch.setattr(trainer_module, "installed_trainers", lambda: entries)
    assert resolve_trainer("own") is OwnTrainer
    assert trainer_name(OwnTrainer) == "own"  # records store the registered name
    assert Run.create(OwnTrainer, store=store, total_steps=10).record.trainer == "own"
    with pytest.raises(TrainerError, match=r"'config' is registered as .*, not a Trainer"):
        resolve_trainer("config")
    with pytest.raises(
        TrainerError, match=r"run r1: trainer 'broken' .* does not load: ModuleNotFoundError"
    ):
        resolve_trainer("broken", run_id="r1")
    with pytest.raises(
        TrainerError, match=r"registered: regression, sb3, metra, hilp, curriculum, reward, own"
    ):
        resolve_trainer("trainer_trap_16_8:Trap")
    assert not trap.exists()


def test_installed_trainers_reads_the_group_and_built_in_names_win():
    installed = installed_trainers()
    assert not {"regression", "sb3", "metra", "hilp"} & set(installed)
    assert all(entry.group == TRAINER_ENTRY_POINTS for entry in installed.values())


@pytest.mark.parametrize("name", ["regression", "sb3", "metra", "hilp"])
def test_every_built_in_name_the_notebooks_and_readme_use_resolves(name):
    trainer = resolve_trainer(name)
    assert trainer_name(trainer) == name
