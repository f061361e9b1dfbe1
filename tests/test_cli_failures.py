"""What the command line does when things go wrong around the work: a killed or interrupted process, a
run store that cannot be used, a full disk, a missing backend, too many workers, a mistyped command."""

from __future__ import annotations

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
import time

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


def test_a_killed_run_takes_its_worker_along_and_an_interrupted_one_is_stopped(tmp_path):
    from designer.training.records import list_runs

    killed_dir, interrupted_dir = tmp_path / "killed", tmp_path / "interrupted"
    procs = [start_training(killed_dir), start_training(interrupted_dir)]  # both at once: one TF start-up's wait
    store = {d: f"sqlite:///{d / 'runs.db'}" for d in (killed_dir, interrupted_dir)}
    workers: list[int] = []
    try:
        for proc in procs:
            wait_for_batch(proc)
        killed, interrupted = procs
        workers = [int(list_runs(store[d])[0]["tags"]["worker_pid"]) for d in (killed_dir, interrupted_dir)]
        killed.kill()
        killed.communicate(timeout=30)  # an orphaned worker would hold the pipes open
        os.killpg(interrupted.pid, signal.SIGINT)  # Ctrl+C in a terminal
        out, err = interrupted.communicate(timeout=120)
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers)

        assert interrupted.returncode == 130
        assert "Traceback" not in err and err.strip().endswith("netdesigner: interrupted"), err
        assert json.loads(out.splitlines()[-1])["cause"] == "stopped"
        [stopped] = list_runs(store[interrupted_dir])
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
