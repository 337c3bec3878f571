"""A Django app both services install (the platform backend and each federated backend): the
datasource registry fed by a data control logger, the sign-in endpoints, health, the
``ensure_admin`` command (local mode) and ``ensure_logger_token`` (a cluster's loggers).
Each service keeps its own tables in its own database; the code is one."""
