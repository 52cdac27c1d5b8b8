"""Evaluations and benchmarks: imported by the `wsis` command (`wsis eval`, `wsis bench`), never by the
server at run time. Evaluation sets written for the project live in `evaluation/data/`."""
