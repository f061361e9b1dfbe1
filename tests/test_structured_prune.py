"""Structured pruning: whole filters and units removed from the document and its weights. Slicing keeps
the network's function exactly when the removed filters were dead; layers whose channels meet a merge or
a model output stay whole, named with the reason; a network where nothing can shrink is refused."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import keras
import numpy as np
import pytest
from keras import layers
from test_gui import node_named, settle, window  # noqa: F401 (the window fixture)

from designer.app.commands import StructuralEdit
from designer.cli import main
from designer.compress import structured
from designer.compress.compressor import project_model
from designer.graph.project import Project, load_project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.saving import save_with_weights
from designer.keras_bridge.weights import apply_weights, collect_weights


def cnn(widths: tuple[int, int, int] = (6, 8, 12)) -> keras.Model:
    """Conv → BatchNorm → Conv → pool → Flatten → Dense → Dense: every way channels travel."""
    image = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", activation="relu", name="conv1")(image)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Conv2D(widths[1], 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Dense(widths[2], activation="relu", name="hidden")(layers.Flatten(name="flat")(x))
    return keras.Model(image, layers.Dense(10, activation="softmax", name="digit")(x))


def kill(model: keras.Model, name: str, dead: list[int]) -> None:
    """Make channels ``dead`` of layer ``name`` output exactly zero (and the smallest by L1 norm)."""
    layer = model.get_layer(name)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
    kernel[..., dead], bias[dead] = 0, 0
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)


def test_removing_dead_filters_keeps_the_function_exactly():
    keras.utils.set_random_seed(1)
    model = cnn()
    bn = model.get_layer("bn")  # normalisation maps a dead channel to zero when its beta and mean are zero
    beta, mean = (keras.ops.convert_to_numpy(w) for w in (bn.beta, bn.moving_mean))
    beta[[0, 4, 5]], mean[[0, 4, 5]] = 0, 0
    bn.beta.assign(beta)
    bn.moving_mean.assign(mean)
    for name, dead in (("conv1", [0, 4, 5]), ("conv2", [1, 2, 3, 7]), ("hidden", list(range(6)))):
        kill(model, name, dead)
    document = import_model(model)
    chosen = structured.plan(document, model, 0.5)
    assert {n: list(k) for n, k in chosen.keep.items()} == {"conv1": [1, 2, 3], "conv2": [0, 4, 5, 6],
                                                            "hidden": [6, 7, 8, 9, 10, 11]}
    assert chosen.whole == {"digit": "its channels are a model output ('digit')"}
    shrunk, arrays = structured.shrink(document, model, collect_weights(model), chosen)
    params = {n.name: n.params for n in shrunk.nodes.values()}
    assert (params["conv1"]["filters"], params["conv2"]["filters"], params["hidden"]["units"]) == (3, 4, 6)
    assert {n.name: n.params for n in document.nodes.values()}["conv1"]["filters"] == 6  # the original is kept
    small = build_model(shrunk)
    assert apply_weights(small, arrays) == []
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    assert np.allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert small.count_params() < 0.5 * model.count_params()


def residual() -> keras.Model:
    image = keras.Input((8, 8, 1), name="image")
    stem = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(image)
    branch = layers.Conv2D(8, 3, padding="same", activation="relu", name="inner")(stem)
    branch = layers.Conv2D(8, 3, padding="same", name="outer")(branch)
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Add(name="add")([stem, branch]))
    return keras.Model(image, layers.Dense(10, activation="softmax", name="digit")(x))


def test_layers_feeding_a_residual_add_stay_whole_and_say_why():
    model = residual()
    chosen = structured.plan(import_model(model), model, 0.5)
    assert list(chosen.keep) == ["inner"]  # inner's channels reach only outer, which is sliced to match
    assert chosen.whole["stem"] == chosen.whole["outer"] == \
        "'add' (Add) combines it with other tensors that would need the same channels"


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory):
    """A small CNN trained briefly on digits, saved as a project with its weights."""
    from designer.data.sources import load_source
    from designer.training.spec import TrainingSpec

    keras.utils.set_random_seed(0)
    spec, model = TrainingSpec(), cnn((16, 32, 64))
    train = load_source("builtin:digits").split(spec.validation_split, spec.test_split, spec.seed).train
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=10, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("structured") / "cnn.kdn"
    save_with_weights(Project(import_model(model), data={"source": "builtin:digits"}), path, collect_weights(model))
    return path


def run_cli(*argv):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(list(argv))
    return code, printed.getvalue()


def test_the_command_writes_a_shrunk_project_with_its_weights(digits_project, tmp_path):
    out = tmp_path / "small.kdn"
    code, printed = run_cli("compress", str(digits_project), "--method", "prune-structured", "--sparsity", "0.5",
                            "--epochs", "6", "-o", str(out), "--json")
    report = json.loads(printed.strip().splitlines()[-1])
    assert code == 0 and report["ok"] and report["path"] == str(out) and report["loss_points"] <= 2.0
    shrunk = load_project(out)
    assert {p.name for p in tmp_path.iterdir()} == {"small.kdn", shrunk.weights}  # no staging left
    assert report["size_bytes"] == out.stat().st_size + (tmp_path / shrunk.weights).stat().st_size
    widths = {n.name: n.params.get("filters", n.params.get("units")) for n in shrunk.document.nodes.values()}
    assert (widths["conv1"], widths["conv2"], widths["hidden"], widths["digit"]) == (8, 16, 32, 10)
    assert "conv1: 16 → 8 filters" in report["notes"] and "hidden: 64 → 32 units" in report["notes"]
    assert shrunk.data == load_project(digits_project).data  # the setup travels with the network
    model = project_model(out)  # every layer's weights fit
    assert report["params"] == model.count_params() < 0.5 * project_model(digits_project).count_params()
    assert report["size_bytes"] < 0.5 * report["baseline_bytes"]


def test_a_network_where_nothing_can_shrink_is_refused_naming_each_layer(tmp_path, capsys):
    image = keras.Input((8, 8, 1), name="image")
    stem = layers.Conv2D(4, 3, padding="same", name="stem")(image)
    x = layers.Flatten(name="flat")(layers.Add(name="add")([image, stem]))
    path = tmp_path / "res.kdn"
    model = keras.Model(image, layers.Dense(10, activation="softmax", name="digit")(x))
    save_with_weights(Project(import_model(model), data={"source": "builtin:digits"}), path, collect_weights(model))
    assert main(["compress", str(path), "--method", "prune-structured", "-o", str(tmp_path / "out.kdn")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no layer can lose filters or units" in err
    assert "stem stays whole: 'add' (Add) combines it" in err and "digit stays whole: its channels are a model" in err
    assert {p.name for p in tmp_path.iterdir()} == {"res.kdn", load_project(path).weights}


@pytest.mark.parametrize("extra, says", [
    (["-o", "small.keras"], "the prune-structured method writes a .kdn file"),
    (["-o", "small.kdn", "--sparsity", "0"], "--sparsity 0: give the share"),
])
def test_bad_requests_exit_2(extra, says, digits_project, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compress", str(digits_project), "--method", "prune-structured", *extra]) == 2
    assert says in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def widths(document) -> dict[str, int]:
    return {n.name: n.params.get("filters", n.params.get("units")) for n in document.nodes.values()}


@pytest.mark.slow  # a real netdesigner process: TensorFlow's import, the fine-tune, both measurements
def test_the_window_prunes_its_saved_network_as_one_undoable_edit(qtbot, window, digits_project,  # noqa: F811
                                                                  tmp_path):
    warnings: list[str] = []
    window.warn = lambda title, text: warnings.append(text)
    path = tmp_path / "cnn.kdn"
    original = load_project(digits_project)
    for name in (digits_project.name, original.weights):
        shutil.copyfile(digits_project.with_name(name), tmp_path / name)
    assert window.open_path(path)
    settle(qtbot, window)
    params = window.analysis.total_params
    hidden = window.canvas.canvas_scene.nodes[node_named(window, "hidden").id]
    assert hidden.params_text == "32,832 params"
    window.undo.push(StructuralEdit(window.state, "nothing", lambda d: None))  # an unsaved change: refused
    assert window.shrink_network(0.3) is None and "Save the project first" in warnings.pop()
    window.undo.setClean()
    window.shrink_network(0.3)
    qtbot.waitUntil(lambda: window.shrinker.process is None, timeout=180_000)
    assert not warnings, warnings
    settle(qtbot, window)
    assert widths(window.project.document) == {**widths(original.document), "conv1": 11, "conv2": 22, "hidden": 45}
    assert window.project.weights != original.weights and path.with_name(window.project.weights).is_file()
    assert window.analysis.total_params < 0.6 * params and hidden.params_text == "15,885 params"
    assert "Pruned conv1: 16 → 11 filters" in window.statusBar().currentMessage()
    window.undo.undo()  # one edit: the network and its weights come back together
    settle(qtbot, window)
    assert widths(window.project.document) == widths(original.document) and window.project.weights == original.weights
    assert window.analysis.total_params == params
    window.undo.redo()
    assert window.save() and widths(load_project(path).document)["conv1"] == 11
    model = project_model(path)  # the weights the saved project names fit every layer of the smaller network
    assert model.get_layer("hidden").kernel.shape == (4 * 4 * 22, 45)
