"""Render the README's picture of the explanation methods side by side on one digit: the classic CNN sample
trained on ``builtin:digits32`` from the command line, then ``netdesigner explain`` with each method on one
test digit, their pictures put in a row (Grad-CAM, guided Grad-CAM, occlusion, LIME, integrated gradients).

    python docs/explain_methods.py docs/images [SAMPLE]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "sample_projects"
METHODS = ("gradcam", "guided-gradcam", "occlusion", "lime", "integrated-gradients")
GAP = 6  # pixels between the pictures


def netdesigner(*args: str) -> list[dict]:
    """The command's JSON lines."""
    done = subprocess.run([sys.executable, "-m", "designer", *args, "--json"], check=True, capture_output=True,
                          text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main(out: Path, sample: str) -> None:
    with tempfile.TemporaryDirectory(prefix="explain-methods-") as scratch:
        folder = Path(scratch)
        project = json.loads((SAMPLES / "classic_cnn.kdn").read_text())
        project["data"] = {"source": "builtin:digits32", "target_size": 28}
        project["training"] = {**project["training"], "epochs": 15, "early_stopping_patience": None}
        (folder / "classic_cnn.kdn").write_text(json.dumps(project))
        result = netdesigner("train", str(folder / "classic_cnn.kdn"))[-1]
        print(f"trained: {result.get('metrics')}")
        pictures = []
        for method in METHODS:
            [line] = netdesigner("explain", result["run_id"], "--tracking-uri", f"sqlite:///{folder / 'runs.db'}",
                                 "--method", method, "--samples", sample, "-o", str(folder / "maps"))
            print(f"{method}: class {line['class']} ({line['probability']:.0%})")
            pictures.append(Image.open(line["png"]).convert("RGB"))
        size = pictures[0].size
        row = Image.new("RGB", (len(pictures) * (size[0] + GAP) - GAP, size[1]), "white")
        for k, picture in enumerate(pictures):
            row.paste(picture, (k * (size[0] + GAP), 0))
        row.save(out / "explain_digits.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."), sys.argv[2] if len(sys.argv) > 2 else "14")
