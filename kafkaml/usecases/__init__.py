"""Use cases the platform ships with: datasets, loaders and example models for real workloads."""
