"""Helpers of bench/compare.py: the workloads, inputs, implementations, timing and reports."""
