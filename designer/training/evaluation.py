"""What a finished run tells about its model on the test split: for classifiers the confusion matrix,
per-class precision/recall/F1 and a few sample predictions (with Grad-CAM heat maps for convolutional
image classifiers); for regression predicted against true values. Runs inside the worker; the result
is plain JSON, stored with the run and drawn by the window."""

from __future__ import annotations

from typing import Any

import numpy as np

from designer.inspection.common import InspectionError, predicted_classes
from designer.inspection.gradcam import grad_cam

SAMPLES = 12
PAIRS = 500


def evaluate(model: Any, inputs: Any, x: Any, y: np.ndarray, task: str, class_names: list[str]) -> dict[str, Any]:
    """``inputs`` is what ``predict`` takes (arrays, a tensor, or batches); ``x`` the indexable samples."""
    scores = np.asarray(model.predict(inputs, verbose=0))
    if task == "classification":
        return {**classifier_report(scores, y, class_names), **sample_predictions(model, x, y, scores, class_names)}
    return regression_report(scores, y)


def classifier_report(scores: np.ndarray, y: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    predicted = predicted_classes(scores)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    return {"classes": class_names, "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
            "per_class": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
                          for name, p, r, f, n in zip(class_names, precision, recall, f1, support, strict=True)}}


def regression_report(scores: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The first output against its target on up to 500 test samples, with R² and MAE over all of them."""
    from sklearn.metrics import mean_absolute_error, r2_score

    predicted, true = scores.reshape(len(scores), -1), np.asarray(y).reshape(len(y), -1)
    return {"regression": {"true": true[:PAIRS, 0].round(5).tolist(),
                           "predicted": predicted[:PAIRS, 0].round(5).tolist(),
                           "r2": float(r2_score(true, predicted)), "mae": float(mean_absolute_error(true, predicted))}}


def sample_predictions(model: Any, x: Any, y: np.ndarray, scores: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """The first test images with their true and predicted class, confidence, and where the network looked."""
    if getattr(x, "ndim", 0) != 4 or x.shape[-1] not in (1, 3):
        return {}
    images = np.asarray(x[:SAMPLES], dtype="float32")
    predicted = predicted_classes(scores[:SAMPLES])
    samples = [{"image": image.round(3).tolist(), "true": class_names[int(t)], "predicted": class_names[int(p)],
                "confidence": float(s.max() if s.shape[-1] > 1 else (s[0] if p else 1 - s[0]))}
               for image, t, p, s in zip(images, y[:SAMPLES], predicted, scores[:SAMPLES], strict=False)]
    try:
        heat = grad_cam(model, images, predicted)
    except InspectionError:  # no convolution, several inputs, or a backend without gradients: no heat maps
        heat = []
    for sample, cam in zip(samples, heat, strict=False):
        sample["heatmap"] = cam.round(3).tolist()
    return {"samples": samples}

