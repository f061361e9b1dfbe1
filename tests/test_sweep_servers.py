"""Sweeps on several machines join one study: a real PostgreSQL server keeps the Optuna study and a real
MLflow tracking server the runs, both on 127.0.0.1, and two ``netdesigner sweep`` processes share them.

PostgreSQL's server comes from the system (Debian's ``postgresql`` package: ``.ci/run`` installs it). It
refuses to run as root, so as root the server runs as the package's ``postgres`` user."""

from __future__ import annotations

import glob
import itertools
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from designer.experiments.definition import Experiment
from designer.experiments.study import default_storage, open_study
from designer.experiments.sweep import Sweep
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, save_project
from designer.training.records import RunRecorder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not start in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


def _exited(process: subprocess.Popen, what: str, log: Path) -> bool:
    """Not ready yet (False), or fail the test with the server's log if it has died."""
    if process.poll() is not None:
        pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    return False


def _stop(process: subprocess.Popen, how: signal.Signals) -> None:
    """End a server and everything it started (it leads its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, how)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _postgres_program(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail("PostgreSQL's server is not installed: apt-get install postgresql (as the README's test "
                    "command does)")
    return found


@pytest.fixture
def postgres():
    """A fresh PostgreSQL server on a free loopback port; its URL for SQLAlchemy (psycopg2)."""
    import psycopg2

    folder = Path(tempfile.mkdtemp(prefix="netdesigner-pg-"))  # not pytest's tmp_path: the server's user must reach it
    user = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}
    if user:
        shutil.chown(folder, "postgres", "postgres")
    log = folder / "server.log"
    subprocess.run([_postgres_program("initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, cwd=folder, **user)
    port = _free_port()
    with open(log, "wb") as out:
        server = subprocess.Popen([_postgres_program("postgres"), "-D", str(folder / "data"), "-h", "127.0.0.1",
                                   "-p", str(port), "-k", str(folder), "-c", "fsync=off"],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True, **user)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        try:
            psycopg2.connect(url, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return _exited(server, "postgres", log)

    try:
        _wait(ready, "PostgreSQL", log)
        yield url
    finally:
        _stop(server, signal.SIGINT)  # PostgreSQL's fast shutdown: it does not wait for clients to leave
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mlflow_server(tmp_path):
    """``mlflow server`` on a free loopback port, with its own run store and artifact folder."""
    port, log = _free_port(), tmp_path / "mlflow.log"
    # Job execution starts a pool of consumer processes this test has no use for (and 2 cores to share).
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                                   "--artifacts-destination", str(tmp_path / "artifacts")],
                                  stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return _exited(server, "the mlflow server", log)

    try:
        _wait(ready, "the MLflow server", log)
        yield uri
    finally:
        _stop(server, signal.SIGKILL)  # its store is thrown away with tmp_path


def _lines(index: int, process: subprocess.Popen, into: queue.Queue) -> None:
    """Pass a process's output on, line by line, then "" at its end."""
    for line in process.stdout:
        into.put((index, line))
    into.put((index, ""))


