"""Training runs in a spawned worker: events, graceful stop, kill, NaN and bad data, end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import SAMPLES
from designer.cli import main
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, load_project, project_from_dict, project_to_dict
from designer.training.worker import RunHandle, start_run


def mlp_project(units: int = 3, **training) -> dict:
    doc = NetworkDocument("mlp")
    x = doc.add_node("InputLayer", "features", {"shape": [4]})
    h = doc.add_node("Dense", "hidden", {"units": 16, "activation": "relu"})
    out = doc.add_node("Dense", "out", {"units": units, "activation": "softmax"})
    doc.connect(x.id, h.id)
    doc.connect(h.id, out.id)
    return project_to_dict(Project(doc, data={"source": "builtin:iris"},
                                   training={"epochs": 3, "batch_size": 16, **training}))


def collect(run):
    return list(run.events())


def test_a_run_streams_started_batches_epochs_and_finished(tmp_path, trainer):
    events = collect(start_run(mlp_project(), tmp_path, warm=trainer))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("epoch") == 3 and "batch" in kinds
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= epoch.keys()
    assert "test_accuracy" in events[-1]["metrics"] and len(events[-1]["history"]["loss"]) == 3


def test_graceful_stop_within_a_batch(tmp_path, trainer):
    run = start_run(mlp_project(epochs=500, batch_size=4), tmp_path, warm=trainer)
    events = []
    for event in run.events():
        events.append(event)
        if event["event"] == "batch":
            run.stop()
    assert events[-1]["event"] == "failed" and events[-1]["cause"] == "stopped"
    assert sum(e["event"] == "epoch" for e in events) < 500


def test_kill_is_reported(tmp_path):
    run = start_run(mlp_project(epochs=500, batch_size=4), tmp_path)
    for event in run.events():
        if event["event"] == "batch":
            run.kill()
        last = event
    assert last["event"] == "failed" and last["cause"] in ("killed", "crash")


def test_ended_workers_are_reaped_at_once():
    """A killed or closed worker is joined as it ends: before, it stayed a zombie until the window exited."""
    handle = RunHandle()  # killed while it still imports Keras: quick, and the same path as any kill
    pid = handle.process.pid
    handle.kill()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # a zombie keeps its /proc entry
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the killed worker was left a zombie"


def test_nan_loss_fails_with_a_clear_cause(tmp_path, trainer):
    events = collect(start_run(mlp_project(optimizer="sgd", learning_rate=1e30, epochs=5), tmp_path, warm=trainer))
    assert events[-1]["event"] == "failed" and events[-1]["cause"] == "nan"
    assert "lower the learning rate" in events[-1]["message"]


def test_data_that_does_not_fit_the_network_is_a_data_failure(tmp_path, trainer):
    events = collect(start_run(mlp_project(units=5), tmp_path, warm=trainer))
    assert events[-1]["cause"] == "data"
    assert "set the last layer's units to 3" in events[-1]["message"]


@pytest.mark.slow
def test_the_cnn_sample_reaches_95_percent_on_digits_through_the_cli(capsys, tmp_path):
    project = tmp_path / "classic_cnn.kdn"  # a copy, so the run records land in the test's folder
    project.write_text((SAMPLES / "classic_cnn.kdn").read_text())
    assert main(["train", str(project), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "finished"
    assert max(events[-1]["history"]["val_accuracy"]) >= 0.95
    assert load_project(SAMPLES / "classic_cnn.kdn").data["source"] == "builtin:digits"


def test_cli_refuses_bad_options_and_missing_data(tmp_path, capsys):
    assert main(["train", str(SAMPLES / "classic_cnn.kdn"), "--epochs", "0"]) == 2
    assert "training.epochs" in capsys.readouterr().err
    path = tmp_path / "nodata.kdn"
    path.write_text(json.dumps({**mlp_project(), "data": {}}))
    assert main(["train", str(path)]) == 2
    assert "--data builtin:NAME" in capsys.readouterr().err


def test_runs_are_recorded_in_mlflow_and_read_back_with_its_client(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    path = tmp_path / "iris.kdn"
    path.write_text(json.dumps(mlp_project()))
    assert main(["train", str(path), "--json"]) == 0
    finished = json.loads(capsys.readouterr().out.splitlines()[-1])
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs.db'}")
    run = client.get_run(finished["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "finished"
    assert run.data.params["epochs"] == "3" and run.data.params["data_source"] == "builtin:iris"
    assert len(run.data.params["network_hash"]) == 16
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2, 3]
    assert client.get_metric_history(run.info.run_id, "batch_loss")
    assert run.data.metrics["test_accuracy"] == finished["metrics"]["test_accuracy"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.keras", "history.csv", "project.kdn", "evaluation.json"} <= artifacts
    report = finished["evaluation"]
    assert len(report["confusion_matrix"]) == 3 and set(report["per_class"]) == {"setosa", "versicolor", "virginica"}

    bad = tmp_path / "nan.kdn"
    bad.write_text(json.dumps({**mlp_project(optimizer="sgd", learning_rate=1e30, epochs=5), "name": "mlp"}))
    assert main(["train", str(bad), "--json"]) == 1
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    record = client.get_run(failed["run_id"])
    assert record.info.status == "FAILED" and record.data.tags["failure_cause"] == "nan"


def test_a_store_named_on_the_command_line_keeps_the_runs_files_beside_its_database(tmp_path, monkeypatch, capsys):
    """Not in ./mlruns of whatever folder the command ran in (MLflow's default for a store it did not make)."""
    from mlflow.tracking import MlflowClient

    project, store, elsewhere = tmp_path / "project", tmp_path / "store", tmp_path / "elsewhere"
    for folder in (project, store, elsewhere):
        folder.mkdir()
    (project / "iris.kdn").write_text(json.dumps(mlp_project(epochs=1)))
    monkeypatch.chdir(elsewhere)
    uri = f"sqlite:///{store / 'team.db'}"
    assert main(["train", str(project / "iris.kdn"), "--tracking-uri", uri, "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out.splitlines()[-1])["run_id"]
    assert "model.keras" in {a.path for a in MlflowClient(uri).list_artifacts(run_id)}
    assert (store / "mlruns" / run_id / "artifacts" / "model.keras").is_file()
    assert not any(elsewhere.iterdir()) and not (project / "mlruns").exists()


def network_for(name: str) -> dict:
    """A small network shaped for a built-in dataset, as a user would draw it."""
    from designer.data.builtin import load_builtin

    data = load_builtin(name)
    doc = NetworkDocument(name)
    x = doc.add_node("InputLayer", "x", {"shape": list(data.input_shape)})
    flat = doc.add_node("Flatten", "flat", {})
    hidden = doc.add_node("Dense", "hidden", {"units": 16, "activation": "relu"})
    classes = data.num_classes
    out = doc.add_node("Dense", "out", {"units": classes or 1, "activation": "softmax" if classes else "linear"})
    for a, b in ((x, flat), (flat, hidden), (hidden, out)):
        doc.connect(a.id, b.id)
    return project_to_dict(Project(doc, data={"source": f"builtin:{name}"}, training={"epochs": 2}))


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "spirals", "sine"])
def test_every_builtin_dataset_trains(name, tmp_path, trainer):
    events = collect(start_run(network_for(name), tmp_path, warm=trainer))
    assert events[-1]["event"] == "finished", events[-1]
    assert all(v == v for v in events[-1]["metrics"].values())  # no NaN in the test metrics


def test_class_weights_validation_frequency_and_mixed_precision(tmp_path, trainer):
    events = collect(start_run(mlp_project(epochs=4, class_weight={"setosa": 2.0, "2": 0.5}, validation_freq=2,
                                           mixed_precision=True), tmp_path, warm=trainer))
    assert events[0]["precision"] == "mixed_float16" and events[-1]["event"] == "finished", events[-1]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert ["val_loss" in e for e in epochs] == [False, True, False, True]
    balanced = collect(start_run(mlp_project(class_weight="balanced"), tmp_path, warm=trainer))
    assert balanced[-1]["event"] == "finished"


def test_an_unknown_class_in_class_weight_is_a_data_failure(tmp_path, trainer):
    events = collect(start_run(mlp_project(class_weight={"roses": 2.0}), tmp_path, warm=trainer))
    assert events[-1]["cause"] == "data" and "class_weight.roses" in events[-1]["message"]


def test_device_cpu_and_a_missing_gpu(tmp_path):
    events = collect(start_run(mlp_project(device="cpu", epochs=1), tmp_path))
    assert events[0]["device"] == "cpu" and events[-1]["event"] == "finished"
    gpu = collect(start_run(mlp_project(device="gpu", epochs=1), tmp_path))
    if gpu[0]["event"] == "failed":  # no GPU on this machine: said plainly
        assert gpu[0]["cause"] == "device" and "choose auto or cpu" in gpu[0]["message"]


def test_out_of_memory_is_reported_as_such(tmp_path):
    doc = NetworkDocument("huge")
    x = doc.add_node("InputLayer", "features", {"shape": [4]})
    wide = doc.add_node("Dense", "wide", {"units": 200_000})
    out = doc.add_node("Dense", "out", {"units": 3, "activation": "softmax"})
    wider = doc.add_node("Dense", "wider", {"units": 2_000_000})
    doc.connect(x.id, wide.id)
    doc.connect(wide.id, wider.id)  # 200,000 x 2,000,000 floats: 1.6 TB of weights
    doc.connect(wider.id, out.id)
    project = project_to_dict(Project(doc, data={"source": "builtin:iris"}, training={"epochs": 1}))
    events = collect(start_run(project, tmp_path))
    assert events[-1]["event"] == "failed" and events[-1]["cause"] == "oom", events[-1]


def test_checkpoints_are_announced_and_a_stopped_run_resumes(tmp_path, trainer):
    from designer.training.session import RecordedRun

    project = project_from_dict(mlp_project(epochs=500, batch_size=4))
    first = RecordedRun(project, tmp_path, warm=trainer)
    events = []
    for event in first.events():
        events.append(event)
        if event["event"] == "epoch" and event["epoch"] == 2:
            first.stop()
    kinds = {(e["kind"]) for e in events if e["event"] == "checkpoint"}
    assert kinds == {"best", "last"} and events[-1]["cause"] == "stopped"
    again = RecordedRun(project, tmp_path, training={"epochs": 5}, resume=first.run_id, warm=trainer)
    resumed = list(again.events())
    epochs = [e["epoch"] for e in resumed if e["event"] == "epoch"]
    assert resumed[-1]["event"] == "finished", resumed[-1]
    assert epochs[0] >= 3 and epochs[-1] == 5  # went on from the checkpoint, not from scratch
    assert epochs[0] - 1 <= max(e["epoch"] for e in events if e["event"] == "epoch")


def test_resuming_a_run_without_checkpoints_is_refused(tmp_path, capsys):
    project = tmp_path / "mlp.kdn"
    project.write_text((SAMPLES / "tabular_mlp.kdn").read_text())
    assert main(["train", str(project), "--resume", "0123456789abcdef"]) == 2
    assert "resume" in capsys.readouterr().err


def test_text_runs_adapt_their_vectorizer_and_say_so(tmp_path, trainer):
    project = load_project(SAMPLES / "text_lstm.kdn")
    events = collect(start_run(project_to_dict(project), SAMPLES, training={"epochs": 2}, warm=trainer))
    notes = [e["text"] for e in events if e["event"] == "note"]
    assert any("adapted TextVectorization 'vectorize'" in n for n in notes)
    assert events[-1]["event"] == "finished" and events[-1]["metrics"]["test_accuracy"] > 0.5


def test_batch_loss_recovers_each_batchs_own_loss_from_kerass_running_mean():
    import keras
    import numpy as np

    from designer.training.worker import batch_loss

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)).astype("float32"), rng.integers(0, 3, 50)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")  # weights stay as they are
    means: list[float] = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            means.append(logs["loss"])

    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    own = [float(np.mean(keras.losses.sparse_categorical_crossentropy(y[i:i + 16], model(x[i:i + 16]))))
           for i in range(0, 50, 16)]  # batches of 16, 16, 16 and 2: the last weighs less in the mean
    seen = [0, 16, 32, 48, 50]
    recovered = [batch_loss([0.0, *means][i], means[i], seen[i], seen[i + 1]) for i in range(4)]
    assert recovered == pytest.approx(own, rel=1e-4)
    assert means[1:] != pytest.approx(own[1:], rel=1e-2)  # what the plot showed before: the running mean


