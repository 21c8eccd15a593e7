"""Operations endpoints: health for load balancers, metrics for Prometheus."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
import sqlalchemy as sa
from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from ..celery_app import celery
from ..database import writable
from ..extensions import db
from ..jobs.counts import ALL_USERS, SYSTEM
from ..jobs.durations import BUCKET_BOUNDS
from ..jobs.journal import STREAM
from ..jobs.models import JobDuration, QueueCount

log = logging.getLogger(__name__)
# How long /healthz waits to see that the database takes a write (SQLite's lock).
HEALTH_LOCK_WAIT_SECONDS = 2.0
ops = Blueprint("ops", __name__)


def _broker_ok() -> str:
    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return "ok"


def _database_ok() -> str:
    with db.engine.connect() as connection:
        writable(connection, HEALTH_LOCK_WAIT_SECONDS)
    return "ok"


def _journal_ok() -> str:
    celery.journal.client.ping()
    return "ok"


@ops.get("/healthz")
def healthz():
    """200 when the database, the broker and the journal answer; 503 naming what is down."""
    checks: dict[str, str] = {}
    for name, check in (("database", _database_ok), ("broker", _broker_ok),
                        ("journal", _journal_ok)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure to reach it means down, whatever its class
            log.warning("health check %s failed: %s", name, exc)
            locked = "database is locked" in str(exc)
            checks[name] = f"down: {type(exc).__name__}" + (
                f" (locked for writing over {HEALTH_LOCK_WAIT_SECONDS:.0f} s)" if locked else "")
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "down", checks=checks), 200 if healthy else 503


class StoreCollector:
    """Jobs by queue and status (from the counters), run times, and the journal's backlog."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("jobplatform_jobs", "Jobs by queue and status.",
                                 labels=["queue", "status", "kind"])
        for scope, queue, status, count in db.session.execute(
            sa.select(QueueCount.scope, QueueCount.queue, QueueCount.status, QueueCount.count)
            .where(QueueCount.scope.in_([ALL_USERS, SYSTEM]))
        ):
            jobs.add_metric([queue, status, "system" if scope == SYSTEM else "user"], count)
        yield jobs

        per_queue: dict[str, dict[int, tuple[int, int]]] = {}
        for queue, bucket, count, total_ms in db.session.execute(
            sa.select(JobDuration.queue, JobDuration.bucket, JobDuration.count,
                      JobDuration.total_ms)
        ):
            per_queue.setdefault(queue, {})[bucket] = (count, total_ms)
        durations = HistogramMetricFamily(
            "jobplatform_job_duration_seconds", "How long ended jobs ran.", labels=["queue"]
        )
        for queue, buckets in sorted(per_queue.items()):
            cumulative, bins = 0, []
            for index, bound in enumerate((*BUCKET_BOUNDS, float("inf"))):
                cumulative += buckets.get(index, (0, 0))[0]
                bins.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            total_seconds = sum(ms for _, ms in buckets.values()) / 1000
            durations.add_metric([queue], bins, total_seconds)
        yield durations

        try:
            backlog = celery.journal.client.xlen(STREAM)
            dead = celery.journal.client.xlen(f"{STREAM}:dead")
        except redis.RedisError:
            return
        yield GaugeMetricFamily("jobplatform_journal_backlog",
                                "Transitions journaled but not yet applied.", value=backlog)
        yield GaugeMetricFamily("jobplatform_journal_dead_letters",
                                "Journal entries the store refused (see the dead stream).",
                                value=dead)


@ops.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector())
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


@ops.get("/api/v2/openapi.json")
def openapi_document():
    """The API's OpenAPI description (public, like any API reference)."""
    from .openapi import spec

    return jsonify(spec())