def _alive(pid: int) -> bool:
    """Running, not merely an unreaped zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _iris(folder: Path, experiment: Experiment) -> Project:
    """A tiny iris classifier with one experiment, saved so the command line can open it."""
    doc = NetworkDocument("iris_mlp")
    ids = [doc.add_node(t, n, p).id for t, n, p in (
        ("InputLayer", "features", {"shape": [4]}), ("Dense", "hidden", {"units": 8, "activation": "relu"}),
        ("Dense", "species", {"units": 3, "activation": "softmax"}))]
    for a, b in itertools.pairwise(ids):
        doc.connect(a, b)
    project = Project(doc, data={"source": "builtin:iris"}, experiments={experiment.name: experiment.to_dict()},
                      training={"epochs": 1, "batch_size": 32, "jit_compile": False})
    save_project(project, folder / "iris.kdn")
    return project


def test_two_sweeps_on_one_study_survive_a_killed_machine(tmp_path, postgres, mlflow_server):
    """Two sweeps share a 6-trial budget; one is killed (-9) with a trial in flight. The other sees that
    trial's heartbeat go stale, runs its values again and ends with exactly 6 finished trials, each
    recorded once in MLflow, and the lost run marked as such."""
    _iris(tmp_path, Experiment(name="team", params={"hidden.units": "int:2:32",
                                                    "training.learning_rate": "log:1e-3:1e-1"},
                               strategy="random", trials=6, objective="val_accuracy", heartbeat_s=2))
    command = [sys.executable, "-m", "designer", "sweep", str(tmp_path / "iris.kdn"), "--experiment", "team",
               "--storage", postgres, "--tracking-uri", mlflow_server, "--json"]
    machines = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
                for _ in range(2)]
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    for index, process in enumerate(machines):
        threading.Thread(target=_lines, args=(index, process, lines), daemon=True).start()
    events: list[list[dict]] = [[], []]
    ended: set[int] = set()
    lost, doomed = None, -1
    try:
        while 1 - doomed not in ended and len(ended) < 2:
            index, line = lines.get(timeout=300)
            if not line:
                ended.add(index)
                continue
            event = json.loads(line)
            events[index].append(event)
            if lost is None and event["event"] == "trial_started":
                lost, doomed = event, index
                os.kill(machines[index].pid, signal.SIGKILL)  # the first machine with a trial in flight goes away
        assert lost is not None, "neither sweep started a trial"
        survivor = machines[1 - doomed]
        survivor.wait(timeout=60)
    finally:
        for process in machines:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert survivor.returncode == 0
    events = events[1 - doomed]
    deadline = time.monotonic() + 20
    while _alive(lost["pid"]) and time.monotonic() < deadline:  # its worker does not train on for nobody
        time.sleep(0.2)
    assert not _alive(lost["pid"])

    study = optuna.load_study(study_name="iris_mlp/team", storage=postgres)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 6 and events[-1]["trials"]["complete"] == 6
    assert study.trials[lost["trial"]].state.name == "FAIL"
    [retry] = [t for t in study.trials if t.system_attrs.get("failed_trial") == lost["trial"]]
    assert retry.state.name == "COMPLETE" and retry.params == study.trials[lost["trial"]].params
    started = {e["trial"] for e in events if e["event"] == "trial_started"}
    assert retry.number in started  # the survivor ran it
    assert [(e["trial"], e["cause"]) for e in events if e["event"] == "trial_failed"] == [(lost["trial"], "lost")]

    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("iris_mlp/team").experiment_id])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert sorted(r.info.run_id for r in finished) == sorted(t.user_attrs["run_id"] for t in complete)
    assert sorted(int(r.data.tags["trial"]) for r in finished) == sorted(t.number for t in complete)
    for trial in complete:
        run = client.get_run(trial.user_attrs["run_id"])
        assert run.data.metrics["val_accuracy"] == pytest.approx(trial.value)
    [gone] = [r for r in runs if r.info.run_id == lost["run_id"]]
    assert gone.info.status == "KILLED" and gone.data.tags["failure_cause"] == "lost"
    assert len(runs) == 7


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # the other machine asks as the sweep does
def test_a_sweep_with_nothing_to_start_waits_for_another_machines_trial_and_runs_it_when_lost(tmp_path):
    """Five trials done and the sixth running on a machine that then goes silent: a sweep started now has
    nothing left to start, yet must not end with five. Once the trial's heartbeats stop, it runs its values."""
    experiment = Experiment(name="team", params={"hidden.units": "2,4,6,8,10,12"}, strategy="grid",
                            objective="val_accuracy", heartbeat_s=1)
    project = _iris(tmp_path, experiment)
    [units] = experiment.hyperparameters()
    other = open_study(experiment, "iris_mlp/team", default_storage(tmp_path), epochs=1)  # the other machine
    for _ in range(5):
        trial = other.ask()
        units.suggest(trial)
        other.tell(trial, 0.5)
    lost = other.ask()
    lost_units = units.suggest(lost)
    other._storage.record_heartbeat(lost._trial_id)  # then nothing more from it
    events = list(Sweep(project, tmp_path, experiment).run())
    assert [(e["trial"], e["cause"]) for e in events if e["event"] == "trial_failed"] == [(lost.number, "lost")]
    assert [e["params"] for e in events if e["event"] == "trial_started"] == [{"hidden.units": lost_units}]
    assert events[-1]["trials"]["complete"] == 6
    study = optuna.load_study(study_name="iris_mlp/team", storage=default_storage(tmp_path))
    assert sorted(t.params["hidden.units"] for t in study.trials if t.state.name == "COMPLETE") == [2, 4, 6, 8, 10, 12]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_trial_asked_for_past_the_budget_by_a_racing_sweep_is_given_back(tmp_path, monkeypatch):
    """Another machine takes the budget's last trial between this sweep's count and its ask: the trial this
    sweep is handed (numbered after it) is given back unrun instead of running one trial too many."""
    experiment = Experiment(name="team", params={"hidden.units": "2,4"}, strategy="grid", objective="val_accuracy")
    project = _iris(tmp_path, experiment)
    [units] = experiment.hyperparameters()
    other = open_study(experiment, "iris_mlp/team", default_storage(tmp_path), epochs=1)
    ask = optuna.Study.ask

    def other_machine_first(self, *args, **kwargs):
        if self is not other and len(other.trials) < 2:
            trial = ask(other)
            units.suggest(trial)
            other.tell(trial, 0.5)
        return ask(self, *args, **kwargs)

    trial = other.ask()
    units.suggest(trial)
    other.tell(trial, 0.5)
    monkeypatch.setattr(optuna.Study, "ask", other_machine_first)
    events = list(Sweep(project, tmp_path, experiment).run())
    assert not [e for e in events if e["event"] == "trial_started"]
    study = optuna.load_study(study_name="iris_mlp/team", storage=default_storage(tmp_path))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL"]


def test_sweeps_opening_a_new_database_together_all_join_one_study(postgres):
    """Machines started at the same moment all create the new database's tables; PostgreSQL lets one
    through and tells the others of a duplicate type. Every one of them must still open the study."""
    experiment = Experiment(name="team", params={"hidden.units": "4,8"})
    barrier, studies, errors = threading.Barrier(4), [], []

    def machine() -> None:
        barrier.wait()
        try:
            studies.append(open_study(experiment, "iris_mlp/team", postgres, epochs=1))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=machine) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({study._study_id for study in studies}) == 1


def test_a_sweep_that_loses_the_race_to_create_the_mlflow_experiment_uses_the_winners(tmp_path, monkeypatch):
    """Another machine creates the run records' experiment between this one's look-up and its create."""
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    first = RunRecorder(uri, "iris_mlp/team")
    look_up = MlflowClient.get_experiment_by_name
    looked: list[str] = []

    def too_early(self, name):  # the first look-up comes just before the other machine's create
        looked.append(name)
        return None if len(looked) == 1 else look_up(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", too_early)
    assert RunRecorder(uri, "iris_mlp/team").experiment_id == first.experiment_id
