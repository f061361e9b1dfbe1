"""What an export wrote, and how closely the reloaded artifact matches Keras."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from designer.export.formats import NAMES

DEFAULT_TOLERANCE = 1e-5


class ExportError(Exception):
    """The export could not be made. ``usage`` marks unusable input (exit code 2), else the work failed."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class ExportReport:
    format: str
    path: str
    model_inputs: list[str]
    artifact_inputs: list[str]
    outputs: list[str]
    batches: list[int] = field(default_factory=list)
    max_abs_diff: float = float("inf")
    source_max_abs_diff: float | None = None  # against the imported source model's outputs, when it applies
    tolerance: float = DEFAULT_TOLERANCE
    convert_s: float = 0.0
    verify_s: float = 0.0
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def inputs_match(self) -> bool:
        # TFLite lists a signature's inputs sorted by name, so the order is not part of the check there.
        if self.format == "tflite":
            return sorted(self.model_inputs) == sorted(self.artifact_inputs)
        return self.model_inputs == self.artifact_inputs

    @property
    def ok(self) -> bool:
        return self.inputs_match and self.max_abs_diff <= self.tolerance and self.source_ok

    @property
    def source_ok(self) -> bool:
        return self.source_max_abs_diff is None or self.source_max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inputs_match": self.inputs_match, "ok": self.ok}

    def text(self) -> str:
        verdict = "verified" if self.ok else "FAILED verification"
        lines = [f"{NAMES.get(self.format, self.format)} export {verdict}: {self.path}",
                 f"  inputs   model {self.model_inputs} · artifact {self.artifact_inputs}"
                 + ("" if self.inputs_match else "  ← differ"),
                 f"  outputs  {self.outputs}",
                 f"  compared with Keras (training=False) on batches of {', '.join(map(str, self.batches))}: "
                 f"max |difference| = {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e})",
                 *([] if self.source_max_abs_diff is None else [
                     f"  compared with the imported source model: max |difference| = {self.source_max_abs_diff:.2e}"
                     + ("" if self.source_ok else "  ← differs")]),
                 f"  converted in {self.convert_s:.2f} s, verified in {self.verify_s:.2f} s"]
        lines += [f"  wrote {f}" for f in self.files]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
