"""The TensorFlow training engine: the platform aggregator and client trainer jobs.

The rules the jobs share with ``kafkaml audit --recompute`` and the platform backend live in
``kafkaml`` (``strategies``, ``rewards``, ``architecture``; the user's model source is only ever
run by ``kafkaml.builder``, a process without secrets). Here: ``rounds`` (screening and
aggregating one round), ``settings`` (the jobs' environment) and ``results`` (progress reporting).
"""

#: The modules whose import declares this package's settings (``kafkaml config`` lists them).
SETTINGS_MODULES = ("training_worker.settings", "training_worker.audit_job")
