"""Benchmarks that print their figures as ratios against baselines measured in the same run."""
