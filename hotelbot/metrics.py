"""Prometheus metrics of one hotelbot process.

Counters and histograms are updated where things happen; gauges that describe
the current state (queue depth, sockets, dead letters) are set when
``/metrics`` is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry()

WEBHOOKS = Counter(
    "hotelbot_webhooks_received", "Webhook POSTs by outcome.", ["outcome"], registry=registry
)
JOBS = Counter("hotelbot_jobs", "Job attempts by kind and outcome.", ["kind", "outcome"], registry=registry)
FORWARD_SECONDS = Histogram(
    "hotelbot_forward_seconds", "Duration of one delivery to N8N.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry,
)
QUEUE_DEPTH = Gauge("hotelbot_queue_depth", "Jobs queued or scheduled.", registry=registry)
SOCKETS = Gauge("hotelbot_sockets_connected", "Connected Socket.IO clients.", registry=registry)
DEAD_LETTERS = Gauge("hotelbot_dead_letters", "Dead letters not yet retried.", registry=registry)
INBOX_BACKLOG = Gauge("hotelbot_inbox_unprocessed", "Stored webhooks not yet processed.", registry=registry)
ACCOUNT_ERRORS = Counter(
    "hotelbot_meta_account_errors", "Account-level errors reported by Meta, by code.", ["code"], registry=registry
)
