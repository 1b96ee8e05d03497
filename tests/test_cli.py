"""The ``workbench`` console command."""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from environments import ENVIRONMENTS
from tests.conftest import free_port, wait_for_http
from workbench.cli import main
from workbench.runs import Run, RunStore

WORKBENCH = Path(__import__("sys").executable).parent / "workbench"


def test_console_script_prints_help_naming_its_commands():
    result = subprocess.run([str(WORKBENCH), "--help"], capture_output=True, text=True, check=True)
    assert "envs" in result.stdout and "serve" in result.stdout


def test_envs_lists_every_registered_environment_on_one_line(capsys):
    assert main(["envs"]) == 0
    listing, note = capsys.readouterr().out.strip().split("\n\n")
    lines = listing.splitlines()
    assert [line.split()[0] for line in lines] == [info.id for info in ENVIRONMENTS]
    assert all(len(line.split()) > 3 for line in lines)
    assert "MiniGrid" in note and "horizon" in note


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
    # The server lives on to the module's end: its demo run would take a core from every
    # test after this one (a 4 s test took 36).
    store = RunStore(served_dashboard.home)
    (demo,) = [r for r in store.list_runs() if r.name.startswith("demo")]
    assert Run(store, demo.id).stop(wait=30) == "stopped"


def test_train_runs_headless_and_runs_list_show_export_read_it(tmp_path, capsys):
    home = str(tmp_path / "home")
    config = tmp_path / "fit.toml"
    config.write_text('trainer = "regression"\ntotal_steps = 200\nwidth = 8\n')
    assert (
        main(
            [
                "--home",
                home,
                "train",
                str(config),
                "--set",
                "learning_rate=0.05",
                "--progress-every",
                "0.2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    run_id = out.split()[1]
    assert f"run {run_id} finished at step 200" in out
    assert main(["--home", home, "runs", "list"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["--home", home, "runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "learning_rate" in shown and "0.05" in shown and "losses/mse" in shown
    for fmt in ("csv", "parquet"):
        target = tmp_path / f"scalars.{fmt}"
        assert (
            main(
                ["--home", home, "runs", "export", run_id, "--format", fmt, "--output", str(target)]
            )
            == 0
        )
        assert str(target.resolve()) in capsys.readouterr().out  # says where it wrote
        frame = pd.read_csv(target) if fmt == "csv" else pd.read_parquet(target)
        assert list(frame.columns) == ["step", "name", "value", "branch"]
        assert (frame["name"] == "losses/mse").sum() == 200
        assert set(frame["branch"]) == {"live"}
    # A rollback to step 100: the export keeps every row and says which branch each is on.
    store = RunStore(home)
    marked = store.abandon_after(run_id, 100)
    target = tmp_path / "both-branches.csv"
    assert main(["--home", home, "runs", "export", run_id, "--output", str(target)]) == 0
    frame = pd.read_csv(target)
    losses = frame[frame["name"] == "losses/mse"]
    assert len(losses) == 200 and (frame["branch"] == "abandoned").sum() == marked > 0
    assert (losses[losses["branch"] == "abandoned"]["step"] > 100).all()


def test_an_unnamed_run_is_named_after_its_trainer_and_environment_and_lines_print_once(
    tmp_path, capsys
):
    home = str(tmp_path / "home")
    argv = ["--home", home, "train", "sb3", "--set", "total_timesteps=600", "--set", "n_envs=2"]
    assert main([*argv, "--progress-every", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "'sb3 on workbench/PointMaze-UMaze-v0'" in out.splitlines()[0]
    progress = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(progress) == len(set(progress)), "a progress line was printed twice"
    assert main(["--home", home, "runs", "list"]) == 0
    assert "sb3 on workbench/PointMaze-UMaze-v0 " in capsys.readouterr().out  # not cut off


def test_runs_resume_restarts_a_stopped_run_headless_from_its_checkpoint(tmp_path, capsys):
    store = RunStore(tmp_path / "home")
    run = Run.create(
        "regression", store=store, total_steps=400, width=8, checkpoint_every=100, step_delay=0.005
    )
    run.start()
    run.wait_for_step(150)
    assert run.stop() == "stopped"
    stopped_at = run.step
    argv = ["--home", str(store.home), "runs", "resume", run.id, "--progress-every", "0.2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"from step {stopped_at}" in out and f"run {run.id} finished at step 400" in out
    assert main(["--home", str(store.home), "runs", "resume", run.id]) == 2  # finished
    assert "is finished" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "regression", "--set", "learning_rate=-1"],
            "learning_rate=-1.0 refused: learning_rate must be in",
        ),
        (
            ["train", "regression", "--set", "width=wide"],
            "width='wide' refused: width must be a whole number",
        ),
        (
            ["train", "sb3", "--set", "env_id=CartPole-v1"],
            "env_id='CartPole-v1' refused: env_id must be one of",
        ),
        (["train", "nope"], "trainer 'nope' is not registered"),
        (
            ["train", "metra", "--set", "skill_type=discrete", "--set", "skill_dim=1"],
            "discrete skills need skill_dim >= 2",
        ),
        (["runs", "show", "missing-run"], "no run 'missing-run'"),
    ],
)
def test_bad_cli_input_is_refused_with_a_message_and_creates_nothing(
    tmp_path, capsys, argv, message
):
    home = str(tmp_path / "home")
    assert main(["--home", home, *argv]) == 2
    assert message in capsys.readouterr().err
    assert main(["--home", home, "runs", "list"]) == 0
    assert "no runs yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("list.json", "[1, 2]", "must hold knob = value pairs (a table), not a list"),
        ("broken.toml", "trainer = ", "is not valid toml"),
    ],
)
def test_a_bad_config_file_is_named_in_one_line(tmp_path, capsys, name, text, message):
    config = tmp_path / name
    config.write_text(text)
    assert main(["--home", str(tmp_path / "home"), "train", str(config)]) == 2
    error = capsys.readouterr().err
    assert str(config) in error and message in error and "Traceback" not in error


def test_train_stopped_by_sigterm_checkpoints_and_records_the_stop(tmp_path):
    """A killed headless run (kill, a job scheduler) ends as Ctrl-C ends it: stopped, with
    a checkpoint, not left "running" in the store for ever."""
    home = tmp_path / "home"
    command = [
        str(WORKBENCH),
        "--home",
        str(home),
        "train",
        "regression",
        "--progress-every",
        "0.5",
    ]
    command += ["--set", "total_steps=100000000", "--set", "step_delay=0.001"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("run ")
        assert "step" in process.stdout.readline()  # training
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        assert code == 0, f"exit {code}: {process.stdout.read()}"  # its last line says why
    finally:
        process.kill()
        process.stdout.close()
    [record] = RunStore(home).list_runs()
    assert record.state == "stopped" and record.step > 0
    assert RunStore(home).checkpoints(record.id)[-1][0] == record.step


def test_serve_with_a_password_guards_every_route(tmp_path):
    """The password from $WORKBENCH_PASSWORD (not the command line, where `ps` shows it):
    pages ask for it, /api/environments answers 401 without the login cookie and the
    list with it, and a wrong password does not log in."""
    import http.cookiejar

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(WORKBENCH), "--home", str(tmp_path), "serve", "--port", str(port), "--no-demo"]
    with (tmp_path / "server.log").open("w") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WORKBENCH_PASSWORD": "s3cret"},
        )
    try:
        wait_for_http(f"{url}/login", process, tmp_path / "server.log")
        with urllib.request.urlopen(f"{url}/", timeout=10) as response:
            assert response.url.endswith("/login") or "login" in response.read().decode().lower()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/api/environments", timeout=10)
        assert refused.value.code == 401
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        wrong = urllib.request.Request(
            f"{url}/login", data=b"username=user&password=wrong", method="POST"
        )
        with opener.open(wrong, timeout=10) as response:
            assert "<title>RL Workbench</title>" not in response.read().decode()
        with pytest.raises(urllib.error.HTTPError):
            opener.open(f"{url}/api/environments", timeout=10)
        right = urllib.request.Request(
            f"{url}/login", data=b"username=user&password=s3cret", method="POST"
        )
        opener.open(right, timeout=30).read()
        with opener.open(f"{url}/api/environments", timeout=10) as response:
            ids = [e["id"] for e in json.loads(response.read())]
        assert "workbench/Plane-v0" in ids
        assert "visible to every user" not in (tmp_path / "server.log").read_text()

        # The login page's pictures come from this server, not from a CDN.
        with urllib.request.urlopen(f"{url}/login", timeout=10) as response:
            login_page = response.read().decode()
        assert "cdn.holoviz.org" not in login_page
        logo = re.search(r'src="([^"]*logo_stacked.png)"', login_page).group(1)
        with urllib.request.urlopen(urllib.parse.urljoin(f"{url}/login", logo)) as response:
            assert response.status == 200 and response.read(4) == b"\x89PNG"

        # Guessing is slowed down: after three failures, even the right password must wait.
        guesser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        for guess in ("a", "b", "c"):
            attempt = urllib.request.Request(
                f"{url}/login", data=f"username=x&password={guess}".encode(), method="POST"
            )
            guesser.open(attempt, timeout=10).read()
        with pytest.raises(urllib.error.HTTPError) as slowed:
            guesser.open(right, timeout=10)
        assert slowed.value.code == 429 and slowed.value.headers["Retry-After"] == "1"
        assert "Too many failed logins" in slowed.value.read().decode()
        time.sleep(1.2)
        guesser.open(right, timeout=30).read()
        with guesser.open(f"{url}/api/environments", timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_password_comes_from_a_file_and_the_command_line_one_is_warned_about(
    tmp_path, monkeypatch, capsys
):
    from workbench.cli import PASSWORD_VARIABLE, _password, build_parser

    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    parse = build_parser().parse_args
    assert _password(parse(["serve", "--password-file", str(secret)])) == "from-a-file"
    assert _password(parse(["serve", "--password", "typed"])) == "typed"
    assert "visible to every user in `ps`" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no such file"):
        _password(parse(["serve", "--password-file", str(tmp_path / "missing")]))
    monkeypatch.setenv(PASSWORD_VARIABLE, "from-the-environment")
    assert _password(parse(["serve"])) == "from-the-environment"


def test_every_added_route_of_the_dashboard_requires_the_login():
    from widgets.dashboard import EXTRA_ROUTES, AuthenticatedHandler

    assert EXTRA_ROUTES
    assert all(issubclass(handler, AuthenticatedHandler) for _, handler in EXTRA_ROUTES)


def test_train_metra_with_env_and_objective_flags(tmp_path, capsys):
    home = str(tmp_path / "home")
    argv = [
        "--home",
        home,
        "train",
        "metra",
        "--env",
        "workbench/PointMaze-UMaze-v0",
        "--objective",
        "lsd",
    ]
    argv += [
        "--set",
        "hidden=32",
        "--set",
        "total_steps=1600",
        "--set",
        "min_buffer=800",
        "--set",
        "eval_every=1",
    ]
    assert main(argv) == 0
    run_id = capsys.readouterr().out.split()[1]
    record = RunStore(home).get_run(run_id)
    assert (
        record.config["objective"] == "lsd"
        and record.config["env_id"] == "workbench/PointMaze-UMaze-v0"
    )
    assert RunStore(home).last_scalars(run_id)["eval/coverage"] >= 1
    assert main(["--home", home, "train", "metra", "--objective", "vic"]) == 2
    assert "objective='vic' refused: objective must be one of" in capsys.readouterr().err


def test_dataset_build_list_and_a_headless_hilp_run_on_it(tmp_path, capsys):
    home = ["--home", str(tmp_path)]
    build = ["dataset", "build", "u", "--env", "workbench/PointMaze-UMaze-v0", "--episodes", "4"]
    assert main([*home, *build, "--episode-steps", "50"]) == 0
    assert "dataset workbench/u-v0: 200 transitions" in capsys.readouterr().out
    assert main([*home, *build]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*home, "dataset", "list"]) == 0
    assert capsys.readouterr().out.split() == ["workbench/u-v0"]
    knobs = ["dataset=u", "hidden=16", "layers=1", "total_steps=40", "eval_every=20", "device=cpu"]
    train = ["train", "hilp", "--env", "workbench/PointMaze-UMaze-v0", "--progress-every", "1"]
    assert main([*home, *train, *(f"--set={k}" for k in knobs)]) == 0
    run = RunStore(tmp_path).list_runs()[-1]
    assert run.trainer == "hilp" and run.state == "finished"
    assert [row[1] for row in RunStore(tmp_path).scalars(run.id, "eval/spearman")] == [20, 40]


def test_horizon_json_is_strict_json_with_null_for_what_is_not_finite(capsys):
    assert main(["horizon", "workbench/GridWorld-SlipperyCliff-v0", "--json"]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    figures = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert figures["effective_horizon"] is None  # no bound on a stochastic MDP


# ---- bad input refused in one line, with nothing written (issue 16.9) ----------------------


def _refused_in_one_line(capsys, argv: list[str], *fragments: str) -> str:
    """Runs the CLI; asserts a non-zero exit and exactly one line on stderr holding each of
    ``fragments``; returns that line."""
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    for fragment in fragments:
        assert fragment in error, error
    return error


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what a refused command must leave as is."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def run_to_export(tmp_path) -> tuple[Path, str]:
    """A store holding one run with 49 scalar rows; returns (home, run id)."""
    store = RunStore(tmp_path / "home")
    run_id = store.create_run("exported", "regression", {}).id
    store.add_scalars(run_id, [(step, "losses/mse", 1.0 / step) for step in range(1, 50)])
    store.close()
    return store.home, run_id


def test_runs_export_to_a_missing_folder_is_refused_and_makes_no_folder(
    tmp_path, capsys, run_to_export
):
    home, run_id = run_to_export
    output = tmp_path / "missing" / "scalars.csv"
    argv = ["--home", str(home), "runs", "export", run_id, "--output", str(output)]
    _refused_in_one_line(capsys, argv, f"cannot write {output}", "there is no folder")
    assert not output.parent.exists()


def test_runs_export_to_a_folder_is_refused_and_leaves_it_as_it_was(
    tmp_path, capsys, run_to_export
):
    home, run_id = run_to_export
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "earlier.csv").write_text("step,name,value\n")
    argv = ["--home", str(home), "runs", "export", run_id, "--output", str(folder)]
    _refused_in_one_line(capsys, argv, f"cannot write {folder}: it is a folder")
    assert _tree(folder) == {"earlier.csv": b"step,name,value\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "home"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_runs_export_where_no_file_can_be_made_is_refused_in_one_line(capsys, run_to_export, fmt):
    """A real file system that takes no new file: /sys (sysfs), which refuses it even to
    root (chmod would not stop root). The kernel answers EACCES here and EROFS where /sys is
    mounted read-only; either way one line, and no file."""
    home, run_id = run_to_export
    output = Path(f"/sys/rl-workbench-export-16-9.{fmt}")
    argv = ["--home", str(home), "runs", "export", run_id, "--format", fmt, "--output", str(output)]
    _refused_in_one_line(capsys, argv, f"cannot write {output}: ")
    assert not output.exists()


def test_runs_export_to_a_read_only_file_system_is_refused_and_writes_nothing(
    tmp_path, capsys, monkeypatch, run_to_export
):
    """A read-only file system, without mounting one (that needs privileges the test does
    not have): every way Python creates a file in the target folder (``open`` and
    ``os.open``) gets the kernel's answer on a read-only mount, a real
    ``OSError(EROFS)``; reads and everything elsewhere go through untouched."""
    home, run_id = run_to_export
    folder = tmp_path / "read-only"
    folder.mkdir()
    output = folder / "scalars.csv"
    output.write_text("an earlier export\n")
    real_open, real_os_open = builtins.open, os.open

    def in_folder(path: object) -> bool:
        return isinstance(path, str | os.PathLike) and Path(path).parent == folder

    def read_only(path: object) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def open_read_only(file, mode="r", *args, **kwargs):
        if in_folder(file) and any(flag in mode for flag in "wax+"):
            raise read_only(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open_read_only(path, flags, *args, **kwargs):
        if in_folder(path) and flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise read_only(path)
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_read_only)
    monkeypatch.setattr(os, "open", os_open_read_only)
    argv = ["--home", str(home), "runs", "export", run_id, "--output", str(output)]
    _refused_in_one_line(capsys, argv, f"cannot write {output}: Read-only file system")
    monkeypatch.undo()
    assert _tree(folder) == {"scalars.csv": b"an earlier export\n"}


def test_home_naming_a_file_is_refused_and_the_file_is_left_as_it_was(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a run store\n")
    for argv in (["runs", "list"], ["train", "regression", "--set", "total_steps=10"]):
        _refused_in_one_line(
            capsys, ["--home", str(notes), *argv], f"--home {notes} is a file, not a folder"
        )
    assert _tree(tmp_path) == {"notes.txt": b"not a run store\n"}


@pytest.mark.parametrize(
    "argv", [["runs", "list"], ["train", "regression", "--set", "total_steps=10"]]
)
def test_an_empty_home_is_refused_and_no_store_appears_in_the_current_folder(
    tmp_path, capsys, monkeypatch, argv
):
    monkeypatch.chdir(tmp_path)
    _refused_in_one_line(capsys, ["--home", "", *argv], "--home is empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seconds", ["-1", "0", "nan"])
def test_a_progress_interval_that_is_not_positive_is_refused_before_a_run_exists(
    tmp_path, capsys, seconds
):
    home = tmp_path / "home"
    argv = ["--home", str(home), "train", "regression", "--set", "total_steps=50"]
    _refused_in_one_line(
        capsys, [*argv, "--progress-every", seconds], "--progress-every must be a positive"
    )
    assert not home.exists()

    store = RunStore(home)
    run = Run.create("regression", store=store, total_steps=50, width=8)
    argv = ["--home", str(home), "runs", "resume", run.id, "--progress-every", seconds]
    _refused_in_one_line(capsys, argv, "--progress-every must be a positive")
    record = run.record
    assert (record.state, record.step) == ("created", 0)
    assert store.events(run.id, "log") == [] and store.scalars(run.id) == []


def test_failed_logins_wait_twice_as_long_each_time_and_are_forgotten():
    from widgets.login import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(free_attempts=3, max_wait_s=8.0, forget_after_s=600.0,
                             clock=lambda: now[0])  # fmt: skip
    waits = []
    for _ in range(7):
        waits.append(throttle.wait_left("10.0.0.1"))
        now[0] += waits[-1]
        throttle.failed("10.0.0.1")
    assert waits == [0, 0, 0, 1, 2, 4, 8]
    assert throttle.wait_left("10.0.0.1") == 8  # capped
    assert throttle.wait_left("10.0.0.2") == 0  # per client
    now[0] += 600
    assert throttle.wait_left("10.0.0.1") == 0  # forgotten after a quiet while
    throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    assert throttle.wait_left("10.0.0.1") == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--param", "lr=uniform:1:2"], "--param lr: not a knob of RegressionConfig"),
        (["--param", "learning_rate=beta:1:2"], "kind 'beta' unknown"),
        (["--param", "learning_rate=loguniform:0:1"], "LOW must be above 0"),
        (["--param", "width=grid:8,16", "--scheduler", "pbt"], "width is structural"),
        (["--param", "learning_rate=choice:0.1,0.2", "--scheduler", "pb2"], "LOW:HIGH ranges"),
        (["--param", "learning_rate=choice:0.1", "--seeds", "0"], "--seeds must be"),
        ([], "needs at least one --param"),
    ],
)
def test_sweep_refuses_bad_searches_in_one_line_before_recording_anything(
    tmp_path, capsys, arguments, message
):
    home = tmp_path / "home"
    assert main(["--home", str(home), "sweep", "regression", *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert RunStore(home).list_sweeps() == []
