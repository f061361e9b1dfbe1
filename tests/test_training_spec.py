from __future__ import annotations

import pytest

from designer.graph.serialize import DocumentFormatError
from designer.training.spec import TrainingSpec


def test_defaults_round_trip_and_stay_short():
    spec = TrainingSpec.from_dict({"epochs": 3, "learning_rate": 0.01})
    assert spec.to_dict() == {"epochs": 3, "learning_rate": 0.01}
    assert TrainingSpec.from_dict(spec.to_dict()) == spec


def test_loss_and_metrics_are_inferred_from_the_task():
    spec = TrainingSpec()
    assert spec.loss_for("classification", 10) == "sparse_categorical_crossentropy"
    assert spec.loss_for("classification", 1) == "binary_crossentropy"
    assert spec.loss_for("regression", 1) == "mse"
    assert spec.metrics_for("classification") == ["accuracy"]
    assert TrainingSpec(loss="huber").loss_for("regression", 1) == "huber"


@pytest.mark.parametrize(("data", "where"), [
    ({"epochs": 0}, "training.epochs"), ({"batch_size": 2.5}, "training.batch_size"),
    ({"learning_rate": -1}, "training.learning_rate"), ({"schedule": "zigzag"}, "training.schedule"),
    ({"validation_split": 0.6, "test_split": 0.5}, "training.test_split"), ({"colour": 1}, "training.colour"),
])
def test_bad_options_name_the_place(data, where):
    with pytest.raises(DocumentFormatError) as err:
        TrainingSpec.from_dict(data)
    assert err.value.where == where


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine", "warmup_cosine", "plateau"])
def test_every_schedule_builds_and_moves_the_rate_as_named(schedule):
    import keras

    from designer.training.worker import learning_rate_schedule

    rate = learning_rate_schedule(keras, TrainingSpec(schedule=schedule, learning_rate=0.1), steps=100)
    if schedule in ("constant", "plateau"):
        assert rate == 0.1
        return
    at = [float(rate(step)) for step in (0, 50, 99)]
    if schedule == "warmup_cosine":
        assert at[0] < at[1] and at[2] < at[1]
    else:
        assert at[0] == pytest.approx(0.1) and at[2] < at[0]
