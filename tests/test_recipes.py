"""GAN and VAE recipes: options, training through the worker (events, sample grids, stop and resume on
TensorFlow, JAX and, where it is installed, PyTorch), and generating from the trained network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES
from designer.graph.document import NetworkDocument, PortRef
from designer.graph.project import Project, project_from_dict, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.spec import TrainingSpec
from designer.training.worker import start_run

TORCH = pytest.param("torch", marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                                       reason="torch is not installed (an optional extra)"))


def _chain(doc: NetworkDocument, *layers: tuple[str, str, dict]) -> list[str]:
    ids: list[str] = []
    for type_, name, params in layers:
        node = doc.add_node(type_, name, params)
        if ids:
            doc.connect(ids[-1], node.id)
        ids.append(node.id)
    return ids


def gan_project(conditional: bool = False, **training) -> dict:
    """A tiny GAN on two digit classes: noise (and a class) → generator → discriminator."""
    g, d, top = NetworkDocument("generator"), NetworkDocument("discriminator"), NetworkDocument("tiny_gan")
    g_ids = _chain(g, ("InputLayer", "z", {"shape": [4]}), ("Dense", "h", {"units": 16, "activation": "relu"}),
                   ("Dense", "pixels", {"units": 64, "activation": "sigmoid"}),
                   ("Reshape", "image", {"target_shape": [8, 8, 1]}))
    d_ids = _chain(d, ("InputLayer", "x", {"shape": [8, 8, 1]}), ("Flatten", "flat", {}),
                   ("Dense", "h", {"units": 16, "activation": "relu"}), ("Dense", "logit", {"units": 1}))
    noise = top.add_node("InputLayer", "noise", {"shape": [4]})
    gen = top.add_node("Block", "generator", {}, block=g)
    dis = top.add_node("Block", "discriminator", {}, block=d)
    top.connect(noise.id, gen.id)
    top.connect(gen.id, dis.id)
    if conditional:  # the class joins the noise in the generator and the features in the discriminator
        for doc, ids, at in ((g, g_ids, 1), (d, d_ids, 2)):
            label = _chain(doc, ("InputLayer", "label", {"shape": [1], "dtype": "int32"}),
                           ("Embedding", "label_code", {"input_dim": 2, "output_dim": 4}),
                           ("Flatten", "label_flat", {}))
            joined = doc.add_node("Concatenate", "with_label", {})
            before, after = ids[at - 1], ids[at]
            doc.disconnect(next(e for e in doc.in_edges(after)))
            doc.connect(before, joined.id)
            doc.connect(label[-1], joined.id)
            doc.connect(joined.id, after)
        label = top.add_node("InputLayer", "label", {"shape": [1], "dtype": "int32"})
        top.connect(label.id, gen.id)
        top.connect(label.id, dis.id)
    return project_to_dict(Project(top, data={"source": "builtin:digits", "classes": ["0", "1"]},
                                   training={"recipe": "gan", "epochs": 2, "batch_size": 32, **training}))


def vae_project(**training) -> dict:
    """A tiny VAE: image → encoder → (z_mean, z_log_var); z_mean → decoder → image."""
    e, d, top = NetworkDocument("encoder"), NetworkDocument("decoder"), NetworkDocument("tiny_vae")
    ids = _chain(e, ("InputLayer", "x", {"shape": [8, 8, 1]}), ("Flatten", "flat", {}),
                 ("Dense", "h", {"units": 16, "activation": "relu"}))
    mean, log_var = e.add_node("Dense", "z_mean", {"units": 2}), e.add_node("Dense", "z_log_var", {"units": 2})
    e.connect(ids[-1], mean.id)
    e.connect(ids[-1], log_var.id)
    e.outputs = [PortRef(mean.id), PortRef(log_var.id)]
    _chain(d, ("InputLayer", "z", {"shape": [2]}), ("Dense", "pixels", {"units": 64, "activation": "sigmoid"}),
           ("Reshape", "image", {"target_shape": [8, 8, 1]}))
    image = top.add_node("InputLayer", "digit", {"shape": [8, 8, 1]})
    enc, dec = top.add_node("Block", "encoder", {}, block=e), top.add_node("Block", "decoder", {}, block=d)
    top.connect(image.id, enc.id)
    top.connect(enc.id, dec.id, src_port=0)
    return project_to_dict(Project(top, data={"source": "builtin:digits", "classes": ["0", "1"]},
                                   training={"recipe": "vae", "epochs": 2, "batch_size": 32, **training}))


@pytest.mark.parametrize(("training", "where", "says"), [
    ({"recipe": "diffusion"}, "training.recipe", "one of supervised, gan, vae"),
    ({"recipe": "gan", "gan": {"label_smoothing": 0.7}}, "training.gan.label_smoothing", "[0, 0.5)"),
    ({"recipe": "gan", "gan": {"generatr": "g"}}, "training.gan.generatr", "unknown gan option"),
    ({"recipe": "gan", "gan": {"discriminator_learning_rate": 0}}, "training.gan.discriminator_learning_rate",
     "leave it out to use the training's learning rate"),
    ({"recipe": "vae", "vae": {"beta": -1}}, "training.vae.beta", "not a number"),
    ({"recipe": "vae", "vae": {"encoder": "decoder"}}, "training.vae", "two different blocks"),
    ({"recipe": "vae", "vae": {"reconstruction": "l1"}}, "training.vae.reconstruction", "binary_crossentropy"),
])
def test_recipe_options_are_refused_by_name(training, where, says):
    with pytest.raises(DocumentFormatError) as caught:
        TrainingSpec.from_dict(training)
    assert caught.value.where == where and says in str(caught.value)


def test_recipe_defaults_fill_in_and_stay_out_of_saved_files():
    spec = TrainingSpec.from_dict({"recipe": "vae", "vae": {"beta": 0.5}})
    assert spec.recipe_options == {"encoder": "encoder", "decoder": "decoder", "beta": 0.5,
                                   "reconstruction": "binary_crossentropy", "latent_dim": None, "judge": None,
                                   "judge_samples": 500, "judge_each_epoch": False}
    assert TrainingSpec().to_dict() == {} and TrainingSpec().recipe_options == {}


def _run(project: dict, folder: Path, trainer=None, **overrides) -> list[dict]:
    return list(start_run(project, folder, trainer, output_dir=str(folder / "out"), **overrides).events())


def test_a_gan_trains_through_the_worker_with_both_losses_and_a_grid_each_epoch(tmp_path, trainer):
    import keras

    from designer.training.recipes import generate, interpolate

    events = _run(gan_project(gan={"discriminator_learning_rate": 4e-4}), tmp_path, trainer)
    assert events[-1]["event"] == "finished", events[-1]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2 and all(np.isfinite([e["d_loss"], e["g_loss"]]).all() for e in epochs)
    # each network took one step of its own optimizer per batch, the discriminator at its own rate
    from designer.training.recipes import gan  # noqa: F401  (registers the trainer that last.keras holds)

    optimizers = keras.saving.load_model(tmp_path / "out" / "last.keras", safe_mode=True).optimizer
    batches = 2 * -(-events[-1]["samples"] // 32)
    assert [int(optimizers.generator.iterations), int(optimizers.discriminator.iterations)] == [batches, batches]
    assert float(optimizers.discriminator.learning_rate) == pytest.approx(4e-4)
    assert float(optimizers.generator.learning_rate) == pytest.approx(1e-3)  # the training's learning rate
    samples = [e for e in events if e["event"] == "samples"]
    assert [(e["epoch"], e["file"]) for e in samples] == [(1, "samples/epoch_001.png"), (2, "samples/epoch_002.png")]
    out = tmp_path / "out"
    for name in ("epoch_001.png", "epoch_002.png", "final.png", "interpolation.png"):
        assert (out / "samples" / name).stat().st_size > 100
    network = keras.saving.load_model(out / "model.keras", safe_mode=True)  # the network, not its trainer
    assert {layer.name for layer in network.layers} == {"noise", "generator", "discriminator"}
    training = project_from_dict(gan_project()).training
    x = generate(network, training, 5, seed=3)
    assert x.shape == (5, 8, 8, 1) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(generate(network, training, 5, seed=3), x)
    assert not np.allclose(generate(network, training, 5, seed=4), x)
    line = interpolate(network, training, steps=6, seed=3)
    np.testing.assert_allclose(line[0], generate(network, training, 2, seed=3)[0], atol=1e-6)
    assert line.shape == (6, 8, 8, 1)
    with pytest.raises(ValueError, match="not conditional"):
        generate(network, training, 2, label=1)


def test_a_vae_trains_with_reconstruction_and_kl_and_scores_the_test_split(tmp_path, trainer):
    events = _run(vae_project(), tmp_path, trainer)
    assert events[-1]["event"] == "finished", events[-1]
    epoch = [e for e in events if e["event"] == "epoch"][-1]
    assert {"loss", "reconstruction_loss", "kl_loss", "val_loss"} <= set(epoch)
    assert epoch["loss"] == pytest.approx(epoch["reconstruction_loss"] + epoch["kl_loss"], rel=1e-3)
    assert events[-1]["metrics"]["test_reconstruction_loss"] > 0
    assert any(e["event"] == "checkpoint" and e["kind"] == "best" for e in events)


@pytest.mark.parametrize("backend", ["tensorflow", TORCH])
def test_a_conditional_gan_learns_and_generates_the_class_asked_for(backend, tmp_path, request):
    import keras

    from designer.training.recipes import generate

    project = gan_project(conditional=True, backend=backend)
    events = _run(project, tmp_path, _worker(backend, request))
    assert events[-1]["event"] == "finished", events[-1]
    assert events[0]["backend"] == backend
    network = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    training = project_from_dict(project).training
    assert generate(network, training, 3, label=1).shape == (3, 8, 8, 1)
    with pytest.raises(ValueError, match="conditional"):
        generate(network, training, 3)


def test_data_that_does_not_fit_the_generator_is_a_data_failure(tmp_path, trainer):
    events = _run(gan_project(), tmp_path, trainer, data={"source": "builtin:iris", "classes": None})
    assert events[-1]["cause"] == "data" and "generator makes (8, 8, 1)" in events[-1]["message"]


def test_a_recipe_naming_a_missing_block_is_a_data_failure(tmp_path, trainer):
    events = _run(gan_project(gan={"discriminator": "critic"}), tmp_path, trainer)
    assert events[-1]["cause"] == "data" and "the block 'critic', which this network lacks" in events[-1]["message"]


def _block(project: dict, name: str) -> NetworkDocument:
    return next(n.block for n in project_from_dict(project).document.nodes.values() if n.name == name)


def _diagnostics(project: dict) -> list[tuple[str | None, str]]:
    from designer.keras_bridge.analysis import Analyzer
    from designer.keras_bridge.recipe_checks import recipe_diagnostics
    from designer.training.recipes import recipe_options

    loaded = project_from_dict(project)
    recipe = loaded.training["recipe"]
    found = recipe_diagnostics(loaded.document, Analyzer().analyze(loaded.document), recipe,
                               recipe_options(recipe, loaded.training.get(recipe)))
    names = {n.id: n.name for n in loaded.document.nodes.values()}
    return [(names.get(d.node), d.message) for d in found]


def _edit(project: dict, block: str, layer: str, **params) -> dict:
    """The project with one layer's params changed inside a block."""
    for node in project["graph"]["nodes"]:
        if node["name"] == block:
            inner = next(n for n in node["block"]["nodes"] if n["name"] == layer)
            inner["params"].update(params)
    return project


