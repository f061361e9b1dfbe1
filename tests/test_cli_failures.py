"""What the command line does when things go wrong around the work: a killed or interrupted process, a
run store that cannot be used, a full disk, a missing backend, too many workers, a mistyped command."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, SAMPLES
from designer.cli import main
from designer.training.liveness import alive, start_mark

MLP = SAMPLES / "tabular_mlp.kdn"


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("netdesigner: ") and err.count("\n") == 1, err
    return err


# ---- a killed or interrupted netdesigner (item 6) ----------------------------------------------
def start_training(folder):
    folder.mkdir()
    shutil.copy(MLP, folder)
    return subprocess.Popen([sys.executable, "-m", "designer", "train", str(folder / MLP.name), "--epochs", "100000",
                             "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a shell gives a command


def wait_for_batch(proc) -> None:
    for line in proc.stdout:
        if json.loads(line)["event"] == "batch":
            return
    raise AssertionError(proc.stderr.read())


def test_a_killed_run_takes_its_worker_along_and_an_interrupted_or_terminated_one_is_stopped(tmp_path):
    from designer.training.records import list_runs

    folders = killed_dir, interrupted_dir, terminated_dir = tmp_path / "killed", tmp_path / "int", tmp_path / "term"
    procs = [start_training(d) for d in folders]  # all at once: one TF start-up's wait
    store = {d: f"sqlite:///{d / 'runs.db'}" for d in folders}
    workers: list[int] = []
    try:
        for proc in procs:
            wait_for_batch(proc)
        killed, interrupted, terminated = procs
        workers = [int(list_runs(store[d])[0]["tags"]["worker_pid"]) for d in folders]
        killed.kill()
        killed.communicate(timeout=30)  # an orphaned worker would hold the pipes open
        os.killpg(interrupted.pid, signal.SIGINT)  # Ctrl+C in a terminal
        os.killpg(terminated.pid, signal.SIGTERM)  # a service manager or batch scheduler stopping the job
        ended = {proc: proc.communicate(timeout=120) for proc in (interrupted, terminated)}
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers)

        for proc, code, said, folder in ((interrupted, 130, "interrupted", interrupted_dir),
                                         (terminated, 143, "terminated", terminated_dir)):
            out, err = ended[proc]
            assert proc.returncode == code, err
            assert "Traceback" not in err and err.strip().endswith(f"netdesigner: {said}"), err
            assert json.loads(out.splitlines()[-1])["cause"] == "stopped"
            [stopped] = list_runs(store[folder])
            assert stopped["status"] == "stopped"

        [dead] = list_runs(store[killed_dir])  # reading the store settles the run nobody can finish
        assert dead["status"] == "failed" and "ended without recording a result" in dead["failure"]
        from mlflow.tracking import MlflowClient

        assert MlflowClient(store[killed_dir]).get_run(dead["run_id"]).info.status == "FAILED"
    finally:  # without the fix the workers outlive their parents (and hold the pipes): end them all
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()


def test_a_pid_counts_as_alive_only_for_the_process_that_had_it():
    assert alive(os.getpid(), start_mark(os.getpid()))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    if sys.platform.startswith("linux"):
        assert not alive(os.getpid(), "1")  # the same pid, started at another time: a reused pid
        while alive(ended.pid):  # exited but not yet reaped: a zombie is no longer alive
            time.sleep(0.05)
    ended.wait()
    assert not alive(ended.pid)


# ---- a run store that cannot be used, a full disk, a missing backend (item 7) -----------------------
def test_a_corrupt_or_locked_store_is_one_line(tmp_path, capsys):
    corrupt = tmp_path / "runs.db"
    corrupt.write_bytes(os.urandom(4096))
    assert main(["runs", "list", "--tracking-uri", f"sqlite:///{corrupt}"]) == 2
    assert "is not a readable run store" in one_line(capsys)
    project = tmp_path / MLP.name
    shutil.copy(MLP, project)
    assert main(["train", str(project)]) == 2  # its default store is that runs.db
    assert "move it aside" in one_line(capsys)

    locked = tmp_path / "locked.db"
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, as far as SQLite can tell
    try:
        started = time.monotonic()
        assert main(["runs", "list", "--tracking-uri", f"sqlite:///{locked}"]) == 2
        assert "is locked by another process" in one_line(capsys)
        assert time.monotonic() - started < 30
    finally:
        holder.close()


def test_a_dead_tracking_server_is_one_line_within_seconds(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = tmp_path / MLP.name
    shutil.copy(MLP, project)
    for argv in (["train", str(project)], ["runs", "list"]):
        started = time.monotonic()
        assert main([*argv, "--tracking-uri", f"http://127.0.0.1:{port}"]) == 2
        assert time.monotonic() - started < 10
        assert f"cannot reach the tracking server http://127.0.0.1:{port}" in one_line(capsys)


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import tempfile

    from mlflow.tracking import MlflowClient

    project = tmp_path / MLP.name
    shutil.copy(MLP, project)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "scratch"))

    monkeypatch.setattr(MlflowClient, "create_run", full)  # the run store's disk
    assert main(["train", str(project)]) == 2
    assert "no space left on the device that holds" in one_line(capsys)
    monkeypatch.undo()
    monkeypatch.setattr(tempfile, "mkdtemp", full)  # the run's scratch folder
    assert main(["train", str(project)]) == 2
    assert "no space left on the device writing" in one_line(capsys)


def test_a_backend_that_is_not_installed_names_its_package(tmp_path, capsys, monkeypatch):
    if importlib.util.find_spec("jax") is not None:  # where jax is installed, take it away
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    project = tmp_path / MLP.name
    shutil.copy(MLP, project)
    started = time.monotonic()
    assert main(["train", str(project), "--backend", "jax"]) == 2
    assert "the jax backend is not installed here: pip install jax" in one_line(capsys)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "runs.db").exists()  # refused before any run was recorded


@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(name) is None,
                                                reason=f"{name} is not installed")) for name in ("jax", "torch")])
def test_text_on_a_backend_without_string_tensors_is_refused_in_one_line(backend, tmp_path, capsys):
    project = tmp_path / "text_lstm.kdn"
    shutil.copy(SAMPLES / project.name, project)
    assert main(["train", str(project), "--backend", backend, "--epochs", "1"]) == 2
    assert (f"this data is text, and only the tensorflow backend has string tensors (not {backend}): train it on "
            "the tensorflow backend (--backend tensorflow)") in one_line(capsys)


def unanswered_port() -> tuple[socket.socket, int]:
    """A server that takes connections and never answers (the kernel completes the handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server, server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def locked(path):
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, as far as SQLite can tell
    try:
        yield path
    finally:
        holder.close()


# ---- the sweeps' study store, runs looked up by export, a full disk while training (#15, the rest) -----------
def test_a_corrupt_locked_or_unreachable_study_store_is_one_line(tmp_path, capsys):
    project = tmp_path / MLP.name
    shutil.copy(MLP, project)
    sweep = ["sweep", str(project), "--param", "hidden.units=4,8", "--epochs", "1"]
    (tmp_path / "sweeps.db").write_bytes(os.urandom(4096))  # the default study store
    assert main(sweep) == 2
    assert f"{tmp_path / 'sweeps.db'} is not a readable study store (corrupt, or not an Optuna database); " \
           "move it aside" in one_line(capsys)
    with locked(tmp_path / "locked.db") as path:
        started = time.monotonic()
        assert main([*sweep, "--storage", f"sqlite:///{path}"]) == 2
        assert "locked.db is locked by another process" in one_line(capsys)
        assert time.monotonic() - started < 30
    started = time.monotonic()
    port = closed_port()
    assert main([*sweep, "--storage", f"postgresql://me:secret@127.0.0.1:{port}/x"]) == 2
    assert f"cannot reach the database server postgresql://me:***@127.0.0.1:{port}/x (connection refused); " \
           "start it or give another --storage" in one_line(capsys)
    assert time.monotonic() - started < 10


def test_a_database_server_that_never_answers_is_given_up_within_seconds(tmp_path):
    from designer.experiments.definition import Experiment
    from designer.experiments.study import open_study
    from designer.training.stores import StoreError

    server, port = unanswered_port()
    outcome: list[BaseException] = []
    experiment = Experiment(name="e", params={"hidden.units": "4,8"})

    def open_it():
        try:
            open_study(experiment, "p/e", f"postgresql+psycopg://me@127.0.0.1:{port}/x", 1)
        except BaseException as exc:
            outcome.append(exc)

    with server:
        started = time.monotonic()
        opener = threading.Thread(target=open_it, daemon=True)  # without a timeout it would wait for ever
        opener.start()
        opener.join(30)
    assert outcome and time.monotonic() - started < 15
    assert isinstance(outcome[0], StoreError) and "does not answer" in str(outcome[0]), outcome[0]


def test_export_and_runs_show_of_a_run_in_an_unusable_store_are_one_line(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(os.urandom(4096))
    port = closed_port()
    with locked(tmp_path / "locked.db") as held:
        for uri, said in ((f"sqlite:///{corrupt}", "is not a readable run store"),
                          (f"sqlite:///{held}", "is locked by another process"),
                          (f"http://127.0.0.1:{port}", f"cannot reach the tracking server http://127.0.0.1:{port}")):
            for argv in (["export", "0123abcd", "--format", "keras", "-o", str(tmp_path / "m.keras")],
                         ["runs", "show", "0123abcd"]):
                started = time.monotonic()
                assert main([*argv, "--tracking-uri", uri]) == 2, argv
                assert said in one_line(capsys)
                assert time.monotonic() - started < 30
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full, whose writes fail with ENOSPC")
def test_a_full_disk_in_the_worker_fails_the_run_naming_the_folder_to_clear(tmp_path, trainer):
    from designer.graph.project import load_project, project_to_dict
    from designer.training.worker import BEST, LAST, start_run

    outputs = tmp_path / "scratch" / "run"  # as the run's scratch folder in the temporary folder
    outputs.mkdir(parents=True)
    for name in (BEST, LAST):
        (outputs / name).symlink_to("/dev/full")  # the kernel's own "no space left on device"
    run = start_run(project_to_dict(load_project(MLP)), tmp_path, trainer, training={"epochs": 1},
                    output_dir=str(outputs))
    last = list(run.events())[-1]
    assert (last["event"], last["cause"]) == ("failed", "disk"), last
    assert last["message"] == f"disk full: free space in {outputs.parent}"


def full_disk_under(folder, monkeypatch) -> None:
    """Copies into ``folder`` (where MLflow keeps a local run's files) fail as on a full disk."""
    real = shutil.copy2

    def copy2(src, dst, *args, **kwargs):
        if str(dst).startswith(str(folder)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src), None, str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", copy2)


def test_a_full_disk_for_the_runs_files_fails_the_run_in_one_line(tmp_path, capsys, monkeypatch):
    from designer.training.records import list_runs

    project = tmp_path / MLP.name
    shutil.copy(MLP, project)
    full_disk_under(tmp_path / "mlruns", monkeypatch)
    assert main(["train", str(project), "--epochs", "1"]) == 1
    assert one_line(capsys).startswith(f"netdesigner: disk full: free space in {tmp_path / 'mlruns'}")
    [run] = list_runs(f"sqlite:///{tmp_path / 'runs.db'}")
    assert (run["status"], run["tags"]["failure_cause"]) == ("failed", "disk")


# ---- too many workers (item 8) ------------------------------------------------------------------
def test_sweep_workers_are_capped_by_cores_and_memory(tmp_path, capsys, monkeypatch):
    from designer.experiments import sweep as sweep_module
    from designer.experiments import workers

    monkeypatch.setattr(workers, "available_memory", lambda: 3 * 2**30)  # room for two workers
    count, why = workers.worker_limit(1000)
    assert count == min(2, workers.usable_cores()) and "usable cores" in why and "3.0 GiB" in why
    assert workers.worker_limit(1) == (1, "")

    from designer.cli import _SweepReport
    from designer.experiments.definition import Experiment
    from designer.graph.project import load_project

    experiment = Experiment(name="many", params={"hidden.units": "4,8,16"}, strategy="grid", workers=1000)
    sweep = sweep_module.Sweep(load_project(MLP), tmp_path, experiment)
    events = sweep.run()
    try:
        started = next(events)
        assert len(sweep.slots) == count  # processes actually started
    finally:
        for slot in sweep.slots:
            slot.handle.kill()
    assert (started["workers"], started["workers_requested"], started["workers_limit"]) == (count, 1000, why)
    _SweepReport(as_json=True).show(started)
    assert capsys.readouterr().err == f"netdesigner: {count} workers, not 1000: {why}\n"


# ---- a mistyped command, a file that is not a project (item 17) -----------------------------------
def test_a_mistyped_command_gets_a_suggestion(capsys):
    assert main(["trian", "x.kdn"]) == 2
    assert "'trian' is not a command or a project file; did you mean 'train'?" in one_line(capsys)
    assert main(["frobnicate"]) == 2
    assert "the commands are gui, layers" in one_line(capsys)


def test_a_file_that_is_not_json_is_not_a_project(tmp_path, capsys):
    notes = tmp_path / "notes.kdn"
    notes.write_text("shopping list: milk, eggs\n", encoding="utf-8")
    assert main(["analyze", str(notes)]) == 2
    assert one_line(capsys).startswith(f"netdesigner: {notes}: not a Keras Network Designer project (not valid JSON")
