"""The ``netdesigner`` command: every capability of the designer, headless.

Exit codes (the contract in the architecture guide): 0 success; 1 the work failed (graph
errors, training failed, parity failed); 2 unusable input, with a one-line reason on
stderr; 130 interrupted (Ctrl+C); 143 terminated (SIGTERM to train or sweep, which stop as on
Ctrl+C). Keras is imported only by the commands that need it.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from designer.compress.methods import DEFAULT_EPOCHS, DEFAULT_SPARSITY, DEFAULT_TOLERANCE, METHODS
from designer.export.formats import FORMATS
from designer.training.stores import StoreError
from designer.wording import macs_text, size_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
COMMANDS = ("gui", "layers", "analyze", "import", "codegen", "export", "train", "sweep", "runs", "explain",
            "activations", "compress", "generate")


class UsageError(Exception):
    """Unusable input: printed as one line on stderr, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager, a batch scheduler): a run stops as on Ctrl+C and is recorded as
    stopped; the exit code, 143 (128 + 15, what a shell shows for a SIGTERM), tells the two apart."""


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """While training: SIGTERM raises ``Terminated`` where the run's loop takes Ctrl+C, instead of ending the
    process with the run unrecorded."""
    def terminated(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2 with a usage dump; keep one line
        raise UsageError(f"{message} (see 'netdesigner {self.prog.split()[-1]} --help')"
                         if " " in self.prog else f"{message} (see 'netdesigner --help')")


def _quiet_backend() -> None:
    from designer.quiet import import_keras_quietly

    import_keras_quietly()


def _load(path: str) -> Any:
    from designer.graph.project import ProjectFileError, load_project
    from designer.graph.serialize import DocumentFormatError
    from designer.training.recipes.latent import apply_latent_dim

    try:
        project = load_project(path)
    except ProjectFileError as exc:
        raise UsageError(str(exc)) from None
    try:  # a recipe's latent size, when the options set it, is the network's everywhere
        apply_latent_dim(project.document, project.training)
    except DocumentFormatError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return project


# ---- commands -----------------------------------------------------------------------------
def cmd_layers(args: argparse.Namespace) -> int:
    _quiet_backend()
    from designer.layers.catalog import load_catalog

    catalog = load_catalog(libraries=True)
    if args.json:
        json.dump(catalog.to_json(), sys.stdout, indent=1)
        print()
        return EXIT_OK
    for category, specs in catalog.categories().items():
        print(f"{category} ({len(specs)})")
        for spec in specs:
            required = ", ".join(p.name for p in spec.params if p.required)
            print(f"  {spec.type:<34} {('(' + required + ')') if required else '':<34} {spec.description[:70]}")
    print(f"\n{len(catalog)} layers from Keras {catalog.keras_version}; not offered: "
          + ", ".join(f"{name} ({why.split(';')[0]})" for name, why in catalog.excluded.items()))
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    project = _load(args.project)
    _quiet_backend()
    from designer.keras_bridge.analysis import Analyzer

    analysis = Analyzer().analyze(project.document)
    analysis.diagnostics += _recipe_diagnostics(project, analysis)
    if args.json:
        print(json.dumps(analysis.to_dict(project.document), indent=1))
    else:
        print(format_summary(project.document, analysis))
    return EXIT_OK if analysis.ok else EXIT_FAILED


def _recipe_diagnostics(project: Any, analysis: Any) -> list[Any]:
    """A GAN's or VAE's blocks checked against each other (the training options name them)."""
    from designer.graph.serialize import DocumentFormatError
    from designer.keras_bridge.recipe_checks import recipe_diagnostics
    from designer.training.recipes.options import recipe_options

    recipe = project.training.get("recipe", "supervised")
    try:
        options = recipe_options(recipe, project.training.get(recipe))
    except DocumentFormatError as exc:
        raise UsageError(f"{project.name}: {exc}") from None
    return recipe_diagnostics(project.document, analysis, recipe, options)


def format_summary(doc: Any, analysis: Any) -> str:
    """A table like ``model.summary()``, plus totals and the diagnostics pinned to nodes."""
    rows = [("Name", "Type", "Output shape", "Params", "MACs", "Inputs from")]
    for node in doc.nodes.values():
        result = analysis.nodes.get(node.id)
        shape = result.shape_text() if result and result.outputs else ("error" if result else "?")
        params = f"{result.params:,}" if result else "-"
        macs = f"{result.cost.macs:,}" if result else "-"
        type_text = node.type + ("" if node.trainable else " (frozen)")
        rows.append((node.name, type_text, shape, params, macs,
                     ", ".join(doc.node(e.src).name for e in doc.in_edges(node.id))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f'Model: "{doc.name}"']
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if c not in (3, 4) else cell.rjust(w)
                               for c, (cell, w) in enumerate(zip(row, widths, strict=False))).rstrip())
        if i == 0:
            lines.append("-" * len(lines[-1]))
    total = analysis.total_params
    cost = analysis.cost
    lines += ["", f"Total params: {total:,} ({size_text(cost.param_bytes)})",
              f"Trainable params: {analysis.trainable_params:,}",
              f"Non-trainable params: {analysis.non_trainable_params:,}",
              f"Compute per sample: {macs_text(cost.macs)} ({cost.macs:,} multiply-accumulates)",
              f"Activations per sample: {size_text(cost.activation_bytes)}"]
    names = {path: node.name for path, node in doc.walk()}
    if analysis.diagnostics:
        lines.append("\nDiagnostics:")
        for d in analysis.diagnostics:
            where = names.get(d.node, d.node) if d.node else "(network)"
            lines.append(f"  {d.severity:<7} {where}: {d.message}")
    else:
        lines.append("\nNo problems found.")
    return "\n".join(lines)


def cmd_gui(args: argparse.Namespace) -> int:
    if args.project is not None:
        _load(args.project) if Path(args.project).suffix == ".kdn" else None
        if not Path(args.project).exists():
            raise UsageError(f"{args.project}: no such file")
    if args.screenshot and not Path(args.screenshot).parent.is_dir():
        raise UsageError(f"{args.screenshot}: its folder does not exist")
    from designer.app.run import run

    return run(args.project, args.screenshot, dark=args.dark)


def cmd_import(args: argparse.Namespace) -> int:
    from designer.graph.project import Project, target_problem

    out = Path(args.output)
    if problem := target_problem(out):
        raise UsageError(problem)
    _quiet_backend()
    from designer.export import reference
    from designer.keras_bridge.importer import ModelImportError, import_model, keeps_weights, load_source
    from designer.keras_bridge.saving import save_with_weights

    report = None
    try:
        from designer.keras_bridge.onnx_import import import_onnx, is_onnx_source

        if is_onnx_source(args.source):
            imported = import_onnx(args.source, placeholders=args.placeholders, trust_code=args.trust_code,
                                   input_shape=_shape(args.input_shape) if args.input_shape else None,
                                   fixed_batch=args.fixed_batch)
            model, report = imported.model, imported.report
        else:
            model = load_source(args.source, args.weights)
        doc = import_model(model)
    except ModelImportError as exc:
        raise UsageError(str(exc)) from None
    project = Project(doc, f"Imported from {Path(args.source).name}.")
    trained = keeps_weights(args.source) or args.weights
    arrays = reference.imported_weights(model, doc) if trained else None
    save_with_weights(project, out, arrays)
    if args.json:
        print(json.dumps({"project": str(out), "nodes": len(doc), "parameters": model.count_params(),
                          **({"report": report.to_dict()} if report else {})}))
        return EXIT_OK
    if report is not None:
        print(report.text())
    print(f"imported {model.name!r}: {len(doc)} nodes, {model.count_params():,} parameters → {out}"
          + (f" (+ weights {project.weights})" if trained else " (weights: fresh initialisation)"))
    return EXIT_OK


def _shape(text: str) -> list[int]:
    from designer.keras_bridge.onnx_import.torch_source import parse_input_shape

    try:
        return parse_input_shape(text)
    except ValueError as exc:
        raise UsageError(f"--input-shape {text!r}: {exc}") from None


def cmd_codegen(args: argparse.Namespace) -> int:
    project = _load(args.project)
    _quiet_backend()
    from designer.keras_bridge.build import BuildError, build_model
    from designer.keras_bridge.codegen import generate

    try:
        build_model(project.document)  # refuse to write code for a graph that cannot build
    except BuildError as exc:
        print(f"netdesigner: cannot generate code: {exc}", file=sys.stderr)
        return EXIT_FAILED
    source = generate(project.document, title=project.description or f"The {project.name} network.")
    if args.output:
        from designer.graph.project import write_text_atomic

        write_text_atomic(source, Path(args.output))
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(source)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    # Export always runs under TensorFlow, whatever backend trained the model: the converters need it.
    import os

    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    _quiet_backend()
    from designer.export.exporter import Options, export_model
    from designer.export.report import ExportError
    from designer.export.source import open_source
    from designer.training.records import download_run

    try:
        source = open_source(args.source, args.tracking_uri, download_run)
        network = args.network or _image_block(source.project)
        if network and network != "all":
            source = source.block(network)
        options = Options(opset=args.opset, tolerance=args.tolerance, title=source.title, reference=source.reference)
        report = export_model(source.model, args.format, Path(args.output), source.document, options)
    except ExportError as exc:
        if exc.usage:
            raise UsageError(str(exc)) from None
        if args.json:
            print(json.dumps({"ok": False, "format": args.format, "path": args.output, "error": str(exc)}))
        print(f"netdesigner: cannot export: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report.notes[:0] = source.notes
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.text())
    return EXIT_OK if report.ok else EXIT_FAILED


def _image_block(project: Any) -> str | None:
    """What a GAN or VAE project exports by default: the block that makes images (generator, decoder),
    which is what gets deployed; None for a supervised project (the whole network)."""
    from designer.graph.serialize import DocumentFormatError
    from designer.training.recipes.options import image_block, recipe_options

    recipe = project.training.get("recipe", "supervised") if project is not None else "supervised"
    if recipe == "supervised":
        return None
    try:
        return image_block(recipe, recipe_options(recipe, project.training.get(recipe)))
    except DocumentFormatError as exc:
        raise UsageError(f"{project.name}: {exc}") from None


def cmd_compress(args: argparse.Namespace) -> int:
    import os

    if "keras" not in sys.modules:  # the converters need TensorFlow, as export does
        os.environ["KERAS_BACKEND"] = "tensorflow"
    _quiet_backend()
    from designer.compress.compressor import Settings, check_request, compress
    from designer.data.dataset import DataError
    from designer.data.sources import load_source
    from designer.export.report import ExportError
    from designer.export.source import open_source
    from designer.graph.serialize import DocumentFormatError
    from designer.training.records import download_run, find_run
    from designer.training.spec import TrainingSpec

    settings = Settings(args.sparsity, args.epochs, args.tolerance)
    parent: dict[str, str] = {}  # the run compressed, when it comes from the store: its variant is recorded there

    def fetch_run(uri: str, ref: str, folder: Path) -> Path:
        parent.update(uri=uri, run_id=find_run(uri, ref)["run_id"])
        return download_run(uri, parent["run_id"], folder)

    try:
        check_request(args.method, Path(args.output), settings)
        source = open_source(args.source, args.tracking_uri, fetch_run)
        setup = {**source.data, **_data_override(args)}
        if not setup.get("source"):
            raise UsageError(f"{args.source} has no data setup to measure on; give --data builtin:NAME or npz:PATH")
        spec = TrainingSpec.from_dict(source.project.training if source.project else {})
        dataset = load_source(setup["source"], source.folder, target=setup.get("target"),
                              target_size=setup.get("target_size"), classes=setup.get("classes"),
                              features=setup.get("features"))
        report = compress(source.model, args.method, Path(args.output), dataset, spec, settings, source.project)
    except (DataError, DocumentFormatError) as exc:
        raise UsageError(str(exc)) from None
    except ExportError as exc:
        if exc.usage:
            raise UsageError(str(exc)) from None
        print(f"netdesigner: cannot compress: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report.notes[:0] = source.notes
    if parent:
        from designer.compress.record import record_variant

        try:
            record_variant(parent["uri"], parent["run_id"], report, settings.params(args.method))
        except StoreError as exc:
            raise StoreError(f"the variant was measured{' and written' if report.ok else ''} but not recorded: "
                             f"{exc}") from None
    print(json.dumps(report.to_dict()) if args.json else report.text())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_train(args: argparse.Namespace) -> int:
    project = _load(args.project)
    from designer.graph.serialize import DocumentFormatError
    from designer.training.session import RecordedRun

    training = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                  "backend": args.backend}.items() if v is not None}
    data = _data_override(args)
    if not (data or project.data).get("source"):
        raise UsageError(f"{args.project} has no data setup; "
                         "give --data builtin:NAME, images:FOLDER, npz:PATH or csv:PATH")
    try:
        run = RecordedRun(project, Path(args.project).parent, training=training, data=data,
                          tracking_uri=args.tracking_uri, resume=args.resume)
    except DocumentFormatError as exc:
        raise UsageError(f"{args.project}: {exc}") from None
    progress = _Progress(run.spec.epochs, sys.stdout.isatty() and not args.json)
    try:
        for event in run.events():
            if args.json:
                print(json.dumps(event), flush=True)
            elif event["event"] == "started":
                print(f"training on {event['backend']} ({event['device']})", flush=True)
            elif event["event"] == "batch":
                progress.batch(event)
            elif event["event"] == "note":
                progress.line(f"note: {event['text']}")
            elif event["event"] == "epoch":
                shown = "  ".join(f"{k} {v:.4f}" for k, v in event.items() if k not in ("event", "epoch", "wall_time"))
                progress.line(f"epoch {event['epoch']}: {shown}")
    except KeyboardInterrupt:
        _stop(run)
        if args.json and run.result:
            print(json.dumps(run.result), flush=True)
        raise
    except BaseException:  # the store failed mid-run, or anything else: no worker trains on unrecorded
        run.kill()
        raise
    result = run.result
    if result.get("event") == "finished":
        if not args.json:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items())
            print(f"finished in {result['duration_s']:.1f} s: {shown}; run {run.run_id}")
        return EXIT_OK
    if result.get("cause") == "data":
        print(f"netdesigner: {result.get('message')}", file=sys.stderr)
        return EXIT_USAGE
    if result.get("cause") == "disk":  # the message says it all: "disk full: free space in FOLDER"
        print(f"netdesigner: {result.get('message')}", file=sys.stderr)
    elif not args.json:
        print(f"netdesigner: training failed ({result.get('cause')}): {result.get('message')}", file=sys.stderr)
    return EXIT_FAILED


def _stop(run: Any) -> None:
    """Ctrl+C or SIGTERM: the run ends after its batch and is recorded as stopped; a second one kills it."""
    run.stop()
    try:
        for _ in run.events():
            pass
    except KeyboardInterrupt:
        run.kill()
        for _ in run.events():
            pass


class _Progress:
    """A one-line progress bar (epoch, step, ETA, loss) redrawn in place on a terminal; epoch lines stay."""

    def __init__(self, epochs: int, live: bool) -> None:
        import time

        self.epochs, self.live, self.clock, self.start = epochs, live, time.monotonic, time.monotonic()
        self.width = 0

    def batch(self, event: dict[str, Any]) -> None:
        if not self.live:
            return
        steps = event.get("steps") or event["step"]
        done = (event["epoch"] - 1 + event["step"] / steps) / self.epochs
        elapsed = self.clock() - self.start
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        bar = "#" * int(done * 24)
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in event.items()
                            if k not in ("event", "epoch", "step", "steps", "samples_per_s", "learning_rate")
                            and isinstance(v, float))
        text = (f"[{bar:<24}] epoch {event['epoch']}/{self.epochs} step {event['step']}/{steps} "
                f"ETA {eta:4.0f} s  {metrics}")
        self.width = max(self.width, len(text))
        sys.stdout.write("\r" + text.ljust(self.width))
        sys.stdout.flush()

    def line(self, text: str) -> None:
        if self.live and self.width:
            sys.stdout.write("\r" + " " * self.width + "\r")
        print(text, flush=True)


def _data_override(args: argparse.Namespace) -> dict[str, Any]:
    features = [c.strip() for c in (args.features or "").split(",") if c.strip()]
    return {k: v for k, v in {"source": args.data, "target": args.target, "features": features}.items() if v}


def _experiment(project: Any, args: argparse.Namespace) -> Any:
    """The project's experiment of that name (or its only one), with the command line's changes on top."""
    from designer.experiments.definition import Experiment, parse_assignment

    defined = project.experiments
    name = args.experiment or (next(iter(defined)) if len(defined) == 1 and not args.param else "sweep")
    if args.experiment and name not in defined and not args.param:
        known = ", ".join(defined) or "none"
        raise UsageError(f"{args.project} defines no experiment {name!r} (defined: {known}); "
                         "give its hyperparameters with --param KEY=SPEC")
    fields = dict(defined.get(name, {}))
    params = dict(fields.get("params", {}))
    for text in args.param or []:
        h = parse_assignment(text)
        params[h.key] = text.split("=", 1)[1]
    if not params:
        raise UsageError(f"nothing to sweep: {args.project} defines no experiment; give --param KEY=SPEC, "
                         "e.g. --param hidden.units=16,32,64 --param training.learning_rate=log:1e-4:1e-2")
    overrides = {"strategy": args.strategy, "trials": args.trials, "workers": args.workers,
                 "objective": args.objective, "pruner": args.pruner, "timeout_s": args.timeout}
    fields.update({k: v for k, v in overrides.items() if v is not None}, params=params)
    if args.objective and args.direction is None:
        fields.pop("direction", None)  # a new objective's direction follows from its name
    if args.direction:
        fields["direction"] = args.direction
    return Experiment.from_dict(name, fields)


def cmd_sweep(args: argparse.Namespace) -> int:
    project = _load(args.project)
    from designer.experiments.sweep import Sweep
    from designer.graph.serialize import DocumentFormatError

    data = _data_override(args)
    if not (data or project.data).get("source"):
        raise UsageError(f"{args.project} has no data setup; give --data builtin:NAME, images:FOLDER, npz:PATH "
                         "or csv:PATH")
    try:
        experiment = _experiment(project, args)
        _quiet_backend()  # the catalog checks each LAYER.PARAM against Keras's own signature
        from designer.layers.catalog import load_catalog

        sweep = Sweep(project, Path(args.project).parent, experiment, storage=args.storage,
                      tracking_uri=args.tracking_uri, data=data,
                      training={"epochs": args.epochs} if args.epochs else None, catalog=load_catalog())
        events = sweep.run()
        first = next(events)
    except DocumentFormatError as exc:
        raise UsageError(f"{args.project}: {exc}") from None
    report = _SweepReport(args.json)
    report.show(first)
    try:
        for event in events:
            report.show(event)
    except StoreError:  # said in one line by main, exit 2, as when the store fails at the start
        raise
    except Exception as exc:  # a store gone away mid-sweep: one line that says so; the records kept so far stay
        print(f"netdesigner: the sweep stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    summary = report.summary
    return EXIT_OK if summary and summary["best"] is not None else EXIT_FAILED


class _SweepReport:
    """What a sweep prints: one line per trial's start and end, then the best trial (or JSON lines)."""

    LIFECYCLE = ("trial_started", "trial_compressing", "trial_finished", "trial_failed", "trial_pruned", "summary")

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.summary: dict[str, Any] | None = None
        self.objective = ""

    def show(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "summary":
            self.summary = event
        if kind == "sweep_started" and event["workers_limit"]:
            print(f"netdesigner: {event['workers']} workers, not {event['workers_requested']}: "
                  f"{event['workers_limit']}", file=sys.stderr, flush=True)
        if self.as_json:
            if kind in self.LIFECYCLE:
                print(json.dumps(event), flush=True)
            return
        values = _assignments(event.get("params") or {})
        if kind == "sweep_started":
            self.objective = event["objective"]
            again = f", going on after {event['done_before']} trials" if event["done_before"] else ""
            print(f"experiment {event['experiment']}: {event['strategy']}, {event['budget']} trials, "
                  f"{event['workers']} workers, {event['direction']} {event['objective']}{again}", flush=True)
        elif kind == "trial_started":
            print(f"trial {event['trial']} started: {values}", flush=True)
        elif kind == "trial_compressing":
            print(f"trial {event['trial']} trained; compressing it with {event['method']}", flush=True)
        elif kind == "trial_finished":
            size = event["metrics"].get("compress_size_bytes")
            print(f"trial {event['trial']} finished in {event['duration_s']:.1f} s: "
                  f"{self.objective} {event['objective']:.4f}  ({event['parameters']:,} parameters"
                  + (f", {size_text(size)} compressed)" if size is not None else ")"), flush=True)
        elif kind == "trial_pruned":
            print(f"trial {event['trial']} pruned after epoch {event['epoch']}", flush=True)
        elif kind == "trial_failed":
            print(f"trial {event['trial']} failed ({event['cause']}): {event['message']}", flush=True)
        elif kind == "summary":
            counts = ", ".join(f"{n} {state}" for state, n in event["trials"].items() if n)
            print(f"done in {event['duration_s']:.1f} s: {counts}")
            best = event["best"]
            if best:
                shown = _assignments(best["params"])
                print(f"best: trial {best['trial']}  {event['objective']} {best['objective']:.4f}  {shown}  "
                      f"run {best['run_id']}")
            print(f"records: {event['tracking_uri']}  study: {event['storage']}")


def _assignments(values: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def cmd_runs(args: argparse.Namespace) -> int:
    from designer.training.records import find_run, list_runs

    uri = args.tracking_uri or f"sqlite:///{Path('runs.db').resolve()}"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"there is no run store {uri}; run this beside a project's runs.db or pass --tracking-uri")
    if args.action == "list":
        if args.runs:
            raise UsageError("runs list takes no run ids (did you mean runs show or runs compare?)")
        runs = list_runs(uri, args.experiment)
        print(json.dumps(runs, indent=1) if args.json else _runs_table(runs))
        return EXIT_OK
    wanted = 1 if args.action == "show" else 2
    if len(args.runs) < wanted or (args.action == "show" and len(args.runs) > 1):
        raise UsageError(f"runs {args.action} takes {'one run id' if wanted == 1 else 'two or more run ids'}")
    try:
        runs = [find_run(uri, ref) for ref in args.runs]
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(runs[0] if args.action == "show" else runs, indent=1))
    else:
        print(_run_text(runs[0]) if args.action == "show" else _compare_text(runs))
    return EXIT_OK


