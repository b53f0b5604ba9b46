"""`/metrics` for Prometheus: what the run history, the ledger and the list say at scrape time.

Everything is read from the state database when scraped, not counted in this process, so
every `digest serve` behind a load balancer reports the same figures, and runs made by cron
or `digest schedule` show up. The values are gauges: the history keeps
`monitoring.keep_days` of runs, so its counts go down as old runs are forgotten.

prometheus-client is imported here only, and this module only when /metrics is asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from ..store import Stores

TOKEN_ENV = "DIGEST_METRICS_TOKEN"  # a bearer token: /metrics answers only with it, and is off without


def _seconds(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


class StateCollector(Collector):
    def __init__(self, stores: Stores):
        self.stores = stores

    def collect(self) -> Iterator[Metric]:
        db = self.stores.database
        runs = GaugeMetricFamily(
            "digest_runs", "Runs in the history, by kind and result", labels=["kind", "result"]
        )
        last = GaugeMetricFamily(
            "digest_last_run_timestamp_seconds", "When the latest run of each kind started", labels=["kind"]
        )
        for kind, result, n in db.run_counts():
            runs.add_metric([kind, result], n)
        for kind, latest in db.latest_runs().items():
            last.add_metric([kind], _seconds(latest) or 0)
        yield runs
        yield last
        messages = GaugeMetricFamily(
            "digest_messages", "Messages in the ledger, by outcome", labels=["outcome"]
        )
        for status, n in sorted(db.delivery_counts().items()):
            messages.add_metric([status], n)
        messages.add_metric(["bounced_addresses"], len(db.bounced()))
        yield messages
        sent = _seconds(db.last_sent_at())
        if sent is not None:
            yield GaugeMetricFamily(
                "digest_last_successful_send_timestamp_seconds",
                "When the relay last accepted a message",
                value=sent,
            )
        statuses: Counter[str] = Counter(str(reader.status) for reader in self.stores.subscribers.readers())
        readers = GaugeMetricFamily("digest_readers", "Readers on the list, by status", labels=["status"])
        for status in ("active", "pending", "unsubscribed", "bounced"):
            readers.add_metric([status], statuses.get(status, 0))
        yield readers
        yield GaugeMetricFamily(
            "digest_operator_reports_unsent",
            "Problems the operator has not been told of yet (the backend refused the report)",
            value=len(db.unsent_reports()),
        )


def exposition(stores: Stores) -> tuple[bytes, str]:
    """The Prometheus text format of the state, and its content type."""
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(stores))
    return generate_latest(registry), CONTENT_TYPE_LATEST
