"""Files that are damaged, hostile or cut short by a crash: each is refused in one line (exit 2) or
left as it was, and nothing hangs, balloons or runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
from keras import layers

from conftest import ROOT
from designer.cli import main
from designer.graph.project import load_project, save_project
from designer.keras_bridge.saving import model_with_weights
from designer.keras_bridge.weights import collect_weights, save_weights_file


def small_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,), name="x")
    return keras.Model(inp, layers.Dense(3, name="out")(layers.Dense(5, name="hidden")(inp)), name="small")


def predictions(model: keras.Model) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(np.linspace(0, 1, 8, dtype="float32").reshape(2, 4)))


def assert_refused(capsys, argv: list[str], *phrases: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdesigner: ") and err.count("\n") == 1, err
    for phrase in phrases:
        assert phrase in err, err
    return err


# ---- import over an existing project: the old pair or the new one, never a mix --------------
def test_a_killed_import_keeps_the_old_pair_and_the_next_one_cleans_up(tmp_path):
    old, new = small_model(1), small_model(2)
    old.save(tmp_path / "old.keras")
    new.save(tmp_path / "new.keras")
    out = tmp_path / "out.kdn"
    # the project as imports wrote it before weights names carried a hash
    assert main(["import", str(tmp_path / "old.keras"), "-o", str(out)]) == 0
    project = load_project(out)
    legacy = tmp_path / "out.weights.npz"
    save_weights_file(collect_weights(old), legacy)
    (tmp_path / project.weights).unlink()
    project.weights = legacy.name
    save_project(project, out)
    # kill -9 at the worst moment: the new weights are on disk, the new project is complete in its temp file
    killer = textwrap.dedent(f"""
        import os, signal
        from designer.graph import project
        replace = project.os.replace
        def replace_then_die(src, dst):
            if str(dst).endswith("out.kdn"):
                os.kill(os.getpid(), signal.SIGKILL)
            replace(src, dst)
        project.os.replace = replace_then_die
        from designer.cli import main
        main(["import", {str(tmp_path / "new.keras")!r}, "-o", {str(out)!r}])
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, "-c", killer], env=env, timeout=600).returncode == -9
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the kill did leave staging files
    survivor = load_project(out)
    assert survivor.weights == legacy.name
    model, skipped = model_with_weights(survivor, tmp_path)
    assert not skipped
    np.testing.assert_array_equal(predictions(model), predictions(old))

    assert main(["import", str(tmp_path / "new.keras"), "-o", str(out)]) == 0
    current = load_project(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["old.keras", "new.keras", "out.kdn", current.weights])
    model, _ = model_with_weights(current, tmp_path)
    np.testing.assert_array_equal(predictions(model), predictions(new))


def test_an_import_that_fails_to_save_leaves_the_old_pair(tmp_path, monkeypatch):
    old, new = small_model(1), small_model(2)
    old.save(tmp_path / "old.keras")
    new.save(tmp_path / "new.keras")
    out = tmp_path / "out.kdn"
    assert main(["import", str(tmp_path / "old.keras"), "-o", str(out)]) == 0
    before = sorted(p.name for p in tmp_path.iterdir())

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("designer.keras_bridge.saving.save_project", full_disk)
    assert main(["import", str(tmp_path / "new.keras"), "-o", str(out)]) == 2  # one line: the disk is full
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    model, _ = model_with_weights(load_project(out), tmp_path)
    np.testing.assert_array_equal(predictions(model), predictions(old))


# ---- weights files, project paths, target folders ---------------------------------------------
@pytest.fixture
def imported(tmp_path):
    small_model(3).save(tmp_path / "m.keras")
    out = tmp_path / "proj.kdn"
    assert main(["import", str(tmp_path / "m.keras"), "-o", str(out)]) == 0
    return out, tmp_path / load_project(out).weights


def test_a_missing_weights_file_is_named(imported, tmp_path, capsys):
    project, weights = imported
    weights.unlink()
    assert_refused(capsys, ["export", str(project), "--format", "keras", "-o", str(tmp_path / "e.keras")],
                   weights.name, "missing", "import the model again")


def test_a_weights_file_with_python_objects_is_not_unpickled(imported, tmp_path, capsys):
    project, weights = imported
    np.savez(weights, **{"hidden|0": np.array([{"payload": 1}], dtype=object)})
    assert_refused(capsys, ["export", str(project), "--format", "keras", "-o", str(tmp_path / "e.keras")],
                   "holds Python objects", "never unpickled")
    weights.write_bytes(b"\x80\x04K\x01.")  # a bare pickle
    assert_refused(capsys, ["export", str(project), "--format", "keras", "-o", str(tmp_path / "e.keras")],
                   "no NumPy arrays")


def test_a_fifo_project_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo.kdn"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "designer", "analyze", str(fifo)], env=env, capture_output=True,
                          text=True, timeout=60)  # before the fix it waited for a writer forever
    assert done.returncode == 2 and "not a regular file" in done.stderr and done.stderr.count("\n") == 1


def test_a_read_only_target_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    small_model(3).save(tmp_path / "m.keras")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    access = os.access
    # root may write anywhere: answer for the folder as the kernel would for anyone else
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(folder) else access(p, mode, **kw))
    assert_refused(capsys, ["import", str(tmp_path / "m.keras"), "-o", str(folder / "p.kdn")], "not writable")
    folder.chmod(0o755)
    assert not any(folder.iterdir())


# ---- .keras archives -------------------------------------------------------------------------
def rewrite_config(source, target, config: bytes | None = None, chunks: int = 0) -> None:
    """A copy of a .keras archive with another config.json: given bytes, or ``chunks`` MiB of spaces."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename != "config.json":
                zout.writestr(item, zin.read(item.filename))
            elif config is not None:
                zout.writestr("config.json", config)
            else:
                with zout.open("config.json", "w") as fh:
                    for _ in range(chunks):
                        fh.write(b" " * 2**20)


def test_a_config_bomb_is_refused_before_it_is_read(tmp_path, capsys):
    small_model(3).save(tmp_path / "m.keras")
    bomb = tmp_path / "bomb.keras"
    rewrite_config(tmp_path / "m.keras", bomb, chunks=65)
    assert bomb.stat().st_size < 2**20
    assert_refused(capsys, ["import", str(bomb), "-o", str(tmp_path / "out.kdn")],
                   "config.json inflates to 68,157,440 bytes", "64 MiB")
    assert not (tmp_path / "out.kdn").exists()


def test_a_config_that_is_not_utf8_says_so(tmp_path, capsys):
    small_model(3).save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        config = z.read("config.json")
    bad = tmp_path / "latin.keras"
    rewrite_config(tmp_path / "m.keras", bad, config.replace(b'"small"', b'"sm\xe4ll"'))
    assert_refused(capsys, ["import", str(bad), "-o", str(tmp_path / "out.kdn")], "config.json is not UTF-8 text")


def test_a_custom_class_is_named_not_its_model(tmp_path, capsys):
    @keras.saving.register_keras_serializable(package="elsewhere")
    class OwnDense(layers.Dense):
        pass

    inp = keras.Input((4,), name="x")
    keras.Model(inp, OwnDense(2, name="special")(inp)).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("elsewhere>OwnDense")  # as on a machine without that package
    err = assert_refused(capsys, ["import", str(tmp_path / "custom.keras"), "-o", str(tmp_path / "out.kdn")],
                         "layer 'special' is a custom class 'OwnDense'")
    assert "Functional" not in err
