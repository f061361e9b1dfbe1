"""A recipe's latent size as one option (resized everywhere, swept like any other) and a judge classifier
scoring generated samples (logged as metrics, usable as a sweep's objective; a wrong judge refused early)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_recipes import _chain, _diagnostics, _run, _save, gan_project, vae_project

from conftest import SAMPLES
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, project_from_dict, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.latent import latent_size, resize_latent, sized_snapshot
from designer.training.recipes.options import recipe_options
from designer.training.spec import TrainingSpec

JUDGE = SAMPLES / "digits_judge.keras"


def _shapes(project: dict) -> dict[str, object]:
    """Every place the latent size lives, read back from the project dict."""
    top = project_from_dict(project).document
    out: dict[str, object] = {n.name: n.params.get("shape") for n in top.nodes.values() if n.is_input}
    for name in ("generator", "encoder", "decoder"):
        block = next((n.block for n in top.nodes.values() if n.name == name), None)
        if block is not None:
            out |= {f"{name}.{n.name}": n.params.get("shape", n.params.get("units")) for n in block.nodes.values()
                    if n.is_input or n.name in ("z_mean", "z_log_var")}
    return out


def test_the_latent_size_is_set_in_every_place_and_the_blocks_still_fit():
    gan = sized_snapshot(gan_project(conditional=True), {"recipe": "gan", "gan": {"latent_dim": 7}})
    assert _shapes(gan) == {"noise": [7], "label": [1], "generator.z": [7], "generator.label": [1]}
    vae = sized_snapshot(vae_project(), {"recipe": "vae", "vae": {"latent_dim": 5}})
    assert _shapes(vae) == {"digit": [8, 8, 1], "encoder.x": [8, 8, 1], "encoder.z_mean": 5,
                            "encoder.z_log_var": 5, "decoder.z": [5]}
    assert _diagnostics(gan) == [] and _diagnostics(vae) == []
    doc = project_from_dict(vae).document
    assert latent_size(doc, "vae", recipe_options("vae", {})) == 5
    unchanged = vae_project()
    assert sized_snapshot(unchanged, {"recipe": "vae"}) is unchanged  # no option, no copy


def test_a_trials_project_holds_the_trials_latent_size():
    from designer.experiments.trial import trial_project

    trial, training = trial_project(project_from_dict(vae_project()), {"training.vae.latent_dim": 3})
    assert training == {"vae": {"latent_dim": 3}}
    assert _shapes(project_to_dict(trial))["decoder.z"] == [3]  # what opens in the designer is what trained


def test_a_latent_size_the_network_cannot_take_is_pinned_to_the_block():
    project = project_from_dict(gan_project())
    doc = project.document
    noise, generator = (next(n for n in doc.nodes.values() if n.name == name) for name in ("noise", "generator"))
    doc.disconnect(doc.in_edges(generator.id)[0])  # the noise now reaches the generator through a Dense of 4
    lift = doc.add_node("Dense", "lift", {"units": 4})
    doc.connect(noise.id, lift.id)
    doc.connect(lift.id, generator.id)
    assert _diagnostics(project_to_dict(project)) == []
    resize_latent(doc, "gan", recipe_options("gan", {}), 9)  # the Inputs take 9; the Dense still gives 4
    assert _diagnostics(project_to_dict(project)) == [
        ("generator", "the block 'generator' takes (9,) but 'lift' gives it (4,): make them equal")]


def test_a_latent_size_that_cannot_be_set_is_refused_by_name():
    project = vae_project()
    for node in project["graph"]["nodes"]:  # z_log_var now comes from an activation, which has no units
        if node["name"] == "encoder":
            inner = next(n for n in node["block"]["nodes"] if n["name"] == "z_log_var")
            inner.update(type="Activation", params={"activation": "linear"})
    doc = project_from_dict(project).document
    with pytest.raises(DocumentFormatError, match=r"the encoder's z_log_var comes from 'z_log_var' \(Activation\), "
                                                   r"which has no units to set: end the encoder in two Dense"):
        resize_latent(doc, "vae", recipe_options("vae", {}), 4)
    with pytest.raises(DocumentFormatError, match=r"training\.gan\.latent_dim: the generator block 'maker'"):
        resize_latent(project_from_dict(gan_project()).document, "gan", recipe_options("gan", {"generator": "maker"}),
                      4)
    for value, says in [(0, "not a latent size"), (2.5, "not a latent size"), (True, "not a latent size")]:
        with pytest.raises(DocumentFormatError, match=says) as caught:
            TrainingSpec.from_dict({"recipe": "vae", "vae": {"latent_dim": value}})
        assert caught.value.where == "training.vae.latent_dim"


def test_scores_measure_confidence_coverage_and_agreement():
    from designer.training.recipes.judge import scores

    sure_and_varied = np.eye(4)[[0, 1, 2, 3] * 5]
    figures = scores(sure_and_varied)
    assert figures["judge_confidence"] == 1 and figures["judge_top_class_share"] == 0.25
    assert figures["judge_class_entropy"] == pytest.approx(math.log(4)) and figures["sample_quality"] == 1
    collapsed = scores(np.tile([0.7, 0.1, 0.1, 0.1], (20, 1)))
    assert collapsed["judge_top_class_share"] == 1 and collapsed["sample_quality"] == 0
    asked = scores(sure_and_varied, asked=np.array([0, 1, 2, 0] * 5))
    assert asked["judge_agreement"] == 0.75 and asked["sample_quality"] == pytest.approx(0.75)
    from designer.experiments.definition import Experiment

    assert all(Experiment(objective=name).maximize for name in figures if name != "judge_top_class_share")
    assert not Experiment(objective="judge_top_class_share").maximize  # a sweep maximises the scores by name


def test_a_wrong_judge_is_refused_with_what_to_fix(tmp_path):
    import keras

    from designer.training.recipes.judge import JudgeError, load_judge

    where = "training.gan.judge"
    with pytest.raises(JudgeError, match=r"no judge file .*model\.save"):
        load_judge("missing.keras", tmp_path, (8, 8, 1), where)
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(JudgeError, match="cannot be loaded as a Keras model"):
        load_judge("notes.keras", tmp_path, (8, 8, 1), where)
    small = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    small.save(tmp_path / "small.keras")
    with pytest.raises(JudgeError, match=r"takes images of \(4, 4, 1\) but the network makes \(8, 8, 1\)"):
        load_judge("small.keras", tmp_path, (8, 8, 1), where)
    critic = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    critic.save(tmp_path / "critic.keras")
    with pytest.raises(JudgeError, match="is not a classifier"):
        load_judge("critic.keras", tmp_path, (8, 8, 1), where)
    assert load_judge(str(JUDGE), tmp_path, (8, 8, 1), where).outputs[0].shape[-1] == 10


def test_the_shipped_judge_recognises_held_out_digits():
    from designer.data.builtin import digits
    from designer.training.recipes.judge import load_judge, probabilities

    data = digits()
    judge = load_judge(str(JUDGE), SAMPLES, (8, 8, 1), "judge")
    assert (probabilities(judge, data.x[1500:]).argmax(axis=1) == data.y[1500:]).mean() > 0.9  # other writers
    assert JUDGE.stat().st_size < 300_000


def test_a_judged_gan_logs_sample_scores_each_epoch_and_at_the_end(tmp_path, trainer):
    project = gan_project(conditional=True, gan={"judge": str(JUDGE), "judge_samples": 40, "judge_each_epoch": True})
    events = _run(project, tmp_path, trainer)
    assert events[-1]["event"] == "finished", events[-1]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert all(0 <= e["sample_quality"] <= 1 and 0 <= e["judge_agreement"] <= 1 for e in epochs)
    final = events[-1]["metrics"]
    assert set(final) == {"judge_confidence", "judge_class_entropy", "judge_top_class_share", "judge_agreement",
                          "sample_quality"}
    assert 0.1 <= final["judge_confidence"] <= 1 and 0 <= final["judge_class_entropy"] <= math.log(10)
    failed = _run(gan_project(gan={"judge": "nowhere.keras"}), tmp_path, trainer)[-1]
    assert failed["cause"] == "data" and "training.gan.judge: no judge file" in failed["message"]
    assert not any(e["event"] == "epoch" for e in _run(gan_project(gan={"judge": "nowhere.keras"}), tmp_path,
                                                       trainer))  # refused before training


@pytest.mark.slow
def test_a_sweep_over_latent_sizes_trains_each_size_and_ranks_by_sample_quality(tmp_path, capsys):
    import keras

    from designer.cli import main
    from designer.training.records import download_run

    path = _save(vae_project(epochs=1, vae={"judge": str(JUDGE), "judge_samples": 50}), tmp_path / "vae.kdn")
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["sweep", str(path), "--param", "training.vae.latent_dim=2,5", "--strategy", "grid",
                 "--objective", "sample_quality", "--tracking-uri", store, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    finished = {e["params"]["training.vae.latent_dim"]: e for e in lines if e["event"] == "trial_finished"}
    assert sorted(finished) == [2, 5]
    assert lines[-1]["best"]["objective"] == max(e["objective"] for e in finished.values())  # maximised
    for size, event in finished.items():
        assert 0 <= event["objective"] <= 1 and event["objective"] == event["metrics"]["sample_quality"]
        files = download_run(store, event["run_id"], tmp_path / f"run{size}")
        network = keras.saving.load_model(files / "model.keras", safe_mode=True)
        assert network.get_layer("decoder").inputs[0].shape[1:] == (size,)
        assert [tuple(o.shape[1:]) for o in network.get_layer("encoder").outputs] == [(size,), (size,)]


def test_the_project_latent_size_reaches_analysis_and_generation(tmp_path, capsys):
    from designer.cli import main

    path = _save(gan_project(gan={"latent_dim": 6}), tmp_path / "gan.kdn")
    assert main(["analyze", str(path), "--json"]) == 0
    nodes = {n["name"]: n for n in json.loads(capsys.readouterr().out)["nodes"]}
    assert nodes["noise"]["output_shape"] == [None, 6]
    assert nodes["generator"]["params"] == (6 * 16 + 16) + (16 * 64 + 64)  # its first Dense takes six numbers
    out = tmp_path / "x.npz"
    assert main(["generate", str(path), "-n", "3", "-o", str(out)]) == 0
    with np.load(out) as saved:
        assert saved["x"].shape == (3, 8, 8, 1)
    wrong = _save(gan_project(gan={"latent_dim": 6, "generator": "maker"}), tmp_path / "wrong.kdn")
    assert main(["analyze", str(wrong)]) == 2
    assert "training.gan.latent_dim: the generator block 'maker'" in capsys.readouterr().err


@pytest.mark.slow  # three runs, each in a worker process of its own
def test_a_judge_can_be_a_classifier_run_of_the_store(tmp_path, capsys):
    from designer.cli import main

    store = f"sqlite:///{tmp_path / 'runs.db'}"
    digits = NetworkDocument("digits_mlp")  # a classifier of 8×8 digits, trained in the store
    _chain(digits, ("InputLayer", "digit", {"shape": [8, 8, 1]}), ("Flatten", "flat", {}),
           ("Dense", "digit_class", {"units": 10, "activation": "softmax"}))
    mlp = _save(project_to_dict(Project(digits, data={"source": "builtin:digits"}, training={"epochs": 2})),
                tmp_path / "mlp.kdn")
    assert main(["train", str(mlp), "--tracking-uri", store, "--json"]) == 0
    classifier = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    path = _save(gan_project(epochs=1, gan={"judge": f"run:{classifier[:8]}", "judge_samples": 20}),
                 tmp_path / "gan.kdn")
    assert main(["train", str(path), "--tracking-uri", store, "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["metrics"]["sample_quality"] <= 1
    wrong = _save(gan_project(epochs=1, gan={"judge": "run:nosuchrun"}), tmp_path / "wrong.kdn")
    assert main(["train", str(wrong), "--tracking-uri", store]) == 2
    err = capsys.readouterr().err
    assert "training.gan.judge" in err and "name a run of this store" in err and err.count("\n") == 1, err
