"""Project files: lossless round trips, clear errors for bad files, atomic saves."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from designer.graph import project as project_mod
from designer.graph.document import NetworkDocument, PortRef
from designer.graph.project import (
    FORMAT_VERSION,
    Project,
    ProjectFileError,
    load_project,
    project_to_dict,
    save_project,
)


def sample_project() -> Project:
    inner = NetworkDocument("stem")
    i = inner.add_node("InputLayer", "stem_in", {"shape": [8]})
    d = inner.add_node("Dense", "stem_dense", {"units": 4, "kernel_initializer": {"class_name": "HeNormal",
                                                                                "config": {"seed": 3}}})
    inner.connect(i.id, d.id)
    doc = NetworkDocument("tiny")
    inp = doc.add_node("InputLayer", "x", {"shape": [8]}, position=(1.5, -2))
    blk = doc.add_node("Block", "stem", block=inner, note="reused stem", trainable=False)
    out = doc.add_node("Dense", "y", {"units": 1, "activation": None})
    doc.connect(inp.id, blk.id)
    doc.connect(blk.id, out.id)
    doc.outputs = [PortRef(out.id)]
    return Project(doc, "a test", data={"source": "builtin:digits"}, training={"epochs": 3})


def test_save_load_is_lossless(tmp_path):
    proj = sample_project()
    path = tmp_path / "p.kdn"
    save_project(proj, path)
    again = load_project(path)
    assert project_to_dict(again) == project_to_dict(proj)
    save_project(again, tmp_path / "q.kdn")
    assert (tmp_path / "q.kdn").read_bytes() == path.read_bytes()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                       st.recursive(st.none() | st.booleans() | st.integers(-2**62, 2**62)
                                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                                    lambda inner: st.lists(inner, max_size=4)
                                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10),
                       max_size=6),
       st.text(min_size=1, max_size=30).filter(str.strip))
def test_any_params_and_names_round_trip(tmp_path_factory, params, name):
    doc = NetworkDocument(name)
    doc.add_node("Dense", name, params, note=name)
    path = tmp_path_factory.mktemp("rt") / "p.kdn"
    save_project(Project(doc), path)
    assert project_to_dict(load_project(path)) == project_to_dict(Project(doc))


def write(tmp_path, content) -> str:
    path = tmp_path / "bad.kdn"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def good() -> dict:
    return project_to_dict(sample_project())


def mutated(edit) -> dict:
    data = good()
    edit(data)
    return data


@pytest.mark.parametrize(("content", "expected"), [
    ("", "not valid JSON at line 1, column 1"),
    (json.dumps(good())[:200], "looks truncated"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file"),
    ([1, 2], "not a Keras Network Designer project (JSON, but not an object"),
    (mutated(lambda d: d.update(format_version="1")), "format_version: expected a whole number"),
    (mutated(lambda d: d.update(format_version=FORMAT_VERSION + 1)), "newer Keras Network Designer"),
    (mutated(lambda d: d.pop("graph")), "missing field 'graph'"),
    (mutated(lambda d: d.update(colour="red")), "colour: unknown field"),
    (mutated(lambda d: d["graph"]["nodes"][0].update(shape=[1])), "graph.nodes[0].shape: unknown field"),
    (mutated(lambda d: d["graph"]["nodes"][2]["params"].update(units="1" + "0" * 30)), None),
    ('{"format_version": 1, "graph": {"nodes": [{"id": "a", "type": "Dense", "name": "d", '
     '"params": {"units": 1e999}}]}}', "graph.nodes[0].params.units: expected a finite number"),
    ('{"format_version": 1, "graph": {"nodes": [{"id": "a", "type": "Dense", "name": "d", '
     '"params": {"units": 100000000000000000000000}}]}}', "graph.nodes[0].params.units: number"),
    ('{"format_version": 1, "graph": {"nodes": [], "edges": [{"from": ["x", 0], "to": ["y", 0]}]}}',
     "graph.edges[0].from[0]: no node with id 'x'"),
    (mutated(lambda d: d["graph"]["nodes"][1].pop("block")), "graph.nodes[1]: a Block node needs"),
    (mutated(lambda d: d["graph"]["nodes"][1]["block"]["nodes"][0].update(id=7)),
     "graph.nodes[1].block.nodes[0].id: expected a string, got a number"),
    (mutated(lambda d: d["graph"]["nodes"][2].update(id="n1")), "id 'n1' is used by another node"),
    (mutated(lambda d: d["graph"]["nodes"][0].update(position=[0, None])), "position[1]: expected a number"),
    ('{"format_version": 1, "graph": {"nodes": []}}' + " " * 3 + "[" * 100_000, "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "unreadable JSON"),
])
def test_bad_files_get_clear_errors(tmp_path, content, expected):
    path = write(tmp_path, content)
    if expected is None:  # a string where a number belongs is kept: Keras will report it on the node
        load_project(path)
        return
    with pytest.raises(ProjectFileError) as err:
        load_project(path)
    message = str(err.value)
    assert expected in message
    assert "bad.kdn" in message


def test_unknown_layer_types_are_kept(tmp_path):
    data = good()
    data["graph"]["nodes"][2]["type"] = "FancyLayerFromThePlugin"
    proj = load_project(write(tmp_path, data))
    assert [n.type for n in proj.document.nodes.values()][2] == "FancyLayerFromThePlugin"
    save_project(proj, tmp_path / "again.kdn")
    assert "FancyLayerFromThePlugin" in (tmp_path / "again.kdn").read_text()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ProjectFileError, match="no such file"):
        load_project(tmp_path / "nope.kdn")
    with pytest.raises(ProjectFileError, match="is a folder"):
        load_project(tmp_path)


def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "p.kdn"
    save_project(sample_project(), path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project_mod.os, "replace", broken_replace)
    proj = sample_project()
    proj.document.name = "changed"
    with pytest.raises(OSError):
        save_project(proj, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["p.kdn"]  # no temp file left behind


def test_migrations_run_forward(tmp_path, monkeypatch):
    path = write(tmp_path, good())  # a version-1 file
    monkeypatch.setattr(project_mod, "FORMAT_VERSION", 2)
    monkeypatch.setitem(project_mod.MIGRATIONS, 1, lambda d: {**d, "description": "migrated",
                                                              "format_version": 2})
    proj = load_project(path)
    assert proj.description == "migrated"


def test_samples_load(tmp_path):
    for path in SAMPLES.glob("*.kdn"):
        proj = load_project(path)
        save_project(proj, tmp_path / path.name)
        assert json.loads((tmp_path / path.name).read_text()) == json.loads(path.read_text())


def test_saved_files_get_ordinary_permissions_not_private_ones(tmp_path):
    import os
    import stat

    from designer.graph.project import write_text_atomic

    path = tmp_path / "shared.kdn"
    write_text_atomic("{}", path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    path.chmod(0o640)
    write_text_atomic("{}", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # a replaced file keeps its permissions