def _runs_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs yet"
    lines = [f"{'run':<10} {'experiment':<28} {'trial':>5} {'status':<9} {'loss':>8} {'val_loss':>8} {'test':>8}"]
    for r in runs:
        m = r["metrics"]
        test = next((v for k, v in sorted(m.items()) if k.startswith("test_") and k != "test_loss"), None)
        cells = [m.get("loss"), m.get("val_loss"), test]
        shown = " ".join(f"{v:8.4f}" if v is not None else f"{'–':>8}" for v in cells)
        lines.append(f"{r['run_id'][:10]:<10} {r['experiment'][:28]:<28} {r['tags'].get('trial', ''):>5} "
                     f"{r['status'][:9]:<9} {shown}")
    return "\n".join(lines)


def _run_text(run: dict[str, Any]) -> str:
    lines = [f"run {run['run_id']}  ({run['experiment']}, {run['status']})"]
    if run["failure"]:
        lines.append(f"failure: {run['failure']}")
    for title, values in (("parameters", run["params"]), ("metrics", run["metrics"]), ("tags", run["tags"])):
        lines.append(f"{title}:")
        lines += [f"  {k:<28} {_cell(v)}" for k, v in sorted(values.items())]
    return "\n".join(lines)


def _compare_text(runs: list[dict[str, Any]]) -> str:
    """Side by side: the parameters that differ, then every metric."""
    heads = [r["run_id"][:10] for r in runs]
    lines = [f"{'':<28} " + " ".join(f"{h:>12}" for h in heads)]
    keys = sorted({k for r in runs for k in r["params"]})
    differing = [k for k in keys if len({r["params"].get(k) for r in runs}) > 1]
    lines.append("parameters that differ:" if differing else "parameters: all the same")
    lines += [f"  {k:<26} " + " ".join(f"{_cell(r['params'].get(k, '–'))[:12]:>12}" for r in runs)
              for k in differing]
    lines.append("metrics:")
    lines += [f"  {k:<26} " + " ".join(f"{_cell(r['metrics'].get(k, '–'))[:12]:>12}" for r in runs)
              for k in sorted({k for r in runs for k in r["metrics"]})]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)

