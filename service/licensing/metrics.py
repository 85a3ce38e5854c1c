"""Prometheus metrics of the worker."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry()

commands = Counter(
    "licensing_commands",
    "Commands processed, by type and outcome (accepted, or the rejection reason)",
    ["type", "outcome"],
    registry=registry,
)
command_seconds = Histogram(
    "licensing_command_seconds",
    "Time from reading a command's batch to committing it",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=registry,
)
batch_size = Histogram(
    "licensing_batch_size",
    "Command entries applied in one transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=registry,
)
dead_letters = Counter(
    "licensing_dead_letters",
    "Entries copied to the dead-letter stream",
    ["reason"],
    registry=registry,
)
outbox_backlog = Gauge(
    "licensing_outbox_backlog",
    "Outbox rows committed but not yet published",
    registry=registry,
)
outbox_age = Gauge(
    "licensing_outbox_oldest_seconds",
    "Age of the oldest unpublished outbox row",
    registry=registry,
)
pending_entries = Gauge(
    "licensing_pending_entries",
    "Command entries read but not yet acknowledged, over the partitions owned",
    registry=registry,
)
partitions_owned = Gauge(
    "licensing_partitions_owned",
    "Command partitions this worker consumes",
    registry=registry,
)
