"""What a compression produced, against the float artifact of the same kind, and whether it stays within
the quantisation tolerance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from designer.compress.methods import DEFAULT_TOLERANCE

MIN_AGREEMENT = 0.9  # the share of test samples whose top-1 class must match the float model's


@dataclass
class CompressReport:
    method: str
    path: str
    size_bytes: int
    baseline_bytes: int
    compressed_bytes: int
    baseline_compressed_bytes: int
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    agreement: float | None
    latency_ms: dict[str, float]
    baseline_latency_ms: dict[str, float]
    params: int
    nonzero_params: int
    test_samples: int
    tolerance: float = DEFAULT_TOLERANCE
    convert_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    run_id: str = ""  # the variant's run in the tracking store, when it was made from a run
    parent_run_id: str = ""

    @property
    def loss_points(self) -> float:
        """How much worse the artifact is on the test split: accuracy points lost, or percent MAE gained."""
        if "accuracy" in self.metrics:
            return 100 * (self.baseline_metrics["accuracy"] - self.metrics["accuracy"])
        return 100 * (self.metrics["mae"] - self.baseline_metrics["mae"]) / max(self.baseline_metrics["mae"], 1e-12)

    @property
    def ok(self) -> bool:
        return self.loss_points <= self.tolerance and (self.agreement is None or self.agreement >= MIN_AGREEMENT)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "size_ratio": self.size_bytes / self.baseline_bytes,
                "compressed_ratio": self.compressed_bytes / self.baseline_compressed_bytes,
                "loss_points": self.loss_points, "min_agreement": MIN_AGREEMENT, "ok": self.ok}

    def text(self) -> str:
        verdict = "within tolerance" if self.ok else "OUTSIDE the tolerance (nothing was written)"
        shown = ", ".join(f"{k} {v:.4f} (float {self.baseline_metrics[k]:.4f})" for k, v in self.metrics.items())
        lines = [f"{self.method}: {verdict}" + (f": {self.path}" if self.ok else ""),
                 f"  size       {self.size_bytes:,} B, float {self.baseline_bytes:,} B "
                 f"({self.size_bytes / self.baseline_bytes:.2f}×)",
                 f"  gzipped    {self.compressed_bytes:,} B, float {self.baseline_compressed_bytes:,} B "
                 f"({self.compressed_bytes / self.baseline_compressed_bytes:.2f}×)",
                 f"  test split {shown} on {self.test_samples} samples; {self.loss_points:.2f} points lost "
                 f"(tolerance {self.tolerance:g})",
                 *([] if self.agreement is None else
                   [f"  top-1 agreement with the float model {self.agreement:.2%} (at least {MIN_AGREEMENT:.0%})"]),
                 "  latency    " + ", ".join(f"batch {b}: {ms:.2f} ms (float {self.baseline_latency_ms[b]:.2f} ms)"
                                            for b, ms in self.latency_ms.items()),
                 f"  params     {self.params:,}, non-zero {self.nonzero_params:,}",
                 f"  compressed in {self.convert_s:.1f} s"]
        if self.run_id:
            lines.append(f"  recorded as run {self.run_id}, a variant of run {self.parent_run_id}")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])
