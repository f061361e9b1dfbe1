"""What an export starts from: a project with its weights, or a finished training run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from designer.export import reference
from designer.export.report import ExportError
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, ProjectFileError, load_project
from designer.keras_bridge.build import BuildError
from designer.keras_bridge.preprocessing import empty_vocabularies
from designer.keras_bridge.saving import model_with_weights

RUN_PROJECT = "project.kdn"
CHECKPOINTS = ("best.keras", "model.keras")  # a run's best checkpoint, else its last model


@dataclass
class ExportSource:
    model: keras.Model
    document: NetworkDocument
    title: str
    notes: list[str] = field(default_factory=list)
    reference: reference.Reference | None = None  # the imported source model's outputs, while they apply
    project: Project | None = None  # its data and training setup, for work that needs the data (compress)
    folder: Path = Path(".")  # where the project's relative data paths start

    @property
    def data(self) -> dict[str, Any]:
        """The project's data setup (what explain and compress read); empty without a project."""
        return self.project.data if self.project is not None else {}


    def block(self, name: str) -> ExportSource:
        """The nested network ``name`` (a Block node of the document) as a source of its own: a GAN's generator
        or a VAE's decoder exported alone. ``ExportError`` (usage) names the blocks there are."""
        nodes = {node.name: node for node in self.document.nodes.values() if node.block is not None}
        if name not in nodes:
            raise ExportError(f"--network {name}: the network has no block of that name (blocks: "
                              f"{', '.join(nodes) or 'none'}; 'all' exports the whole network)", usage=True)
        block = nodes[name].block
        assert block is not None
        return ExportSource(self.model.get_layer(name), block, self.title,
                            [*self.notes, f"the block {name!r} alone"], None, self.project, self.folder)


# (tracking URI, run id or prefix, folder) -> the folder holding the run's files; LookupError if no such run
FetchRun = Callable[[str, str, Path], Path]


def open_source(source: str, tracking_uri: str | None, fetch_run: FetchRun) -> ExportSource:
    """``source`` is a project file (.kdn), a run's output folder, or a run in the tracking store, whose files
    ``fetch_run`` copies out (the run store belongs to training, which export does not import)."""
    path = Path(source)
    if path.suffix == ".kdn":
        return _from_project(path)
    if path.is_dir():
        return _from_run_folder(path)
    if path.exists() or "/" in source or "\\" in source:
        raise ExportError(f"{source}: not a project file (.kdn) or a run folder", usage=True)
    return _from_run_id(source, tracking_uri or f"sqlite:///{Path('runs.db').resolve()}", fetch_run)


def _from_project(path: Path) -> ExportSource:
    try:
        project = load_project(path)
    except ProjectFileError as exc:
        raise ExportError(str(exc), usage=True) from None
    try:
        model, skipped = model_with_weights(project, path.parent)
    except BuildError as exc:
        raise ExportError(f"the network does not build: {exc}") from None
    except ProjectFileError as exc:  # its weights file
        raise ExportError(str(exc), usage=True) from None
    waiting = empty_vocabularies(model)
    if waiting:
        layer = waiting[0]
        raise ExportError(f"layer {layer.name!r} ({type(layer).__name__}) learns its state from data and has not "
                          "been adapted yet: train the project, then export the run (netdesigner export RUN)",
                          usage=True)
    notes = [f"{name} has no saved weights; it keeps its initial values" for name in skipped]
    if not project.weights:
        notes.append("the project has no trained weights: the export carries the initial values")
        return ExportSource(model, project.document, project.description, notes, project=project, folder=path.parent)
    source, stale = reference.load(path.parent / project.weights, project.document, model)
    return ExportSource(model, project.document, project.description, notes + stale, source, project, path.parent)


def _from_run_folder(folder: Path) -> ExportSource:
    checkpoint = next((folder / name for name in CHECKPOINTS if (folder / name).is_file()), None)
    if not (folder / RUN_PROJECT).is_file() or checkpoint is None:
        raise ExportError(f"{folder}: not a training run's folder (it needs {RUN_PROJECT} and "
                          f"{' or '.join(CHECKPOINTS)})", usage=True)
    try:
        project = load_project(folder / RUN_PROJECT)
        model = keras.saving.load_model(checkpoint, compile=False, safe_mode=True)
    except (ProjectFileError, ValueError, OSError) as exc:
        raise ExportError(f"{folder}: the run's files do not load: {exc}", usage=True) from None
    return ExportSource(model, project.document, project.description, [f"weights from the run's {checkpoint.name}"],
                        project=project, folder=folder)


def _from_run_id(run_id: str, tracking_uri: str, fetch_run: FetchRun) -> ExportSource:
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        raise ExportError(f"{run_id}: not a project file (.kdn), a run folder, or a run in a tracking store "
                          f"(there is no {tracking_uri}; pass --tracking-uri)", usage=True)
    with tempfile.TemporaryDirectory(prefix="netdesigner-export-") as scratch:
        try:
            folder = fetch_run(tracking_uri, run_id, Path(scratch))
        except LookupError as exc:
            raise ExportError(str(exc), usage=True) from None
        return _from_run_folder(folder)  # loads everything into memory before the files go
