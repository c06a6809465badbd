"""Benchmark plumbing: evaluation runs and the committed results format (DESIGN.md section 5)."""