def _inspected(args: argparse.Namespace) -> tuple[Any, Any, list[int]]:
    """The model of PROJECT|RUN, its data (``--data`` or the project's setup) and the chosen samples' indices."""
    import os

    from designer.graph.serialize import DocumentFormatError
    from designer.training.spec import check_backend_installed

    if "keras" not in sys.modules:  # Keras would stop at its own import with a traceback
        try:
            check_backend_installed(os.environ.get("KERAS_BACKEND", "tensorflow"), "KERAS_BACKEND",
                                    "KERAS_BACKEND=tensorflow")
        except DocumentFormatError as exc:
            raise UsageError(str(exc)) from None
    _quiet_backend()
    from designer.data.dataset import DataError
    from designer.data.sources import load_setup
    from designer.export.report import ExportError
    from designer.export.source import open_source
    from designer.training.records import download_run

    try:
        indices = [int(i) for i in args.samples.split(",") if i.strip()]
    except ValueError:
        raise UsageError(f"--samples {args.samples!r}: give sample indices like 0,1,2") from None
    try:
        source = open_source(args.source, args.tracking_uri, download_run)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    setup = {**source.data, **_data_override(args)}
    if not setup.get("source"):
        raise UsageError(f"{args.source} has no data setup; give --data builtin:NAME, images:FOLDER, npz:PATH "
                         "or csv:PATH")
    folder = source.folder
    try:
        dataset = load_setup(setup, folder)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    wrong = [i for i in indices if not 0 <= i < len(dataset.x)]
    if wrong or not indices:
        raise UsageError(f"sample {wrong[0] if wrong else args.samples!r} is out of range: {dataset.name} has "
                         f"{len(dataset.x)} samples (0–{len(dataset.x) - 1})")
    return source.model, dataset, indices


