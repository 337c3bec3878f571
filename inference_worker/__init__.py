"""The inference worker (``python -m inference_worker``): a long-running job that answers each
sample on an input topic with the prediction of one trained model, on an output topic.

``settings`` (its environment, the :class:`kafkaml.jobs.InferenceJob` contract), ``model`` (the
model file fetched, pinned by its SHA-256, and loaded without running code; its answers),
``answers`` (the prediction and error records, and which inputs the output topics already
answer: exactly once across restarts) and ``worker`` (the consume-predict-produce loop).
docs/inference.md describes the whole.
"""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("inference_worker.settings",)
