"""A Django app both services install (the platform backend and each federated backend): the
datasource registry fed by a data control logger, the sign-in endpoints, health, and the
``ensure_admin`` command. Each service keeps its own tables in its own database; the code is one."""
