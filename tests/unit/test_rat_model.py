"""The paper's CNN as model source: exact size, and accepted by the builder and its allow-list."""

from __future__ import annotations

import pytest

from kafkaml.architecture import rebuild
from kafkaml.builder import describe
from kafkaml.model_source import build_model
from kafkaml.usecases.rat.model import build, model_source


def test_the_paper_cnn_has_229966_trainable_and_230206_total_parameters():
    model, compile_args, report = build()
    assert report.trainable_params == 229_966
    assert report.total_params == 230_206
    assert report.weight_bytes == 230_206 * 4  # ~0.92 MB of float32
    assert model.input_shape == (None, 2, 880, 1) and model.output_shape == (None, 6)
    dense = next(layer for layer in model.layers if layer.name.startswith("dense"))
    assert dense.input.shape[-1] == 3520 and dense.count_params() / report.trainable_params > 0.97
    assert compile_args["loss"] == "sparse_categorical_crossentropy"


def test_the_source_is_what_the_platform_builds_from():
    model = build_model(model_source(), input_shape=(2, 880, 1), output_shape=(6,))
    assert model.count_params() == 230_206 and model.compiled
    built = describe(model)  # what the builder prints: only allow-listed layers
    assert {layer.class_name for layer in built.layers} == {"Conv2D", "BatchNormalization", "Dropout", "MaxPooling2D",
                                                           "Flatten", "Dense"}
    rebuilt = rebuild(built.architecture, built.compile_config)
    assert rebuilt.count_params() == 230_206 and [w.shape for w in rebuilt.get_weights()] == [
        spec.shape for spec in built.weights]


def test_the_window_length_is_configurable_and_changes_only_the_dense_layer():
    _, _, report = build(model_source(window=256))
    assert report.trainable_params == 229_966 - (880 - 256) // 2 * 8 * 64


@pytest.mark.parametrize("window, dropout", [(2, 0.2), (880.0, 0.2), (880, 1.0), (880, -0.1)])
def test_bad_model_settings_are_refused(window, dropout):
    with pytest.raises(ValueError, match="window|dropout"):
        model_source(window=window, dropout=dropout)