def test_batch_events_carry_each_batchs_own_loss(tmp_path, trainer):
    """Every batch sent: the batches' losses, weighted by their samples, average to the epoch's loss."""
    events = collect(start_run(mlp_project(epochs=2, batch_size=8), tmp_path, warm=trainer,
                               batch_events_per_second=1e6))
    samples = events[-1]["samples"]
    for epoch in (1, 2):
        batches = [e for e in events if e["event"] == "batch" and e["epoch"] == epoch]
        seen = [0] + [min(e["step"] * 8, samples) for e in batches]
        mean = sum(e["loss"] * (b - a) for e, a, b in zip(batches, seen, seen[1:], strict=False)) / samples
        assert seen[-1] == samples
        assert mean == pytest.approx(next(e["loss"] for e in events if e["event"] == "epoch" and e["epoch"] == epoch),
                                     rel=1e-4)


def test_a_fast_run_sends_a_live_but_bounded_stream_of_batch_events():
    import queue
    import threading
    import time

    import keras
    import numpy as np

    from designer.training.worker import _events_callback

    x, y = np.random.default_rng(0).normal(size=(1200, 4)).astype("float32"), np.zeros(1200, "int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    events: queue.Queue = queue.Queue()
    start = time.perf_counter()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0,
              callbacks=[_events_callback()(events, threading.Event(), 2, 1200, 20)])
    took = time.perf_counter() - start
    sent = [e for e in iter(lambda: events.get_nowait() if not events.empty() else None, None)
            if e["event"] == "batch"]
    assert 1 <= len(sent) <= 20 * took + 1 < 600  # a point every 50 ms at most, not one per batch
    assert sent[0]["step"] < 600 and sent[0]["samples_per_s"] > 0


