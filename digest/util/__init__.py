"""Helpers that know no papers or readers: text, files, retries, YAML, capped reads, output."""
