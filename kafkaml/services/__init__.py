"""The Django plumbing both services (the platform backend, each client's federated backend) share:
their settings (:mod:`~kafkaml.services.settings`), the HTTP edge (:mod:`~kafkaml.services.api`),
request bodies and pages (:mod:`~kafkaml.services.rest`), the OpenAPI schema
(:mod:`~kafkaml.services.schema`), the reconciler (:mod:`~kafkaml.services.reconciler`) and the
datasource registry app (:mod:`~kafkaml.services.registry`). No job imports it
(``tests/unit/test_layers.py``)."""
