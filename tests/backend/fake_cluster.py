"""A stand-in for the Kubernetes API whose objects outlive the process that created them: the
Jobs, Deployments (their whole manifests), Pods and Secrets it holds are kept in a JSON file, so a test can kill the API process that was
building and look, from another process, at what it left behind (no API server runs here).

It is the launcher tests' recording stand-in (``tests/unit/test_jobs_kubernetes.StandIn``: every
call bound to the real client's signature), plus: creating an object adds it, deleting one
removes it, and ``on_create`` runs after an object was created (e.g. to check what the backend
wrote down before creating it, or to kill the process right then).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkaml.jobs.kubernetes_launcher import KubernetesApi, KubernetesLauncher
from tests.unit.test_jobs_kubernetes import StandIn

NAMESPACE = "kml-platform"

#: The start of a script run as an API process of a backend whose launcher is this stand-in
#: (``jobs.launcher = FileCluster(CLUSTER).launcher``): Django set up, the cluster's file its
#: first argument.
CLUSTER_SETUP = """
import json, os, signal, sys
from pathlib import Path
import django
django.setup()
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from backend.api.models import MLModel
from backend.api.services import builds, jobs
from tests.backend.fake_cluster import FileCluster
CLUSTER = Path(sys.argv[1])
"""


class FileCluster(StandIn):
    def __init__(self, path: Path, on_create: Callable[[str, str], None] = lambda kind, name: None) -> None:
        state = json.loads(path.read_text()) if path.exists() else {}
        super().__init__(jobs=state.get("jobs", []), pods=state.get("pods", []),
                         deployments=state.get("deployments", []))
        self.path, self.secrets, self.on_create = path, state.get("secrets", {}), on_create

    def launcher(self) -> KubernetesLauncher:
        return KubernetesLauncher(api=KubernetesApi(batch=self, core=self, apps=self), namespace=NAMESPACE)

    def _save(self) -> None:
        self.path.write_text(json.dumps({"jobs": self.jobs, "deployments": self.deployments, "pods": self.pods,
                                         "secrets": self.secrets}))

    def create_namespaced_secret(self, **kwargs: Any) -> None:
        super().create_namespaced_secret(**kwargs)
        metadata = kwargs["body"]["metadata"]
        self.secrets[metadata["name"]] = metadata["labels"]
        self._save()
        self.on_create("secret", metadata["name"])

    def delete_namespaced_secret(self, **kwargs: Any) -> None:
        super().delete_namespaced_secret(**kwargs)
        self.secrets.pop(kwargs["name"], None)
        self._save()

    def create_namespaced_job(self, **kwargs: Any) -> None:
        super().create_namespaced_job(**kwargs)
        metadata = kwargs["body"]["metadata"]
        self.jobs.append({"metadata": {"name": metadata["name"], "labels": metadata["labels"]}, "status": {}})
        self._save()
        self.on_create("job", metadata["name"])

    def delete_namespaced_job(self, **kwargs: Any) -> None:
        super().delete_namespaced_job(**kwargs)
        self.jobs = [job for job in self.jobs if job["metadata"]["name"] != kwargs["name"]]
        self._save()

    def create_namespaced_deployment(self, **kwargs: Any) -> None:
        super().create_namespaced_deployment(**kwargs)
        self.deployments.append({**kwargs["body"], "status": {}})
        self._save()
        self.on_create("deployment", kwargs["body"]["metadata"]["name"])

    def delete_namespaced_deployment(self, **kwargs: Any) -> None:
        super().delete_namespaced_deployment(**kwargs)
        self.deployments = [item for item in self.deployments if item["metadata"]["name"] != kwargs["name"]]
        self.pods = [pod for pod in self.pods if pod["metadata"]["labels"].get("kafka-ml/job") != kwargs["name"]]
        self._save()