def test_analysis_pins_blocks_that_do_not_fit_together_to_the_block(capsys, tmp_path):
    from designer.cli import main

    assert _diagnostics(gan_project()) == [] and _diagnostics(vae_project()) == []
    assert _diagnostics(gan_project(conditional=True)) == []
    assert _diagnostics(_edit(gan_project(), "discriminator", "logit", units=10)) == [
        ("discriminator", "the discriminator must end in one unit, a logit for real against generated; it gives "
                          "(10,)")]
    assert _diagnostics(_edit(vae_project(), "decoder", "z", shape=[3])) == [
        ("decoder", "the decoder takes (3,) but the encoder's z_mean has (2,): make the latent sizes equal")]
    assert _diagnostics(_edit(vae_project(), "encoder", "z_log_var", units=3)) == [
        ("encoder", "z_mean (2,) and z_log_var (3,) must have one shape")]
    assert _diagnostics(_edit(_edit(vae_project(), "decoder", "pixels", units=16), "decoder", "image",
                              target_shape=[4, 4, 1])) == [
        ("decoder", "the decoder draws (4, 4, 1) but the encoder takes (8, 8, 1): it must give back an image of the "
                    "same shape")]
    [(where, message)] = _diagnostics(vae_project(vae={"encoder": "coder"}))
    assert where is None and "the block 'coder', which this network lacks (blocks: encoder, decoder)" in message
    wrong = _save(_edit(gan_project(), "discriminator", "logit", units=10), tmp_path / "wrong.kdn")
    assert main(["analyze", str(wrong)]) == 1
    assert "discriminator must end in one unit" in capsys.readouterr().out


