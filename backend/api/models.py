"""What the platform backend stores: the source of truth for people (ARCHITECTURE.md).

The chain and Kafka remain the truth of the training itself; rows here mirror what people need
to see, keyed so that a job's repeated report changes nothing (one round record per result and
version). Nothing secret is stored: keys live in files/Secrets, job tokens only as SHA-256.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class MLModel(models.Model):
    """A Keras model a user defined, with what the secret-free builder made of its source.

    Built in the background (services/builds.py): ``building`` until the builder answered, then
    ``ready`` with the description or ``failed`` with the builder's error (and its source line).
    The ``build_*`` columns are the build's durable state, so that any API process can tell a
    build whose process died (no heartbeat) and clean up after it."""

    class Status(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ml_models")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    source = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    error = models.TextField(blank=True, default="")  # the builder's message when failed
    line = models.IntegerField(null=True)  # the source line of that error, where the builder knows it
    description_json = models.TextField(blank=True, default="")  # BuiltModel.to_json() once ready: what jobs get
    parameters = models.BigIntegerField(null=True)
    input_shape = models.JSONField(null=True)
    output_shape = models.JSONField(null=True)
    layers = models.JSONField(default=list)
    build_attempts = models.IntegerField(default=0)  # starts of the current build: a fencing token
    build_heartbeat = models.DateTimeField(null=True)  # null: queued; else last sign of life of its process
    build_job = models.CharField(max_length=253, blank=True, default="")  # cluster: the builder Job
    build_secret = models.CharField(max_length=253, blank=True, default="")  # ... and its Secret
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_model_name_per_owner")]
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"])]


class Configuration(models.Model):
    """A named set of models deployed together (one training per model)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="configurations")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    ml_models = models.ManyToManyField(MLModel, related_name="configurations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_configuration_name_per_owner")]
        ordering = ["-id"]


class Deployment(models.Model):
    """A request to train every model of a configuration with these settings."""

    class Kind(models.TextChoices):
        FEDERATED = "federated"
        SINGLE = "single"  # one model on one of the platform's datasources, not federated
        INCREMENTAL = "incremental"  # single, then on the records that arrive after it

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deployments")
    configuration = models.ForeignKey(Configuration, on_delete=models.PROTECT, related_name="deployments")
    validation_datasource = models.ForeignKey("registry.Datasource", on_delete=models.PROTECT, related_name="deployments")
    coordination = models.CharField(max_length=20)  # federated only; "" for the other kinds
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FEDERATED)
    settings = models.JSONField()  # the validated training settings (rounds, strategy, rewards, ...)
    clients = models.JSONField()  # {identity: sample ceiling}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class TrainingResult(models.Model):
    """One model's training within a deployment: status, chain identity, rounds, final model."""

    class Status(models.TextChoices):
        CREATED = "created"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"
        STOPPED = "stopped"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="results")
    # The deployment's owner, kept on the result too: the results list (the API's busiest read, which
    # the UI polls) counts and pages a user's results by the (owner, id) index alone, instead of
    # joining every result to its deployment first. A deployment's owner never changes.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ml_model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="results")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    federated_id = models.CharField(max_length=64, unique=True)  # FEDERATED_STRING_ID of the jobs
    token_sha256 = models.CharField(max_length=64)  # of the aggregator's token (never the token); cleared at its end
    aggregator_address = models.CharField(max_length=42, blank=True, default="")
    contract_address = models.CharField(max_length=42, blank=True, default="")
    error = models.TextField(blank=True, default="")
    final = models.JSONField(null=True)
    model_file = models.CharField(max_length=500, blank=True, default="")  # path under STORAGE_DIR
    model_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["owner", "id"])]

    def save(self, *args, **kwargs):
        if self.owner_id is None and self.deployment_id is not None:
            self.owner_id = self.deployment.owner_id
        super().save(*args, **kwargs)


class RoundRecord(models.Model):
    """A global version as the aggregator reported it (idempotent per result and version)."""

    result = models.ForeignKey(TrainingResult, on_delete=models.CASCADE, related_name="rounds")
    version = models.IntegerField()
    val_loss = models.FloatField(null=True)
    val_accuracy = models.FloatField(null=True)
    elapsed_s = models.FloatField()
    sha256 = models.CharField(max_length=64, blank=True, default="")  # the version's content hash
    pointer = models.JSONField(null=True)  # where its weights are in Kafka (WeightsPointer.to_json())
    contributions = models.JSONField()
    transaction = models.JSONField(null=True)  # {"hash": ..., "gas": ...} in blockchain mode
    # Central differential privacy: ε at δ spent so far and the round's noise settings (null without it).
    privacy = models.JSONField(null=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["result", "version"], name="one_record_per_version")]
        ordering = ["result", "version"]


class PlatformChain(models.Model):
    """The platform's contracts on one chain, deployed once and never redeployed."""

    chain_id = models.BigIntegerField(unique=True)
    factory = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    admin = models.CharField(max_length=42)
    deployed_at = models.DateTimeField(auto_now_add=True)


class Audit(models.Model):
    """A recompute audit of one training, run as a job; its verdict per version."""

    class Status(models.TextChoices):
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"

    result = models.ForeignKey(TrainingResult, on_delete=models.CASCADE, related_name="audits")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    token_sha256 = models.CharField(max_length=64, blank=True, default="")  # of its job's token; cleared at its end
    report = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]


class Inference(models.Model):
    """A trained model deployed for inference (a finished training's, or the served version of a
    running incremental one): a long-running worker of ``replicas``
    replicas (one consumer group) that reads samples from ``input_topic`` and writes each
    prediction, with its sample's key, to ``output_topic``; a record that is not a sample is
    answered on ``error_topic`` with the reason.

    ``created`` while it is being launched, ``running`` once its workload was started, then
    ``stopped`` by its owner or ``failed`` (its launch, or a replica, failed: ``error`` says why).
    The worker fetches the model with a token of its own (only its SHA-256 is stored, cleared
    when the inference ends), good for that one download."""

    class Status(models.TextChoices):
        CREATED = "created"
        RUNNING = "running"
        STOPPED = "stopped"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inferences")
    result = models.ForeignKey(TrainingResult, on_delete=models.CASCADE, related_name="inferences")
    replicas = models.PositiveSmallIntegerField()
    input_format = models.CharField(max_length=10)
    input_config = models.JSONField()
    input_topic = models.CharField(max_length=249)
    output_topic = models.CharField(max_length=249)
    error_topic = models.CharField(max_length=249)
    bootstrap_servers = models.CharField(max_length=1000)
    batch = models.IntegerField(null=True)  # null: the worker's own default
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    error = models.TextField(blank=True, default="")
    token_sha256 = models.CharField(max_length=64, blank=True, default="")  # of its model token; cleared at its end
    #: The model file it serves (its SHA-256): the result's at launch, then at each rollout.
    model_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["owner", "id"])]
