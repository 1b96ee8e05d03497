"""The ``workbench`` console command."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from environments import ENVIRONMENTS
from workbench.cli import main

WORKBENCH = Path(__import__("sys").executable).parent / "workbench"


def test_console_script_prints_help_naming_its_commands():
    result = subprocess.run([str(WORKBENCH), "--help"], capture_output=True, text=True, check=True)
    assert "envs" in result.stdout and "serve" in result.stdout


def test_envs_lists_every_registered_environment_on_one_line(capsys):
    assert main(["envs"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [info.id for info in ENVIRONMENTS]
    assert all(len(line.split()) > 3 for line in lines)


def test_serve_rejects_an_out_of_range_port(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--port", "70000"])
    assert "port must be in 0..65535, got 70000" in capsys.readouterr().err


def test_served_dashboard_answers_over_http_and_lists_environments(served_dashboard):
    with urllib.request.urlopen(served_dashboard.url + "/", timeout=10) as response:
        page = response.read().decode()
    assert "<title>RL Workbench</title>" in page
    with urllib.request.urlopen(served_dashboard.url + "/api/environments", timeout=10) as response:
        listed = json.loads(response.read())
    assert [item["id"] for item in listed] == [info.id for info in ENVIRONMENTS]