def test_checkpoints_take_a_small_share_of_a_fast_run_and_the_last_ones_are_kept(tmp_path, trainer):
    """A .keras write takes longer than this network's epoch: one per epoch made such runs half as slow
    again as a plain fit. Fewer writes, but the files at the end are the final and the best model."""
    import keras

    events = collect(start_run(mlp_project(epochs=40, batch_size=64), tmp_path, warm=trainer,
                               output_dir=str(tmp_path / "out")))
    assert events[-1]["event"] == "finished"
    written = [e for e in events if e["event"] == "checkpoint"]
    assert 1 <= sum(e["kind"] == "last" for e in written) < 20
    assert json.loads((tmp_path / "out" / "last.json").read_text())["epoch"] == 40
    losses = [e["val_loss"] for e in events if e["event"] == "epoch"]
    best = min(range(40), key=losses.__getitem__)
    assert [e["epoch"] for e in written if e["kind"] == "best"][-1] == best + 1
    model = keras.saving.load_model(tmp_path / "out" / "best.keras", safe_mode=True)
    assert model.count_params() == events[-1]["parameters"]


def test_a_run_writes_its_weights_for_the_layer_previews_only_while_they_are_shown(tmp_path, trainer):
    """Throttled (at most every PREVIEW_INTERVAL_S), the last epoch's always; the file holds what the run
    trained, keyed as a project's weights are."""
    import keras
    import numpy as np

    from designer.keras_bridge.weights import collect_weights, load_weights_file

    file = tmp_path / "previews.weights.npz"
    quiet = collect(start_run(mlp_project(epochs=4), tmp_path, warm=trainer, preview_weights=str(file)))
    assert quiet[-1]["event"] == "finished" and not any(e["event"] == "weights" for e in quiet)
    assert not file.exists()
    trainer.previews.set()
    try:
        events = collect(start_run(mlp_project(epochs=4), tmp_path, warm=trainer, preview_weights=str(file),
                                   output_dir=str(tmp_path / "out")))
    finally:
        trainer.previews.clear()
    written = [e for e in events if e["event"] == "weights"]
    assert events[-1]["event"] == "finished" and 1 <= len(written) <= 4
    assert written[0]["epoch"] == 1 and written[-1] == {"event": "weights", "epoch": 4, "file": str(file)}
    trained = collect_weights(keras.saving.load_model(tmp_path / "out" / "model.keras"))
    arrays = load_weights_file(file)
    assert set(arrays) == set(trained) == {"hidden|0", "hidden|1", "out|0", "out|1"}
    for key, value in trained.items():
        np.testing.assert_array_equal(arrays[key], value)