def cmd_explain(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if (out.exists() and not out.is_dir()) or not out.parent.is_dir():
        raise UsageError(f"{out}: give a folder (its parent must exist) for the maps and pictures")
    model, dataset, indices = _inspected(args)
    import numpy as np

    from designer.inspection.common import InspectionError, is_image, outputs, predicted_classes, scores_of
    from designer.inspection.explain import explain
    from designer.inspection.overlay import save_overlay
    from designer.inspection.stream import progress_printer

    x = np.asarray(dataset.x[indices])
    baseline = 0.0 if is_image(x.shape[1:]) or x.dtype.kind != "f" else np.asarray(dataset.x).mean(axis=0)
    try:
        scores = outputs(model, x)
        classes = predicted_classes(scores)
        maps = explain(model, x, args.method, layer=args.layer, classes=classes, baseline=baseline,
                       progress=progress_printer() if args.json else None)
    except InspectionError as exc:
        raise UsageError(str(exc)) from None
    out.mkdir(exist_ok=True)
    names = dataset.class_names
    for index, sample, heat, chosen, probability in zip(indices, x, maps, classes, scores_of(scores, classes),
                                                        strict=True):
        stem = out / f"sample_{index}_{args.method}"
        np.save(stem.with_suffix(".npy"), heat)
        save_overlay(sample, heat, stem.with_suffix(".png"))
        label = names[chosen] if chosen < len(names) else str(chosen)
        record = {"sample": index, "class": label, "probability": float(probability),
                  "map": str(stem.with_suffix(".npy")), "png": str(stem.with_suffix(".png"))}
        print(json.dumps(record) if args.json else
              f"sample {index}: {label} (p = {probability:.3f}) → {record['png']}", flush=True)
    return EXIT_OK


def cmd_activations(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".npz" or not out.parent.is_dir():
        raise UsageError(f"{out}: give a .npz file in an existing folder")
    model, dataset, indices = _inspected(args)
    import numpy as np

    from designer.inspection.activations import activations
    from designer.inspection.common import InspectionError

    try:
        values = activations(model, args.layer, np.asarray(dataset.x[indices]))
    except InspectionError as exc:
        raise UsageError(str(exc)) from None
    arrays = {"activations": values[0]} if len(values) == 1 else {f"activations_{k}": v for k, v in enumerate(values)}
    np.savez(out, samples=np.asarray(indices), **arrays)
    print(f"wrote {out}: layer {args.layer}, " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".npz" or not out.parent.is_dir():
        raise UsageError(f"{out}: give a .npz file in an existing folder")
    if args.n < 1:
        raise UsageError(f"-n {args.n}: give how many samples to generate, 1 or more")
    _quiet_backend()
    import numpy as np

    from designer.export.report import ExportError
    from designer.export.source import open_source
    from designer.graph.serialize import DocumentFormatError
    from designer.training.recipes import conditional, generate, recipe_options
    from designer.training.records import download_run

    try:
        source = open_source(args.source, args.tracking_uri, download_run)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    training = source.project.training if source.project else {}
    recipe = training.get("recipe", "supervised")
    if recipe == "supervised":
        raise UsageError(f"{args.source} trains a supervised network, which generates nothing: generate takes a "
                         "project (or its run) whose training recipe is gan or vae")
    try:
        options = recipe_options(recipe, training.get(recipe))
        labels = None
        if conditional(source.model, recipe, options):
            classes = _class_count(source)
            if args.class_ is not None and not 0 <= args.class_ < classes:
                raise UsageError(f"--class {args.class_}: the classes are 0–{classes - 1}")
            labels = np.full(args.n, args.class_) if args.class_ is not None else np.arange(args.n) % classes
        elif args.class_ is not None:
            raise UsageError(f"--class {args.class_}: this {recipe.upper()} is not conditional (its "
                             f"{options['generator' if recipe == 'gan' else 'decoder']} takes no class input)")
        x = generate(source.model, training, args.n, seed=args.seed, label=labels)
    except (DocumentFormatError, ValueError) as exc:
        raise UsageError(f"{args.source}: {exc}") from None
    arrays = {"x": x, **({"y": labels.astype("int64")} if labels is not None else {})}
    np.savez(out, **arrays)
    print(f"wrote {out}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return EXIT_OK


def _class_count(source: Any) -> int:
    """How many classes a conditional GAN's data has (its data setup names them, or the data holds them)."""
    from designer.data.dataset import DataError
    from designer.data.sources import load_setup

    if source.data.get("classes"):
        return len(source.data["classes"])
    try:
        return max(1, len(load_setup(source.data, source.folder).class_names))
    except DataError as exc:
        raise UsageError(f"cannot tell this conditional GAN's classes from its data: {exc}") from None


# ---- parsing ------------------------------------------------------------------------------
class _Skipped:
    """Stands in for the parser of a command not being run: its arguments are taken and dropped."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only`` just that command's part: eight sub-parsers are ~8 ms
    that ``netdesigner gui`` would spend before its window shows."""
    parser = _Parser(prog="netdesigner", description="Keras Network Designer: design, analyse, "
                     "train and export Keras networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    Handler = Callable[[argparse.Namespace], int]

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser | _Skipped:
        if only not in (None, name):
            return _Skipped()
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(handler=handler)
        return p

    p = command("gui", cmd_gui, "open the designer (the default command)")
    p.add_argument("project", nargs="?", help="a project file (.kdn)")
    p.add_argument("--screenshot", metavar="PNG", help="render offscreen to PNG and exit")
    p.add_argument("--dark", action="store_true", help="use the dark theme")
    p = command("layers", cmd_layers, "list the layer catalog")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = command("analyze", cmd_analyze, "shapes, parameters and diagnostics of a project")
    p.add_argument("project", help="a project file (.kdn)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = command("import", cmd_import, "import a Keras model as a project")
    p.add_argument("source", help="FILE.keras | FILE.h5 | CONFIG.json | keras.applications:NAME | FILE.onnx "
                                  "| SAVEDMODEL_DIR | FILE.pt2 or TorchScript FILE.pt (torch extra, --trust-code)")
    p.add_argument("-o", "--output", required=True, metavar="PROJECT", help="the project file to write (.kdn)")
    p.add_argument("--json", action="store_true", help="print the result (and an ONNX import's report) as JSON")
    p.add_argument("--weights", metavar="FILE", help="for keras.applications: a local weights file to load")
    p.add_argument("--placeholders", action="store_true",
                   help="ONNX: put marked placeholders where operators have no Keras equivalent (analysis reports "
                        "them as errors until replaced) instead of refusing the file")
    p.add_argument("--fixed-batch", action="store_true",
                   help="ONNX: keep ONNX axis 0 as an ordinary data axis behind a Keras batch axis of its own (one "
                        "whole ONNX tensor per sample: run it as model(x[None])); chosen on its own for a graph "
                        "that computes across ONNX axis 0")
    p.add_argument("--trust-code", action="store_true",
                   help="PyTorch .pt2/.pt: allow loading the file, which runs Python code pickled in it (done in a "
                        "separate process); only for files from a source you trust")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="TorchScript .pt: the input shape to export with (a .pt2 file records its own)")
    p = command("codegen", cmd_codegen, "write a Python script whose build_model() returns the model")
    p.add_argument("project", help="a project file (.kdn)")
    p.add_argument("-o", "--output", metavar="FILE.py", help="write here instead of standard output")
    p = command("export", cmd_export, "export the model with its weights, then reload the artifact and "
                "compare it with Keras")
    p.add_argument("source", metavar="PROJECT|RUN", help="a project file (.kdn), a run's folder, or a run id")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="FILE.keras, a SavedModel folder, "
                   "FILE.onnx, FILE.tflite or FILE.py (its weights go beside it)")
    p.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset (default 17)")
    p.add_argument("--tolerance", type=float, default=1e-5, metavar="T",
                   help="largest absolute difference from Keras accepted (default 1e-5)")
    p.add_argument("--network", metavar="NAME", help="export this block alone, or 'all' for the whole network "
                   "(default: a GAN's generator, a VAE's decoder; the whole network otherwise)")
    p.add_argument("--tracking-uri", metavar="URI", help="where to find RUN (default: sqlite:///runs.db here)")
    p.add_argument("--json", action="store_true", help="print the verification report as a JSON object")
    p = command("train", cmd_train, "train the project's network in a worker process")
    p.add_argument("project", help="a project file (.kdn)")
    p.add_argument("--data", metavar="SOURCE", help="builtin:NAME, images:FOLDER, npz:PATH or csv:PATH "
                   "(default: the project's data setup)")
    p.add_argument("--target", metavar="COLUMN", help="with csv:PATH, the column to predict")
    p.add_argument("--features", metavar="COL,COL", help="with csv:PATH, the input columns (default: all others)")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking store (default: sqlite:///runs.db "
                   "beside the project)")
    p.add_argument("--resume", metavar="RUN", help="go on from the last checkpoint of this run (same store)")
    p.add_argument("--json", action="store_true", help="one JSON event per line, the last one the result")
    p = command("sweep", cmd_sweep, "run an experiment: trials in parallel workers, chosen by grid, random or "
                "Bayesian search, recorded in MLflow and Optuna")
    p.add_argument("project", help="a project file (.kdn)")
    p.add_argument("--experiment", metavar="NAME", help="the project's experiment to run (default: its only one)")
    p.add_argument("--param", action="append", metavar="KEY=SPEC", help="a hyperparameter: KEY is training.OPTION "
                   "or LAYER.PARAM (or LAYER.enabled); SPEC is a,b,c or int:LOW:HIGH, float:LOW:HIGH, log:LOW:HIGH")
    p.add_argument("--strategy", choices=["grid", "random", "bayesian"])
    p.add_argument("--trials", type=int, metavar="N", help="how many trials in all (default: the whole grid, or 10)")
    p.add_argument("--workers", type=int, metavar="N", help="trials run at once, each in its own warm worker")
    p.add_argument("--objective", metavar="METRIC", help="what to optimise, e.g. val_accuracy (default val_loss)")
    p.add_argument("--direction", choices=["minimize", "maximize"], help="default: from the metric's name")
    p.add_argument("--pruner", choices=["none", "median", "hyperband"], help="stop poor trials early")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="start no trial after this long")
    p.add_argument("--data", metavar="SOURCE", help="builtin:NAME, images:FOLDER, npz:PATH or csv:PATH")
    p.add_argument("--target", metavar="COLUMN", help="with csv:PATH, the column to predict")
    p.add_argument("--features", metavar="COL,COL", help="with csv:PATH, the input columns")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs of every trial")
    p.add_argument("--storage", metavar="URL", help="the Optuna study's database (default: sqlite:///sweeps.db "
                   "beside the project); sweeps on other machines with the same URL join the experiment")
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking store (default: sqlite:///runs.db "
                   "beside the project)")
    p.add_argument("--json", action="store_true", help="one JSON event per line, the last one the summary")
    p = command("runs", cmd_runs, "list, show or compare recorded runs")
    p.add_argument("action", choices=["list", "show", "compare"])
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids (or unique prefixes)")
    p.add_argument("--experiment", metavar="NAME", help="with list: only this MLflow experiment")
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking store (default: sqlite:///runs.db here)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    for name, handler, text in (("explain", cmd_explain, "why the network chose its class: one map (.npy) and "
                                  "one picture (.png) per sample"),
                                ("activations", cmd_activations, "a layer's outputs on some samples, as .npz")):
        p = command(name, handler, text)
        p.add_argument("source", metavar="PROJECT|RUN", help="a project file (.kdn), a run's folder, or a run id")
        if name == "explain":
            p.add_argument("--method", required=True, choices=["gradcam", "guided-gradcam", "occlusion", "lime",
                                                               "integrated-gradients"])
        p.add_argument("--layer", required=name == "activations", metavar="NAME",
                       help="the layer (for explain: gradcam's convolution, default the last one)")
        p.add_argument("--samples", required=True, metavar="I,J,...", help="indices of samples in the data")
        p.add_argument("-o", "--output", required=True, metavar="DIR" if name == "explain" else "FILE.npz")
        p.add_argument("--data", metavar="SOURCE", help="builtin:NAME, images:FOLDER, npz:PATH or csv:PATH "
                       "(default: the project's data setup)")
        p.add_argument("--target", metavar="COLUMN", help="with csv:PATH, the column to predict")
        p.add_argument("--features", metavar="COL,COL", help="with csv:PATH, the input columns")
        p.add_argument("--tracking-uri", metavar="URI", help="where to find RUN (default: sqlite:///runs.db here)")
        if name == "explain":
            p.add_argument("--json", action="store_true", help="one JSON object per sample")
    p = command("compress", cmd_compress, "quantise or prune the model for deployment, measured against the "
                "float artifact of the same kind on the test split")
    p.add_argument("source", metavar="PROJECT|RUN", help="a project file (.kdn), a run's folder, or a run id")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--sparsity", type=float, metavar="S", help="with prune: the share of weights to zero; with "
                   "prune-structured: the share of each layer's filters or units to remove "
                   f"(default {DEFAULT_SPARSITY})")
    p.add_argument("--epochs", type=int, metavar="N", help="with prune and prune-structured: fine-tuning epochs "
                   f"(default {DEFAULT_EPOCHS})")
    p.add_argument("--data", metavar="SOURCE", help="builtin:NAME, npz:PATH or csv:PATH to calibrate, fine-tune "
                   "and measure on (default: the project's data setup)")
    p.add_argument("--target", metavar="COLUMN", help="with csv:PATH, the column to predict")
    p.add_argument("--features", metavar="COL,COL", help="with csv:PATH, the input columns")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="FILE.tflite (dynamic, float16, int8), "
                   "FILE.keras (keras-int8, prune), FILE.onnx (onnx-int8) or PROJECT.kdn (prune-structured: the "
                   "shrunk network, its weights beside it)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="POINTS",
                   help=f"accuracy points the artifact may lose on the test split (default {DEFAULT_TOLERANCE:g})")
    p.add_argument("--tracking-uri", metavar="URI", help="where to find RUN (default: sqlite:///runs.db here)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line, last")
    p = command("generate", cmd_generate, "new samples from a trained GAN or VAE, as array x (and y, their "
                "classes, for a conditional GAN) in a .npz file")
    p.add_argument("source", metavar="RUN|PROJECT", help="a run id, a run's folder, or a project file (.kdn)")
    p.add_argument("-n", type=int, required=True, metavar="N", help="how many samples")
    p.add_argument("--class", dest="class_", type=int, metavar="C", help="a conditional GAN's class (default: "
                   "the classes in turn)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="the noise's seed (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz")
    p.add_argument("--tracking-uri", metavar="URI", help="where to find RUN (default: sqlite:///runs.db here)")
    return parser


def _check_command(word: str) -> None:
    """A first word that is neither a command nor a file to open is a mistyped command: suggest the nearest."""
    if word.startswith("-") or Path(word).suffix or Path(word).exists() or "/" in word or "\\" in word:
        return
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"the commands are {', '.join(COMMANDS)}"
    raise UsageError(f"{word!r} is not a command or a project file; {hint} (see 'netdesigner --help')")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] not in COMMANDS:
            _check_command(argv[0])
        if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
            argv.insert(0, "gui")
        args = build_parser(argv[0] if argv[0] in COMMANDS else None).parse_args(argv)
        with _stop_on_sigterm() if args.command in ("train", "sweep") else nullcontext():
            return args.handler(args)
    except (UsageError, StoreError) as exc:
        print(f"netdesigner: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"netdesigner: no space left on the device{where}; free some space and try again", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("netdesigner: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("netdesigner: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
