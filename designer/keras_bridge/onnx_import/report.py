"""What an ONNX import did, for people (``text()``) and for programs (``to_dict()``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from designer.keras_bridge.onnx_import.layout import BATCH, channels_last, onnx_axes

PARITY_TOLERANCE = 1e-4  # relative to the largest reference output


@dataclass
class Parity:
    """The imported model against onnxruntime on one probe input."""

    max_abs: float
    max_rel: float
    probe: str
    against: str = "onnxruntime"

    @property
    def ok(self) -> bool:
        return self.max_rel <= PARITY_TOLERANCE


@dataclass
class TensorLayout:
    name: str
    onnx_shape: list[int | None]
    keras_shape: list[int | None]
    axes: list[int]  # Keras axis i holds ONNX axis axes[i] (BATCH, -1: a batch axis of Keras's own)

    @property
    def changed(self) -> bool:
        return BATCH in self.axes or self.axes != sorted(self.axes)

    def change(self) -> str:
        """How Keras lays the tensor out, in words."""
        words = []
        if BATCH in self.axes:
            words.append("a batch axis of Keras's own in front")
        axes = list(onnx_axes(tuple(self.axes)))
        if axes != sorted(axes):
            words.append(f"axes {tuple(axes)}" + (", channels moved last" if tuple(axes) == channels_last(len(axes))
                                                  else ""))
        return ", ".join(words) or "unchanged"


@dataclass
class ImportReport:
    source: str
    producer: str
    opset: int
    operators: dict[str, int]
    became: list[tuple[str, str, list[str]]]  # (node, op type, what it became)
    folded: int
    inputs: list[TensorLayout]
    outputs: list[TensorLayout]
    permutes: int
    parameters_onnx: int
    parameters_keras: int
    parity: Parity | None = None
    notes: list[str] = field(default_factory=list)
    placeholders: list[tuple[str, str, str]] = field(default_factory=list)  # (node, op type, why unconverted)

    @property
    def fixed_batch(self) -> bool:
        """Whether ONNX axis 0 is data behind a batch axis of Keras's own."""
        return any(BATCH in t.axes for t in self.inputs + self.outputs)

    def mapping(self) -> dict[str, dict[str, int]]:
        """Per operator type, how often it became each Keras class (``Conv → {Conv2D: 26}``)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for _node, op, made in self.became:
            counts[op].update(made)
        return {op: dict(c) for op, c in counts.items()}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["became"] = [{"node": n, "op": op, "keras": made} for n, op, made in self.became]
        data["mapping"] = self.mapping()
        data["layout_changed"] = any(t.changed for t in self.inputs + self.outputs)
        data["fixed_batch"] = self.fixed_batch
        data["placeholders"] = [{"node": n, "op": op, "reason": why} for n, op, why in self.placeholders]
        if self.parity is not None:
            data["parity"]["ok"] = self.parity.ok
        return data

    def text(self) -> str:
        lines = [f"ONNX import of {self.source} (producer {self.producer or 'unknown'}, opset {self.opset})",
                 "operators: " + ", ".join(f"{op} ×{n}" for op, n in self.operators.items()),
                 f"constant-folded nodes: {self.folded}", "became:"]
        for op, made in self.mapping().items():
            lines.append(f"  {op:<20} → " + ", ".join(f"{k} ×{n}" for k, n in made.items()))
        lines.append("layout:")
        for kind, tensors in (("input", self.inputs), ("output", self.outputs)):
            for t in tensors:
                lines.append(f"  {kind} {t.name}: ONNX {shape_text(t.onnx_shape)} → Keras "
                             f"{shape_text(t.keras_shape)} ({t.change()})")
        if self.permutes:
            lines.append(f"  {self.permutes} Permute layer(s) keep ONNX's element order (e.g. before Flatten)")
        lines.append(f"parameters: {self.parameters_onnx:,} in ONNX → {self.parameters_keras:,} in Keras")
        if self.placeholders:
            lines.append(f"PLACEHOLDERS: {len(self.placeholders)} node(s) have no Keras equivalent; marked "
                         "placeholders stand in their place (errors in analysis): replace them")
            lines += [f"  {node} ({op}): {why}" for node, op, why in self.placeholders]
        lines += [f"note: {n}" for n in self.notes]
        if self.parity is not None:
            p = self.parity
            verdict = "OK" if p.ok else f"MISMATCH: ABOVE {PARITY_TOLERANCE:g} RELATIVE — DO NOT TRUST THIS IMPORT"
            lines.append(f"parity vs {p.against} ({p.probe}): max abs {p.max_abs:.3g}, "
                         f"max rel {p.max_rel:.3g} — {verdict}")
        return "\n".join(lines)


def shape_text(dims: list[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"
