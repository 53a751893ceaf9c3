"""A registry of named benchmarks: ``python -m bench NAME`` runs one, no argument runs all."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

# Modules that define benchmarks (imported on demand).  A later issue adds its module here.
MODULES = ("bench.foundation", "bench.cases", "bench.notifications", "bench.pii", "bench.aggregates",
           "bench.exchange", "bench.aggregates_api", "bench.rls")


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[], dict]  # returns the figures written to bench-results/<name>.json


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, description: str):
    """Decorator: register ``run() -> dict`` under ``name``."""

    def decorate(func: Callable[[], dict]) -> Callable[[], dict]:
        if name in _REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        _REGISTRY[name] = Benchmark(name, description, func)
        return func

    return decorate


def all_benchmarks() -> dict[str, Benchmark]:
    for module in MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)
