"""The TensorFlow training engine: the platform aggregator and client trainer jobs.

The pieces that need neither Kafka nor the chain live in their own modules so the jobs, the
``kafkaml audit --recompute`` command and the tests share one definition of each rule:
``strategies`` (aggregation), ``rewards`` (payouts and rejections), ``model_source`` (building the
user's Keras model), ``settings`` (the jobs' environment) and ``results`` (progress reporting).
"""
