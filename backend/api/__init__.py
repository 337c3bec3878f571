"""The platform backend's one Django app: resources, services (writes), selectors (reads), APIs."""