@pytest.fixture(scope="module")
def workers():
    """One worker per backend other than TensorFlow for this module's runs, started when first asked for (a
    process start and the backend's import each would cost more)."""
    from designer.training.worker import RunHandle

    handles: dict[str, RunHandle] = {}

    def worker(backend: str) -> RunHandle:
        if backend not in handles:
            handles[backend] = RunHandle(backend, reuse=True)
        return handles[backend]

    yield worker
    for handle in handles.values():
        handle.close()


def _worker(backend: str, request: pytest.FixtureRequest):
    """The warm worker for ``backend``: the shared TensorFlow one or this module's own."""
    if backend == "tensorflow":
        return request.getfixturevalue("trainer")
    return request.getfixturevalue("workers")(backend)


@pytest.mark.parametrize("backend", ["tensorflow", "jax", TORCH])
@pytest.mark.parametrize("make", [gan_project, vae_project], ids=["gan", "vae"])
def test_a_stopped_recipe_run_resumes_from_its_checkpoint(make, backend, tmp_path, request):
    from designer.training.session import RecordedRun

    project = project_from_dict(make(epochs=200, batch_size=64, backend=backend))
    warm = _worker(backend, request)
    first = RecordedRun(project, tmp_path, warm=warm)
    events = []
    for event in first.events():
        events.append(event)
        if event["event"] == "epoch" and event["epoch"] == 2:
            first.stop()
    assert events[-1]["cause"] == "stopped", events[-1]
    assert events[0]["backend"] == backend
    stopped_at = max(e["epoch"] for e in events if e["event"] == "epoch")
    again = RecordedRun(project, tmp_path, training={"epochs": stopped_at + 2}, resume=first.run_id, warm=warm)
    resumed = list(again.events())
    assert resumed[-1]["event"] == "finished", resumed[-1]
    epochs = [e["epoch"] for e in resumed if e["event"] == "epoch"]
    assert epochs[0] >= 3 and epochs[-1] == stopped_at + 2  # went on from the checkpoint
    losses = ("d_loss", "g_loss") if project.training["recipe"] == "gan" else ("loss",)
    first_epoch = next(e for e in events if e["event"] == "epoch")
    last_epoch = [e for e in resumed if e["event"] == "epoch"][-1]
    assert all(np.isfinite(last_epoch[k]) for k in losses)
    if project.training["recipe"] == "gan":  # both optimizers went on counting (and with their moments)
        import keras

        from designer.training.recipes import gan  # noqa: F401  (registers the trainer that last.keras holds)
        from designer.training.records import download_run
        from designer.training.worker import LAST

        saved = keras.saving.load_model(download_run(again.tracking_uri, again.run_id, tmp_path / "again") / LAST,
                                        safe_mode=True).optimizer
        per_epoch = -(-resumed[-1]["samples"] // 64)
        done = [int(saved.generator.iterations), int(saved.discriminator.iterations)]
        assert done[0] == done[1] > 2 * per_epoch, (done, per_epoch)
    if project.training["recipe"] == "vae":  # the trained state came back: it starts where it left off
        assert last_epoch["loss"] < first_epoch["loss"]


def _save(project: dict, path: Path) -> Path:
    from designer.graph.project import save_project

    save_project(project_from_dict(project), path)
    return path


def test_generate_writes_samples_of_a_run_or_a_project_and_refuses_what_cannot_generate(tmp_path, capsys):
    import json

    from designer.cli import main

    vae = _save(vae_project(epochs=1), tmp_path / "vae.kdn")
    assert main(["train", str(vae), "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    out = tmp_path / "x.npz"
    assert main(["generate", run_id[:8], "-n", "7", "--seed", "2", "-o", str(out), "--tracking-uri", store]) == 0
    with np.load(out) as saved:
        assert saved["x"].shape == (7, 8, 8, 1) and "y" not in saved.files
        first = saved["x"].copy()
    assert main(["generate", run_id, "-n", "7", "--seed", "2", "-o", str(out), "--tracking-uri", store]) == 0
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["x"], first)  # the seed fixes the samples
    capsys.readouterr()

    conditional = _save(gan_project(conditional=True), tmp_path / "cgan.kdn")
    assert main(["generate", str(conditional), "-n", "4", "--class", "1", "-o", str(out)]) == 0
    with np.load(out) as saved:
        assert saved["x"].shape == (4, 8, 8, 1) and saved["y"].tolist() == [1, 1, 1, 1]
    assert main(["generate", str(conditional), "-n", "3", "-o", str(out)]) == 0
    with np.load(out) as saved:
        assert saved["y"].tolist() == [0, 1, 0]  # the classes in turn
    capsys.readouterr()

    supervised = SAMPLES / "tabular_mlp.kdn"
    refusals = [
        (["generate", str(vae), "-n", "0", "-o", str(out)], "-n 0: give how many samples"),
        (["generate", str(vae), "-n", "2", "--class", "1", "-o", str(out)], "this VAE is not conditional"),
        (["generate", str(conditional), "-n", "2", "--class", "5", "-o", str(out)], "the classes are 0–1"),
        (["generate", str(supervised), "-n", "2", "-o", str(out)], "trains a supervised network"),
        (["generate", str(vae), "-n", "2", "-o", str(tmp_path / "x.csv")], "give a .npz file"),
    ]
    for argv, says in refusals:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err


def test_a_recipe_project_exports_its_generator_alone_and_verified(tmp_path, capsys):
    import json

    from designer.cli import main

    gan = _save(gan_project(), tmp_path / "gan.kdn")
    for fmt, target in (("onnx", "g.onnx"), ("keras", "g.keras")):
        assert main(["export", str(gan), "--format", fmt, "-o", str(tmp_path / target), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["model_inputs"] == ["z"] and report["outputs"] == ["image"]
        assert "the block 'generator' alone" in report["notes"]
    assert main(["export", str(gan), "--format", "keras", "--network", "all", "-o", str(tmp_path / "all.keras"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == ["discriminator"]
    vae = _save(vae_project(), tmp_path / "vae.kdn")
    assert main(["export", str(vae), "--format", "keras", "--network", "encoder", "-o", str(tmp_path / "e.keras"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == ["z_mean", "z_log_var"]
    assert main(["export", str(vae), "--format", "onnx", "--network", "critic", "-o", str(tmp_path / "c.onnx")]) == 2
    assert "no block of that name (blocks: encoder, decoder" in capsys.readouterr().err


@pytest.mark.slow
def test_sweeps_take_recipe_options_and_score_a_vae_by_its_reconstruction(tmp_path, capsys):
    import json

    from designer.cli import main
    from designer.experiments.definition import Experiment, check_bindings
    from designer.experiments.trial import trial_project

    project = project_from_dict(vae_project(vae={"reconstruction": "squared_error"}))
    check_bindings(Experiment(params={"training.vae.beta": "0.5,1", "training.learning_rate": "log:1e-4:1e-2"}),
                   project.document)
    with pytest.raises(DocumentFormatError, match="no vae option 'betta'"):
        check_bindings(Experiment(params={"training.vae.betta": "1,2"}), project.document)
    _, training = trial_project(project, {"training.vae.beta": 0.5, "training.epochs": 3})
    assert training == {"vae": {"reconstruction": "squared_error", "beta": 0.5}, "epochs": 3}

    path = _save(vae_project(epochs=1), tmp_path / "vae.kdn")
    assert main(["sweep", str(path), "--param", "training.vae.beta=0.1,4", "--strategy", "grid", "--workers", "1",
                 "--objective", "val_reconstruction_loss", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    finished = [e for e in lines if e["event"] == "trial_finished"]
    assert sorted(e["params"]["training.vae.beta"] for e in finished) == [0.1, 4]
    assert all(e["objective"] > 0 for e in finished)
