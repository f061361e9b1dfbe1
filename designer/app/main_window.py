"""The designer window: palette, canvas, inspector and analysis around one undoable document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Qt, and the dialogs, are reached through their modules where used: naming them at import would build
# their enums (Qt alone has 104, ~45 ms) before the window can show.
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from designer.app.commands import EditNode, EditorState, EditSections, MoveNodes, StructuralEdit
from designer.app.start_page import StartPage
from designer.app.theme import action_icon, apply_theme
from designer.graph.document import GraphError, NetworkDocument, Node
from designer.graph.grouping import group, ungroup
from designer.graph.layout import auto_layout, free_offset
from designer.graph.project import (
    SUFFIX,
    Project,
    ProjectFileError,
    copy_atomic,
    load_project,
    project_from_dict,
    project_to_dict,
    save_project,
)
from designer.graph.serialize import document_from_dict, document_to_dict
from designer.training.stores import default_tracking_uri
from designer.wording import COST_MEASURES, macs_text, plural, size_text

if TYPE_CHECKING:  # the event type alone costs ~4 ms of start-up to build
    from PySide6.QtGui import QCloseEvent

    from designer.app.training_dock import TrainingDock

APP_NAME = "Keras Network Designer"
CLIPBOARD_MIME = "application/x-kdn-nodes"
UNTITLED = "untitled"  # a new network's name until it is first saved
LOADING_PREVIEW_DATA = "Layer previews: loading the data…"  # cleared when the data has come
TORCH_SUFFIXES = (".pt2", ".pt")  # PyTorch files, which run code when loaded (onnx_import.torch_source loads Keras)


def autosave_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
    return Path(base) / "autosave"


def unsaved_folder() -> Path:
    """The folder of a project not saved yet: its runs, and the weights an import brought."""
    folder = autosave_dir().parent / "unsaved-runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def autosave_path(path: Path | None) -> Path:
    """Where the unsaved work on ``path`` (or on an untitled network) is set aside."""
    import hashlib  # here, not at the top: OpenSSL's load is ~6 ms of start-up

    key = str(path.resolve()) if path else "untitled"
    return autosave_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}{SUFFIX}"


class MainWindow(QMainWindow):
    # New, Open, Import: every view bound to the open project (the Training tab's data, curves, results
    # and runs, the Experiment Manager) connects here when it is made and shows the new project.
    project_changed = Signal()

    def __init__(self, background: Any, ask: Callable[[str, str], bool] | None = None,
                 dark: bool | None = None, warn: Callable[[str, str], None] | None = None,
                 warm_up: bool = False, report: Callable[[Any], None] | None = None) -> None:
        """``ask`` (a yes/no question) and ``warn`` (title, reason) are message boxes, and ``report`` (an ONNX
        import's report) a dialog, unless given: a window rendered offscreen has nobody to answer one.
        ``dark``: this session's theme (``netdesigner gui --dark``); by default the one chosen last time.
        ``warm_up``: start a training worker once the catalog is loaded, so the first Train is answered
        within a second (the app does; tests and screenshots need no training process)."""
        super().__init__()
        self.background = background
        self.ask = ask or self._ask
        self.warn = warn or (lambda title, text: QtWidgets.QMessageBox.warning(self, title, text))
        self.report = report or self._show_report
        self.project: Project | None = None  # none until the start page's choice: no graph work before paint
        self.path: Path | None = None
        self.analysis: Any = None
        self.undo = QUndoStack(self)
        self.state = EditorState(None, self._changed)  # type: ignore[arg-type]
        self.settings = QSettings("keras-network-designer", "designer")
        self.dark = self.settings.value("dark", False, type=bool) if dark is None else dark
        apply_theme(QApplication.instance(), self.dark)  # type: ignore[arg-type]
        self.setWindowTitle(APP_NAME)
        self.resize(1440, 900)
        self.setAcceptDrops(True)

        self.start = StartPage()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start)
        self.setCentralWidget(self.stack)
        self.totals = QLabel("")
        self.statusBar().addPermanentWidget(self.totals)
        self.editor_built = False  # canvas and docks are made when the start page is first left
        self.preview_index = 0  # the data sample the layer previews show
        self.experiments: Any = None  # the Experiment Manager, made on first use
        self.shrinker: Any = None  # Edit → Prune filters and units, made on first use
        self._training: TrainingDock | None = None
        self.warm_up, self.warm = warm_up, None  # the worker until the Training tab takes it
        self.docks_open: list[QDockWidget] = []  # the docks to bring back when the start page is left

        self._build_actions()
        self.background.catalog_ready.connect(self._catalog_ready)
        self.background.analysed.connect(self._analysed)
        self.background.imported.connect(self._imported)
        self.background.reported.connect(lambda _source, report: self.report(report))
        self.background.failed.connect(lambda msg: self.statusBar().showMessage(msg))
        self.start.chosen.connect(self._start_choice)
        self.undo.cleanChanged.connect(lambda _: self._update_title())
        self.autosave_timer = QTimer(self, interval=30_000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.start.set_recent(self.recent_files())
        self._show_start(True)

    def _build_editor(self) -> None:
        """The canvas and the docks, made on first use so the start page shows at once."""
        from designer.app.canvas import Canvas
        from designer.app.inspection.layer_previews import LayerPreviews
        from designer.app.panels import AnalysisPanel, Inspector, Palette

        self.canvas = Canvas()
        self.previews = LayerPreviews(self.background)
        self.previews.updated.connect(self._show_previews)
        self.canvas.preview_opened.connect(self._open_preview)
        self.breadcrumb = QLabel()
        self.breadcrumb.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.breadcrumb.linkActivated.connect(self._breadcrumb_clicked)
        editor = QWidget()
        column = QVBoxLayout(editor)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.breadcrumb)
        column.addWidget(self.canvas)
        self.stack.addWidget(editor)
        self.palette = Palette()
        self.inspector = Inspector()
        self.panel = AnalysisPanel()
        for title, widget, area in (("Layers", self.palette, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea),
                                    ("Properties", self.inspector, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Analysis", self.panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
        self.resizeDocks([self.findChild(QDockWidget, "Layers")], [250], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.findChild(QDockWidget, "Properties")], [320], QtCore.Qt.Orientation.Horizontal)
        training_dock = QDockWidget("Training", self)  # its contents are made when first shown (training)
        training_dock.setObjectName("Training")
        loading = QLabel("Loading the training panel…")
        loading.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        training_dock.setWidget(loading)
        training_dock.visibilityChanged.connect(self._training_shown)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, training_dock)
        self.tabifyDockWidget(self.findChild(QDockWidget, "Analysis"), training_dock)
        self.findChild(QDockWidget, "Analysis").raise_()
        self.resizeDocks([self.findChild(QDockWidget, "Analysis")], [260], QtCore.Qt.Orientation.Vertical)
        self.canvas.connect_requested.connect(self.request_connect)
        self.canvas.moved.connect(lambda moves: self.undo.push(MoveNodes(self.state, moves)))
        self.canvas.dropped.connect(lambda t, pos: self.add_layer(t, (pos.x(), pos.y())))
        self.canvas.open_block.connect(self.open_block)
        self.canvas.selection_changed.connect(self._selection_changed)
        self.palette.activated.connect(lambda t: self.add_layer(t))
        self.inspector.edited.connect(self._inspector_edited)
        self.panel.picked.connect(lambda node_id: self.canvas.select([node_id], center=True))
        self.canvas.canvas_scene.set_dark(self.dark)
        if self.background.catalog is not None:
            self.palette.populate(self.background.catalog)
        for action in self.editor_actions:
            action.setEnabled(True)
        self.editor_built = True

    @property
    def training(self) -> TrainingDock:
        """The Training tab's contents, made on first use: its plots need pyqtgraph, whose import builds
        every Qt type in Python (~0.6 s), too much to add to opening a network that is not trained yet."""
        if self._training is None:
            from designer.app.training_dock import TrainingDock

            dock = TrainingDock(lambda: (self.project, self.project_folder()), self.change_setup)
            dock.notify = self.notify
            dock.analysis = lambda: self.analysis
            dock.controller.warm, self.warm = self.warm, None
            dock.data.augment.connect(self.set_augmentation)
            self.previews.follow(dock.controller)
            holder = self.findChild(QDockWidget, "Training")
            holder.widget().deleteLater()
            holder.setWidget(dock)
            self._training = dock
            self.project_changed.connect(self._show_training_project)
            if self.project is not None:
                self._show_training_project()
                self._show_augmentations()
                if self.analysis is not None:
                    self._network_shapes(self.analysis)
        return self._training

    def _show_training_project(self) -> None:
        assert self.project is not None and self._training is not None
        folder = self.project_folder()
        self._training.show_project(self.project, folder, default_tracking_uri(folder))

    # ---- actions ----------------------------------------------------------------------------
    def _build_actions(self) -> None:
        spec: list[tuple[str, str, Any, Callable[[], Any], str | None]] = [  # menu, text, keys, slot, icon
            ("file", "&New", QKeySequence.StandardKey.New, self.new_project, "new"),
            ("file", "&Open…", QKeySequence.StandardKey.Open, self.open_dialog, "open"),
            ("file", "&Import model (Keras, ONNX)…", "Ctrl+I", self.import_dialog, "import"),
            ("file", "&Save", QKeySequence.StandardKey.Save, self.save, "save"),
            ("file", "Save &As…", QKeySequence.StandardKey.SaveAs, self.save_as, None),
            ("file", "&Export trained model…", "Ctrl+Shift+E", self.export_run, None),
            ("file", "&Quit", QKeySequence.StandardKey.Quit, self.close, None),
            ("edit", "&Undo", QKeySequence.StandardKey.Undo, self.undo.undo, "undo"),
            ("edit", "&Redo", QKeySequence.StandardKey.Redo, self.undo.redo, "redo"),
            ("edit", "Cu&t", QKeySequence.StandardKey.Cut, self.cut, None),
            ("edit", "&Copy", QKeySequence.StandardKey.Copy, self.copy, None),
            ("edit", "&Paste", QKeySequence.StandardKey.Paste, self.paste, None),
            ("edit", "&Duplicate", "Ctrl+D", self.duplicate, None),
            ("edit", "&Delete", QKeySequence.StandardKey.Delete, self.delete_selection, "delete"),
            ("edit", "Select &All", QKeySequence.StandardKey.SelectAll, self.select_all, None),
            ("edit", "&Group into block", "Ctrl+G", self.group_selection, None),
            ("edit", "U&ngroup block", "Ctrl+Shift+G", self.ungroup_selection, None),
            ("edit", "&Freeze / unfreeze", "Ctrl+L", self.toggle_frozen, None),
            ("edit", "&Prune filters and units…", "Ctrl+Alt+R", lambda: self.shrink_network(), None),
            ("view", "&Arrange", "Ctrl+Shift+A", self.arrange, "arrange"),
            ("view", "&Fit to view", "F", lambda: self.canvas.fit(), "fit"),
            ("view", "Zoom &100%", "Ctrl+0", lambda: self.canvas.reset_zoom(), None),
            ("view", "&Up one block", "Backspace", self.close_block, "up"),
            ("view", "&Dark theme", "Ctrl+Shift+D", self.toggle_theme, None),
            ("view", "&Cost overlay", "Ctrl+Shift+M", self.toggle_cost_overlay, None),
            ("view", "Layer &previews", "Ctrl+Shift+P", self.toggle_previews, None),
            ("view", "Preview &sample…", "Ctrl+Alt+P", self.choose_preview_sample, None),
            ("view", "&Experiment Manager", "Ctrl+E", self.show_experiments, "experiments"),
        ]
        menus = {name: self.menuBar().addMenu(f"&{name.title()}") for name in ("file", "edit", "view")}
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("Main")
        self.actions_by_name: dict[str, QAction] = {}
        self.editor_actions: list[QAction] = []  # need the canvas: enabled once it exists
        previous_menu = ""
        for menu, text, shortcut, slot, icon in spec:
            action = QAction(text, self)
            if menu != "file" and "theme" not in text:
                action.setEnabled(False)
                self.editor_actions.append(action)
            if icon is not None:
                if toolbar.actions() and menu != previous_menu:
                    toolbar.addSeparator()
                previous_menu = menu
                action.setIcon(action_icon(icon))
                toolbar.addAction(action)
            # setShortcuts, not setShortcut, whose overload check builds all of Qt's enums (~40 ms) before the
            # first paint. A standard key brings every binding the platform has for it.
            standard = isinstance(shortcut, QKeySequence.StandardKey)
            action.setShortcuts(shortcut if standard else [QKeySequence(shortcut)])
            action.triggered.connect(lambda _checked=False, slot=slot: slot())  # not paste(offset=checked)
            menus[menu].addAction(action)
            self.actions_by_name[text.replace("&", "").rstrip("…")] = action
        self.recent_menu = QtWidgets.QMenu("Open &Recent", self)
        menus["file"].insertMenu(self.actions_by_name["Import model (Keras, ONNX)"], self.recent_menu)
        menus["file"].insertSeparator(self.actions_by_name["Quit"])
        menus["file"].aboutToShow.connect(self._file_menu_shown)
        self.actions_by_name["Cost overlay"].setCheckable(True)
        self._build_cost_measures(menus["view"])
        self.actions_by_name["Layer previews"].setCheckable(True)
        redo, ctrl_shift_z = self.actions_by_name["Redo"], QKeySequence("Ctrl+Shift+Z")
        if ctrl_shift_z not in redo.shortcuts():  # Windows binds Redo to Ctrl+Y alone
            redo.setShortcuts([*redo.shortcuts(), ctrl_shift_z])

    # ---- the document changed -----------------------------------------------------------------
    def _changed(self) -> None:
        doc = self.state.doc
        self._show_augmentations()
        self.canvas.sync(doc, self.describe)
        self._update_breadcrumb()
        self._selection_changed(self.canvas.selected_ids())
        self.background.request(self.state.root)
        self.previews.request(self.state.root)
        self._update_title()

    def _show_augmentations(self) -> None:
        """The network's augmentation layers, on the data page's samples (once the Training tab exists)."""
        from designer.graph.augmentation import augmentations

        if self._training is not None:
            self._training.data.show_augmentations(augmentations(self.state.root))

    def describe(self, node: Node) -> dict[str, Any]:
        catalog = self.background.catalog
        prefix = self.state.prefix
        result = self.analysis.nodes.get(prefix + node.id) if self.analysis else None
        spec = catalog.specs.get(node.type) if catalog is not None else None
        if spec is not None and spec.module != node.module:  # keras.ops.add's operation is not the Add layer
            spec = None
        if node.is_block:
            category = "Block"
        elif spec is not None:
            category = spec.category
        else:
            category = "Operation" if node.module else "Other"
        errors = [d.message for d in (self.analysis.diagnostics if self.analysis else [])
                  if d.node == prefix + node.id and d.severity == "error"]
        ports = catalog.ports(node) if catalog is not None else None
        connected = len(self.state.doc.in_edges(node.id))
        if ports is None:
            inputs = ["inputs"] * max(connected, 0 if node.is_input else 1)
        else:
            count = ports.max_inputs if ports.max_inputs is not None else max(ports.min_inputs, connected + 1)
            count = max(count, connected)
            inputs = [ports.name(i) for i in range(count)]
        return {
            "title": node.name + (" ❄" if not node.trainable else ""),
            "subtitle": ("Block" + (" (Sequential)" if node.params.get("model_class") else "")) if node.is_block
            else node.type + (" (shared)" if node.share else ""),
            "shape": result.shape_text() if result and result.outputs else ("error" if errors else ""),
            "params": f"{result.params:,} params" if result and result.params else "",
            "cost_shares": {measure: getattr(result.cost, measure) / total for measure in COST_MEASURES
                            if (total := getattr(self.analysis.cost, measure))} if result else {},
            "category": category,
            "error": errors[0] if errors else None,
            "tooltip": spec.description if spec else node.type,
            "inputs": inputs,
            "outputs": max(1, len(result.outputs) if result and result.outputs else 1),
        }

    def _analysed(self, analysis: Any) -> None:
        from designer.app.generative.recipe_fit import project_diagnostics

        if self.project is not None:  # a GAN's or VAE's blocks that do not fit, pinned to the block
            analysis.diagnostics += project_diagnostics(self.state.root, analysis, self.project.training)
        self.analysis = analysis
        self.canvas.sync(self.state.doc, self.describe)
        self._network_shapes(analysis)
        prefix = self.state.prefix
        self.panel.show_analysis(self.state.doc, analysis, prefix)
        errors = sum(d.severity == "error" for d in analysis.diagnostics)
        warnings = len(analysis.diagnostics) - errors
        self.totals.setText(f"{plural(len(self.state.root), 'layer')} · {plural(analysis.total_params, 'parameter')} "
                            f"({analysis.trainable_params:,} trainable) · {macs_text(analysis.cost.macs)} · "
                            f"{size_text(analysis.cost.param_bytes)} · {plural(errors, 'error')} · "
                            f"{plural(warnings, 'warning')}")
        self._selection_changed(self.canvas.selected_ids())

    def _network_shapes(self, analysis: Any) -> None:
        """The analysed input and output shapes, for the data panel's fit check."""
        root = self.state.root
        try:
            inputs = [analysis.nodes[n.id].outputs[0][0] for n in root.input_nodes()]
            outputs = [analysis.nodes[o.node].outputs[o.port][0] for o in root.effective_outputs()]
        except (KeyError, IndexError):  # the graph does not analyse yet: nothing to check against
            return
        if self._training is not None and self.project is not None:
            from designer.app.generative.recipe_fit import fit_shapes

            self._training.data.set_network_shapes(*fit_shapes(root, analysis, self.project.training, inputs,
                                                               outputs))

    def _catalog_ready(self, catalog: Any) -> None:
        if self.warm_up and self.warm is None and self._training is None:
            # After the first paint and after the catalog's own Keras import: TensorFlow's import in the
            # worker then competes with neither for the CPU.
            from designer.training.worker import warm_worker

            self.warm = warm_worker()
        if self.editor_built:
            self.palette.populate(catalog)
        if self.project is not None:
            self._changed()

    def _update_title(self) -> None:
        name = self.path.name if self.path else "untitled"
        self.setWindowTitle(f"{name}{'' if self.undo.isClean() else ' •'} — {APP_NAME}")

    def _update_breadcrumb(self) -> None:
        parts = [f'<a href="0">{self.state.root.name}</a>']
        doc = self.state.root
        for depth, node_id in enumerate(self.state.view, start=1):
            node = doc.node(node_id)
            parts.append(f'<a href="{depth}">{node.name}</a>')
            doc = node.block  # type: ignore[assignment]
        self.breadcrumb.setText("  ›  ".join(parts))

    def _selection_changed(self, ids: list[str]) -> None:
        doc = self.state.doc
        node = doc.node(ids[0]) if len(ids) == 1 and ids[0] in doc else None
        prefix = self.state.prefix
        result = self.analysis.nodes.get(prefix + node.id) if node and self.analysis else None
        if node is self.inspector.node and node is not None and self.inspector.isAncestorOf(QApplication.focusWidget()):
            self.inspector.show_analysis(result)  # keep the editor the user is typing in; refresh the figures
        else:
            catalog = self.background.catalog
            spec = catalog.specs.get(node.type) if node and catalog and not node.module else None
            self.inspector.show_node(node, spec, result)
        self._show_statistics(node)

    def _show_statistics(self, node: Node | None) -> None:
        """The selected node's output statistics on the preview sample, in Properties."""
        from designer.app.inspection.layer_previews import statistics_text

        preview = self.previews.previews.get(self.state.prefix + node.id) if node else None
        self.inspector.show_statistics(statistics_text(preview.stats if preview else None))

    # ---- edits --------------------------------------------------------------------------------
    def edit(self, text: str, mutate: Callable[[NetworkDocument], Any]) -> Any:
        if self.project is None:
            return None
        command = StructuralEdit(self.state, text, mutate)
        try:
            self.undo.push(command)
        except GraphError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return None
        return command.result

    def add_layer(self, layer_type: str, position: tuple[float, float] | None = None) -> str | None:
        catalog = self.background.catalog
        if catalog is None or layer_type not in catalog:
            return None
        if position is None:
            position = self.canvas.node_origin()
        spec = catalog[layer_type]
        params = spec.defaults()
        node_id = self.edit(f"Add {layer_type}", lambda d: d.add_node(layer_type, None, params, position=position,
                                                                        module=spec.module).id)
        if node_id:
            self.canvas.select([node_id])
        return node_id

    def request_connect(self, src: str, src_port: int, dst: str, dst_port: int) -> bool:
        doc = self.state.doc
        reason = None
        if src == dst or src in doc.downstream(dst):
            reason = "that connection would make a cycle"
        elif any(e.dst_port == dst_port for e in doc.in_edges(dst)):
            reason = f"input {dst_port} of {doc.node(dst).name!r} is already connected; delete that link first"
        elif doc.node(dst).is_input:
            reason = "an Input layer takes no incoming connection"
        if reason:
            port = self.canvas.port_item(dst, dst_port, True)
            if port is not None:
                port.flash("#ef5350")
            self.statusBar().showMessage(f"Not connected: {reason}", 6000)
            return False
        self.edit("Connect", lambda d: d.connect(src, dst, src_port=src_port, dst_port=dst_port))
        return True

    def delete_selection(self) -> None:
        ids = self.canvas.selected_ids()
        if ids:
            self.edit(f"Delete {plural(len(ids), 'layer')}", lambda d: [d.remove_node(i) for i in ids if i in d])

    def select_all(self) -> None:
        self.canvas.select(list(self.state.doc.nodes))

    def _inspector_edited(self, node_id: str, changes: dict[str, Any]) -> None:
        if "name" in changes and any(n.name == changes["name"] for n in self.state.doc.nodes.values()):
            self.statusBar().showMessage(f"The name {changes['name']!r} is taken; names must be unique", 6000)
            self._selection_changed(self.canvas.selected_ids())
            return
        self.undo.push(EditNode(self.state, node_id, f"Edit {', '.join(changes)}", **changes))

    def toggle_frozen(self) -> None:
        ids = self.canvas.selected_ids()
        if ids:
            frozen = all(not self.state.doc.node(i).trainable for i in ids)
            self.undo.beginMacro("Unfreeze" if frozen else "Freeze")
            for node_id in ids:
                self.undo.push(EditNode(self.state, node_id, "trainable", trainable=frozen))
            self.undo.endMacro()

    def arrange(self) -> None:
        self.edit("Arrange", auto_layout)
        self.canvas.fit()

    def group_selection(self) -> None:
        ids = self.canvas.selected_ids()
        prefix = self.state.prefix
        shapes = {}
        if self.analysis:
            for path, result in self.analysis.nodes.items():
                if path.startswith(prefix) and "/" not in path[len(prefix):]:
                    for port, (shape, _) in enumerate(result.outputs):
                        shapes[(path[len(prefix):], port)] = list(shape)
        block = self.edit("Group into block", lambda d: group(d, ids, "block", shapes).id)
        if block:
            self.canvas.select([block])

    def ungroup_selection(self) -> None:
        blocks = [i for i in self.canvas.selected_ids() if self.state.doc.node(i).is_block]
        if blocks:
            self.edit("Ungroup block", lambda d: [ungroup(d, b) for b in blocks])

    def open_block(self, node_id: str) -> None:
        self.state.view.append(node_id)
        self.canvas.canvas_scene.clearSelection()
        self._changed()
        self.canvas.fit()

    def close_block(self) -> None:
        if self.state.view:
            self.state.view.pop()
            self._changed()
            self.canvas.fit()

    def _breadcrumb_clicked(self, link: str) -> None:
        self.state.view = self.state.view[: int(link)]
        self._changed()
        self.canvas.fit()

    # ---- clipboard ----------------------------------------------------------------------------
    def copy(self) -> None:
        doc = self.state.doc
        ids = set(self.canvas.selected_ids())
        if not ids:
            return
        part = NetworkDocument("clipboard")
        for node in doc.nodes.values():
            if node.id in ids:
                part.add_node(node.type, node.name, node.params, id=node.id, position=node.position, note=node.note,
                              trainable=node.trainable, block=node.block, module=node.module, call=node.call)
        for edge in doc.edges:
            if edge.src in ids and edge.dst in ids:
                part.connect(edge.src, edge.dst, src_port=edge.src_port, dst_port=edge.dst_port)
        QGuiApplication.clipboard().setText(json.dumps({CLIPBOARD_MIME: document_to_dict(part)}))

    def cut(self) -> None:
        self.copy()
        self.delete_selection()

    def paste(self, offset: float = 40.0) -> list[str]:
        try:
            data = json.loads(QGuiApplication.clipboard().text())[CLIPBOARD_MIME]
            part = document_from_dict(data)
        except (ValueError, KeyError, TypeError):
            self.statusBar().showMessage("Nothing to paste: copy some layers first", 4000)
            return []

        def insert(doc: NetworkDocument) -> list[str]:
            ids = {}
            shift = free_offset(doc, [node.position for node in part.nodes.values()], offset)
            for node in part.nodes.values():
                x, y = node.position
                ids[node.id] = doc.add_node(node.type, doc.unique_name(node.name), node.params,
                                            position=(x + shift, y + shift), note=node.note,
                                            trainable=node.trainable, block=node.block, module=node.module,
                                            call=node.call).id
            for edge in part.edges:
                doc.connect(ids[edge.src], ids[edge.dst], src_port=edge.src_port, dst_port=edge.dst_port)
            return list(ids.values())

        new = self.edit("Paste", insert) or []
        self.canvas.select(new)
        return new

    def duplicate(self) -> None:
        self.copy()
        self.paste()

    def _training_shown(self, shown: bool) -> None:
        """The Training tab was chosen: start a warm worker, and give the monitor room to be read (the
        bottom docks stay short while the user edits)."""
        if not shown:
            return
        dock = self.findChild(QDockWidget, "Training")
        if dock.height() < self.height() // 3:
            self.resizeDocks([dock], [self.height() // 2], QtCore.Qt.Orientation.Vertical)
        # In the next turn of the event loop: the first time, the tab shows its "Loading" line at once
        # rather than the old tab staying frozen for the second that making the panel takes.
        QTimer.singleShot(0, self._prepare_training)

    def _prepare_training(self) -> None:
        self.training.controller.prepare()

    # ---- files --------------------------------------------------------------------------------
    def _show_start(self, show: bool) -> None:
        """The start page hides the docks and leaving it brings back those that were open; a dock tabbed
        behind another stays behind it (showing it would pull it to the front and lose the tab bar)."""
        if not show and not self.editor_built:
            self._build_editor()
            self.stack.setCurrentIndex(1)
            return
        on_start = self.stack.currentIndex() == 0
        self.stack.setCurrentIndex(0 if show else 1)
        if not self.editor_built or show == on_start:  # nothing changes: the docks stay as the user left them
            return
        docks = self.findChildren(QDockWidget)
        if show:
            self.docks_open = [dock for dock in docks if dock.isVisible()]
            for dock in docks:
                dock.hide()
        else:
            for dock in self.docks_open:
                dock.show()
            self.findChild(QDockWidget, "Analysis").raise_()

    def set_project(self, project: Project, path: Path | None) -> None:
        self.project, self.path = project, path
        self.state.root = project.document
        self.state.view = []
        self.undo.clear()
        self.analysis = None
        self._show_start(False)
        self.actions_by_name["Layer previews"].setChecked(False)
        self.previews.reset(self.project_folder() / project.weights if project.weights else None)
        self._changed()
        self.canvas.fit()
        self.project_changed.emit()
        if path is not None:
            self._remember(path)

    def project_folder(self) -> Path:
        """Where runs are recorded and the weights file lies: beside the project, or in the app's data
        folder until it is saved."""
        return self.path.parent if self.path is not None else unsaved_folder()

    def change_setup(self, data: dict[str, Any], training: dict[str, Any], whole: bool = False) -> None:
        """One undoable edit of the data setup and the training options: ``training`` updates them, or with
        ``whole`` (the options dialog's complete answer, defaults left out) replaces them, so an option set
        back to its default is set back in the project too."""
        assert self.project is not None
        merged = training if whole else {**self.project.training, **training}
        if data != self.project.data or merged != self.project.training:
            self.undo.push(EditSections(self.project, {"data": data, "training": merged}, self._setup_changed))

    def _setup_changed(self) -> None:
        assert self.project is not None
        if self._training is not None and self._training.data.setup() != self.project.data:  # undone/redone
            self._training.data.load_project(self.project.data, self.project.training, self.project_folder())
        if self.analysis is not None:  # another recipe checks the data against other shapes
            self._network_shapes(self.analysis)
        self.background.request(self.state.root)  # and its blocks against each other
        self._update_title()

    def show_experiments(self) -> Any:
        """The Experiment Manager for the open project (one window, made on first use)."""
        if self.project is None:
            return None
        if self.experiments is None:
            from designer.app.experiment_manager import ExperimentManager

            self.experiments = ExperimentManager(lambda: (self.project, self.project_folder()),
                                                 self.change_experiments, self.open_trial,
                                                 lambda: self.background.catalog)
            self.project_changed.connect(self.experiments.load_project)
            self.experiments.result.explain.data_source = self.training.explain_data  # the same data setup
        self.experiments.show()
        self.experiments.raise_()
        return self.experiments

    def change_experiments(self, experiments: dict[str, Any]) -> None:
        assert self.project is not None
        if experiments != self.project.experiments:
            self.undo.push(EditSections(self.project, {"experiments": experiments}, self._update_title,
                                        "Change the experiments"))

    def open_trial(self, project: Project) -> None:
        """A trial's network as a new, unsaved project (the experiment's own project stays as saved)."""
        if self.maybe_save():
            self.set_project(project, None)
            self.raise_()

    def set_augmentation(self, kind: str, on: bool) -> None:
        """One undoable edit of the root network, whichever block is open."""
        from designer.graph.augmentation import set_augmentation

        self.edit(f"{'Add' if on else 'Remove'} {kind} augmentation",
                  lambda _: set_augmentation(self.state.root, kind, on))

    def notify(self, text: str) -> None:
        """A message that outlasts a glance: the status bar, and the taskbar flashes if the window is behind."""
        self.statusBar().showMessage(text, 15_000)
        QApplication.alert(self)

    def new_project(self) -> None:
        if self.maybe_save():
            self.set_project(Project(NetworkDocument(UNTITLED)), None)

    def open_path(self, path: Path) -> bool:
        if path.suffix.lower() in (".keras", ".h5", ".json", ".onnx", *TORCH_SUFFIXES) or path.is_dir():
            return self.import_source(str(path))
        try:
            project = load_project(path)
        except ProjectFileError as exc:
            self.warn("Cannot open project", str(exc))
            return False
        recovered = self._recovery_for(path)
        if recovered is not None and self.ask("Recover unsaved changes?",
                                              f"An autosave of {path.name} from {time.ctime(recovered[1])} "
                                              "is newer than the file. Recover it?"):
            self.set_project(recovered[0], path)
            self.undo.resetClean()
            self.undo.push(StructuralEdit(self.state, "Recovered autosave", lambda d: None))
            return True
        self.set_project(project, path)
        return True

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        name, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open project", str(self.dialog_folder()),
                                              f"Projects (*{SUFFIX});;Keras models (*.keras *.h5)")
        if name:
            self.open_path(Path(name))

    def import_source(self, source: str) -> bool:
        """Start importing in the Keras thread (an application takes seconds to build); the window stays
        live and the model opens when ready (``_imported``). A PyTorch file runs code when loaded: only
        if the user agrees, as the command line's ``--trust-code`` (and gives a TorchScript file's
        ``--input-shape``)."""
        trust = Path(source).suffix.lower() in TORCH_SUFFIXES
        shape = None
        if trust:
            from designer.app.pytorch_import import PyTorchImportDialog

            dialog = PyTorchImportDialog(Path(source), str(self.settings.value("torch_input_shape", "")), self)
            if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
                return False
            shape = dialog.input_shape()
            if shape is not None:  # the next TorchScript file is likely shaped alike: offered first
                self.settings.setValue("torch_input_shape", ",".join(map(str, shape)))
        QApplication.setOverrideCursor(QtCore.Qt.CursorShape.BusyCursor)
        self.statusBar().showMessage(f"Importing {source}…")
        self.background.import_source(source, unsaved_folder(), trust, shape)  # the imported project opens unsaved
        return True

    def _imported(self, source: str, result: dict[str, Any] | str) -> None:
        QApplication.restoreOverrideCursor()
        self.statusBar().clearMessage()
        if isinstance(result, str):
            self.warn("Cannot import", result)
            return
        self.set_project(project_from_dict(result), None)
        self.undo.push(StructuralEdit(self.state, "Import", lambda d: None))  # unsaved until saved

    def _show_report(self, report: Any) -> None:
        from designer.app.import_report import ImportReportDialog

        dialog = ImportReportDialog(report, self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # window-modal, without a nested event loop: the import finishes behind it

    def import_dialog(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Import model", str(self.dialog_folder()),
            "Models (*.keras *.h5 *.json *.onnx *.pt2 *.pt);;ONNX (*.onnx);;Keras models (*.keras *.h5 *.json);;"
            "PyTorch (*.pt2 *.pt)")
        if name:
            self.import_source(name)

    def save(self) -> bool:
        if self.project is None:
            return False
        if self.path is None:
            return self.save_as()
        try:
            save_project(self.project, self.path)
        except OSError as exc:
            self.warn("Cannot save", f"{self.path}: {exc.strerror or exc}")
            return False
        self.undo.setClean()
        autosave_path(self.path).unlink(missing_ok=True)
        self.statusBar().showMessage(f"Saved {self.path}", 3000)
        return True

    def save_as(self, path: Path | None = None) -> bool:
        if self.project is None:
            return False
        if path is None:
            suggested = str(self.dialog_folder() / f"{self.project.name}{SUFFIX}")
            name, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save project", suggested, f"Projects (*{SUFFIX})")
            if not name:
                return False
            path = Path(name)
        if path.suffix != SUFFIX:
            path = path.with_suffix(SUFFIX)
        from designer.training.recipes.options import judge_files

        folder = self.project_folder()  # the files it names beside it go where the project goes
        carried = [self.project.weights] if self.project.weights else []
        carried += [name for name in judge_files(self.project.training) if (folder / name).is_file()]
        for name in carried if folder.resolve() != path.parent.resolve() else []:
            try:
                copy_atomic(folder / name, path.parent / name)
            except OSError as exc:
                self.warn("Cannot save", f"{folder / name}: {exc.strerror or exc}")
                return False
        autosave_path(self.path).unlink(missing_ok=True)
        self.path = path
        self._remember(path)
        if self.project.name == UNTITLED:  # a new network is named by its first file, breadcrumb included
            self.project.document.name = path.stem
            self._update_breadcrumb()
        return self.save()

    def dialog_folder(self) -> Path:
        """Where file dialogs start: the open project's folder, else the working directory."""
        return self.path.parent if self.path is not None else Path.cwd()

    def _file_menu_shown(self) -> None:
        """Recent files and Export as they are now: files come and go, a run may have finished."""
        self.recent_menu.clear()
        for name in self.recent_files():
            self.recent_menu.addAction(name, lambda _=False, name=name: self.open_recent(name))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))
        self.actions_by_name["Export trained model"].setEnabled(
            self._training is not None and self._training.results.export_button.isEnabled())

    def open_recent(self, name: str) -> None:
        if self.maybe_save():
            self.open_path(Path(name))

    def export_run(self) -> None:
        """The run on the Results page, exported as its Export… button does (in its folder's dialog)."""
        if self._training is not None and self._training.results.export_button.isEnabled():
            self._training.setCurrentWidget(self._training.results)
            self._training.results.export_dialog()

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (saved, discarded, or nothing new; no run of it
        training, or the user agreed to stop it)."""
        if self._training is not None and not self._training.release_run(self.ask):
            return False
        if self.undo.isClean():
            return True
        button = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(self, "Unsaved changes", "Save the changes to this network first?",
                                                button.Save | button.Discard | button.Cancel)
        if answer == button.Save:
            return self.save()
        return answer == button.Discard

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.maybe_save():
            if self._training is not None:
                self._training.controller.shutdown()
            if self.warm is not None:
                self.warm.kill()
            if self.experiments is not None:
                self.experiments.close()
            autosave_path(self.path).unlink(missing_ok=True)
            self.undo.clear()  # now, while the title it updates exists, not from the stack's destructor
            event.accept()
        else:
            event.ignore()

    def autosave(self) -> Path | None:
        """Write unsaved work aside (never over the user's file); recovery offers it back."""
        if self.undo.isClean() or self.stack.currentIndex() == 0:
            return None
        target = autosave_path(self.path)
        from designer.graph.project import write_json_atomic

        write_json_atomic(project_to_dict(self.project), target)
        return target

    def _recovery_for(self, path: Path) -> tuple[Project, float] | None:
        candidate = autosave_path(path)
        if not candidate.exists() or candidate.stat().st_mtime <= path.stat().st_mtime:
            return None
        try:
            return load_project(candidate), candidate.stat().st_mtime
        except ProjectFileError:
            return None

    def _ask(self, title: str, text: str) -> bool:
        return QtWidgets.QMessageBox.question(self, title, text) == QtWidgets.QMessageBox.StandardButton.Yes

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", []) or []
        paths = [value] if isinstance(value, str) else list(value)  # QSettings returns one item as a str
        return [p for p in paths if Path(p).exists()]

    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self.recent_files() if p != str(path.resolve())]
        self.settings.setValue("recent", recent[:10])

    def _start_choice(self, kind: str, value: str) -> None:
        if kind == "new":
            self.set_project(Project(NetworkDocument(UNTITLED)), None)
        elif kind in ("open", "sample"):
            self.open_path(Path(value))
        elif kind == "application":
            self.import_source(f"keras.applications:{value}")
        elif kind == "import":
            self.import_dialog()

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and self.maybe_save():
                self.open_path(Path(url.toLocalFile()))  # a model file or SavedModel folder is imported
                break

    def toggle_previews(self) -> None:
        """Each node's output on a data sample, beside it; the first sample of the data until one is chosen."""
        action = self.actions_by_name["Layer previews"]
        if action.isChecked() and self.previews.sample is None:
            data = self.training.data
            if data.dataset is None and self.project is not None and self.project.data.get("source"):
                # the Training tab loads the project's data in the background when it is first made
                self.notify(LOADING_PREVIEW_DATA)
                data.loaded.done.connect(lambda *_: self._data_arrived(),
                                         QtCore.Qt.ConnectionType.SingleShotConnection)
                return
            if not self._preview_sample(0):
                action.setChecked(False)
                return
        self.previews.request(self.state.root)
        self.previews.set_on(action.isChecked())

    def _data_arrived(self) -> None:
        """The data the previews waited for has loaded (or failed to): show them, or say why not."""
        if self.statusBar().currentMessage() == LOADING_PREVIEW_DATA:  # no longer true: not for 15 s more
            self.statusBar().clearMessage()
        if self.actions_by_name["Layer previews"].isChecked():
            self.toggle_previews()

    def choose_preview_sample(self) -> None:
        dataset = self.training.data.dataset
        if dataset is None:
            self.notify("Layer previews need data: choose a data source in the Training tab first.")
            return
        index, ok = QtWidgets.QInputDialog.getInt(self, "Preview sample", f"Sample (0–{len(dataset.x) - 1})",
                                                  self.preview_index, 0, len(dataset.x) - 1)
        if ok and self._preview_sample(index) and not self.actions_by_name["Layer previews"].isChecked():
            self.actions_by_name["Layer previews"].trigger()

    def _preview_sample(self, index: int) -> bool:
        dataset = self.training.data.dataset
        if dataset is None or not 0 <= index < len(dataset.x):
            self.notify("Layer previews need data: choose a data source in the Training tab first.")
            return False
        self.preview_index = index
        self.previews.set_sample(dataset.x[index])
        return True

    def _show_previews(self) -> None:
        images = self.previews.images()
        for node_id, item in self.canvas.canvas_scene.nodes.items():
            item.set_preview(images.get(self.state.prefix + node_id))
        self.canvas.set_caption(self.previews.caption)
        self._show_statistics(self.inspector.node)  # in place: the form may hold an editor in use

    def _open_preview(self, node_id: str) -> None:
        from designer.app.inspection.layer_previews import ChannelsDialog

        preview = self.previews.previews.get(self.state.prefix + node_id)
        if preview is not None and node_id in self.state.doc:
            ChannelsDialog(self.state.doc.node(node_id).name, preview, self).show()

    def shrink_network(self, sparsity: float | None = None) -> Any:
        """Remove the weakest filters and units of the saved network, fine-tuned, as one edit (Edit → Prune)."""
        if self.shrinker is None:
            from designer.app.compression.shrink import Shrinker

            self.shrinker = Shrinker(self)
        return self.shrinker.request(sparsity)

    def network_replaced(self) -> None:
        """The network and its weights changed together (structured pruning, or undoing it)."""
        assert self.project is not None and self.path is not None
        self.previews.reset(self.path.with_name(self.project.weights) if self.project.weights else None)
        self._changed()

    def _build_cost_measures(self, view: QtWidgets.QMenu) -> None:
        """View → Cost overlay by: compute, parameter memory or activation memory (one at a time); choosing
        one shows the overlay."""
        menu = QtWidgets.QMenu("Cost overlay &by", self)
        view.insertMenu(self.actions_by_name["Layer previews"], menu)
        group = QtGui.QActionGroup(self)
        self.cost_measures: dict[str, QAction] = {}
        for measure, text in COST_MEASURES.items():
            action = menu.addAction(text[0].upper() + text[1:])
            action.setCheckable(True)
            action.setChecked(measure == "macs")
            action.setEnabled(False)
            group.addAction(action)
            action.triggered.connect(lambda _checked=False, m=measure: self.show_cost_by(m))
            self.editor_actions.append(action)
            self.cost_measures[measure] = action

    def show_cost_by(self, measure: str) -> None:
        """Colour the canvas by ``measure`` (a key of COST_MEASURES), turning the overlay on."""
        self.cost_measures[measure].setChecked(True)
        self.actions_by_name["Cost overlay"].setChecked(True)
        self.canvas.show_cost(True, measure)
        self.statusBar().showMessage(f"Cost overlay: each layer's share of the network's {COST_MEASURES[measure]}",
                                     5000)

    def toggle_cost_overlay(self) -> None:
        self.canvas.show_cost(self.actions_by_name["Cost overlay"].isChecked())

    def toggle_theme(self) -> None:
        self.dark = not self.dark
        self.settings.setValue("dark", self.dark)
        apply_theme(QApplication.instance(), self.dark)  # type: ignore[arg-type]
        if self.editor_built:
            self.canvas.canvas_scene.set_dark(self.dark)
