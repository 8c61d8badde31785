"""Compatibility alias of adapters.simulators.softmedia for tests/benchmarks/notices.py; goes (with its ignore_imports line in pyproject.toml) once the benchmark imports the new path."""

from adapters.simulators.softmedia import Dataset, SimBorrower, SoftmediaSimulator  # noqa: F401
