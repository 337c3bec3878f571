"""A Flower App (Flower 1.42's Message API) training the paper's RAT CNN, for benchmarks/vs_flower.py."""
