"""The inference worker's environment, as it reads it. The platform writes it with
:class:`kafkaml.jobs.InferenceJob`; ``tests/unit/test_job_contract.py`` checks that every name
that contract sends is declared here, so ``kafkaml config`` lists each with its meaning.

:func:`load_job` checks a whole environment at start and reports every bad variable at once, by
name: a deployment that cannot answer (no model, an input configuration no sample can fit) fails
before it consumes anything, with the reason in its log.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from kafkaml.codecs import SAMPLE_FORMATS, AvroSampleCodec, RawSampleCodec, SampleError, sample_codec
from kafkaml.config import ConfigError, Setting, declare
from kafkaml.jobs import InferenceJob
from kafkaml.topics import TopicError, check_topic_name

DEFAULT_BATCH = 32
DEFAULT_BATCH_WAIT_MS = 20
#: The largest batch: one predict call's input is this many samples (each at most
#: ``kafkaml.codecs.MAX_SAMPLE_BYTES``), held in memory at once.
MAX_BATCH = 4096
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

INFERENCE = declare(
    "Inference worker",
    Setting("RESULT_ID", "The training result whose final model answers (for the logs and the model's URL).",
            kind="int", minimum=1),
    Setting("BOOTSTRAP_SERVERS", "Kafka bootstrap of the input topic."),
    Setting("INPUT_TOPIC", "Topic of the samples to answer; the worker waits for it to exist."),
    Setting("OUTPUT_TOPIC", "Topic of the predictions, created with INPUT_TOPIC's partition count; the "
            "answer to input partition p goes to partition p (docs/inference.md)."),
    Setting("ERROR_TOPIC", "Topic of the answers to records that are not a sample, created beside OUTPUT_TOPIC "
            "with the same partitions."),
    Setting("GROUP_ID", "Consumer group of the deployment: its replicas share INPUT_TOPIC's partitions."),
    Setting("INPUT_FORMAT", "Encoding of one sample.", choices=SAMPLE_FORMATS),
    Setting("INPUT_CONFIG", 'JSON description of one sample (RAW: {"data_type": "float32", "data_reshape": '
            '[2, 128]}; AVRO: {"data_scheme": <record schema>, "data_reshape": [...]}).', kind="json"),
    Setting("MODEL_SHA256", "SHA-256 of the model file (64 hex digits): any other file is refused."),
    Setting("MODEL_URL", "Where the model is downloaded (the backend's result model), with the token of "
            "INFERENCE_TOKEN_FILE; exactly one of MODEL_URL and MODEL_FILE.", default=None),
    Setting("MODEL_FILE", "The model file itself (local runs).", kind="path", default=None),
    Setting("INFERENCE_TOKEN_FILE", "File holding the token MODEL_URL takes (sent as `Authorization: Job "
            "<token>`; a mounted Secret).", kind="path", default=None),
    Setting("OUTPUT_BOOTSTRAP_SERVERS", "Kafka bootstrap of OUTPUT_TOPIC and ERROR_TOPIC (default: "
            "BOOTSTRAP_SERVERS).", default=None),
    Setting("BATCH", "Most samples predicted together.", kind="int", default=DEFAULT_BATCH, minimum=1,
            maximum=MAX_BATCH),
    Setting("BATCH_WAIT_MS", "Longest a sample waits for its batch to fill before it is predicted.", kind="int",
            default=DEFAULT_BATCH_WAIT_MS, minimum=0, maximum=60000),
)


def load_job(environ: Mapping[str, str]) -> tuple[InferenceJob, RawSampleCodec | AvroSampleCodec]:
    """The job ``environ`` describes and the codec of its input, or a :class:`ConfigError` naming
    every variable that is wrong."""
    values = INFERENCE.load(environ)
    job = dataclasses.replace(InferenceJob.from_environ(environ), batch=values["BATCH"],
                              batch_wait_ms=values["BATCH_WAIT_MS"])
    problems = []
    for name, topic in (("INPUT_TOPIC", job.input_topic), ("OUTPUT_TOPIC", job.output_topic),
                        ("ERROR_TOPIC", job.error_topic)):
        try:
            check_topic_name(topic)
        except TopicError as exc:
            problems.append(f"{name}: {exc}")
    if len({job.input_topic, job.output_topic, job.error_topic}) < 3:
        problems.append("INPUT_TOPIC, OUTPUT_TOPIC and ERROR_TOPIC must be three different topics")
    if not _SHA256.match(job.model_sha256):
        problems.append("MODEL_SHA256 must be 64 lower-case hex digits")
    if (job.model_url is None) == (job.model_file is None):
        problems.append("set exactly one of MODEL_URL and MODEL_FILE")
    elif job.model_url is not None and not environ.get("INFERENCE_TOKEN_FILE"):
        problems.append("MODEL_URL needs INFERENCE_TOKEN_FILE, the file holding its token")
    codec = None
    try:
        codec = sample_codec(job.input_format, job.input_config)
    except SampleError as exc:
        problems.append(f"INPUT_CONFIG: {exc}")
    if problems:
        raise ConfigError("Inference worker: " + "; ".join(problems))
    assert codec is not None
    return job, codec
