"""Prometheus metrics of one app (a registry per app, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .jobs.supervisor import WorkerReport

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scopix_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scopix_http_request_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.uploaded_bytes = Counter(
            "scopix_uploaded_bytes", "Bytes of accepted uploads.", registry=self.registry
        )
        self.uploads = Counter(
            "scopix_uploads", "Upload outcomes.", ["outcome"], registry=self.registry
        )

    def watch_workers(self, report: Callable[[], Sequence[WorkerReport]]) -> None:
        """Report the worker processes of ``serve`` (memory, restarts) at each scrape."""
        self.registry.register(_WorkerCollector(report))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _WorkerCollector(Collector):
    def __init__(self, report: Callable[[], Sequence[WorkerReport]]) -> None:
        self._report = report

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "scopix_worker_up", "1 while the worker process runs.", labels=["slot"]
        )
        memory = GaugeMetricFamily(
            "scopix_worker_memory_bytes",
            "Resident memory of a worker process and its work processes.",
            labels=["slot"],
        )
        restarts = CounterMetricFamily(
            "scopix_worker_restarts", "Times the worker process was started again.", labels=["slot"]
        )
        bounded = CounterMetricFamily(
            "scopix_worker_memory_stops",
            "Times the worker process stopped past its memory bound.",
            labels=["slot"],
        )
        for worker in self._report():
            slot = str(worker.slot)
            up.add_metric([slot], 1.0 if worker.pid is not None else 0.0)
            memory.add_metric([slot], float(worker.rss_bytes))
            restarts.add_metric([slot], float(worker.restarts))
            bounded.add_metric([slot], float(worker.memory_stops))
        yield from (up, memory, restarts, bounded)
