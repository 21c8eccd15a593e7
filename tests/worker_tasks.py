"""Tasks the test worker loads (`-I tests.worker_tasks`): each exercises one part of tracking.

They are named under `jobplatform.general.` so they route to the `general` queue like real jobs.
"""

from __future__ import annotations

import logging
import os
import time

import redis
from pydantic import BaseModel, ConfigDict, Field

from jobplatform import celery
from jobplatform.jobs.task import JobTask, Outcome

logger = logging.getLogger(__name__)


class StepsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(5, ge=1, le=1000)
    delay: float = Field(0.0, ge=0, le=5)


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=60)


class FailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = "Rate limit exceeded"


class GateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gate: str = Field(min_length=1, max_length=100)
    total: int = Field(20, ge=2, le=10_000)
    step_seconds: float = Field(0.2, ge=0.01, le=5)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["JOBPLATFORM_JOURNAL_URL"])


def _exists(client: redis.Redis, key: str) -> bool:
    """Whether the key exists; False while Redis cannot be reached (a test's outage)."""
    try:
        return bool(client.exists(key))
    except redis.ConnectionError:
        return False


@celery.task(bind=True, name="jobplatform.general.test_steps", api_params=StepsParams)
def steps(self: JobTask, user_id: int, count: int = 5, delay: float = 0.0) -> Outcome:
    """Reports progress at every step, logs through both APIs, returns a summary."""
    self.log("starting")
    for step in range(1, count + 1):
        time.sleep(delay)
        self.progress(step, count, unit="steps", message=f"step {step}")
        logger.info("finished step %d", step)
    return Outcome({"steps": count}, f"Did {count:,} steps")


@celery.task(name="jobplatform.general.test_noop")
def noop(user_id: int | None = None) -> None:
    return None


@celery.task(name="jobplatform.general.test_fail", api_params=FailParams)
def fail(user_id: int, message: str = "Rate limit exceeded") -> None:
    raise ValueError(message)


class FlakyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failures: int = Field(1, ge=0, le=3)
    backoff: float = Field(0, ge=0, le=300)
    runs_key: str | None = Field(None, max_length=100)


@celery.task(bind=True, name="jobplatform.general.test_flaky", max_retries=3,
             api_params=FlakyParams)
def flaky(self: JobTask, user_id: int, failures: int, backoff: float = 0,
          runs_key: str | None = None) -> Outcome:
    """Fails `failures` times, retrying each time `backoff` seconds later, then succeeds;
    counts its runs in Redis at `runs_key`."""
    if runs_key:
        _redis().incr(runs_key)
    if self.request.retries < failures:
        raise self.retry(exc=ConnectionError(f"provider timeout {self.request.retries + 1}"),
                         countdown=backoff)
    return Outcome({"attempts": self.request.retries + 1}, "Succeeded after retries")


@celery.task(name="jobplatform.general.test_always_fails", autoretry_for=(RuntimeError,),
             max_retries=2, retry_backoff=False, default_retry_delay=0)
def always_fails(user_id: int) -> None:
    raise RuntimeError("Rate limit exceeded")


@celery.task(bind=True, name="jobplatform.general.test_sleep", api_params=SleepParams)
def sleep(self: JobTask, user_id: int, seconds: float) -> Outcome:
    """Sleeps in small steps, checking for cancellation between them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        self.check_cancelled()
        time.sleep(0.05)
    return Outcome({"slept": seconds}, f"Slept {seconds}s")


@celery.task(name="jobplatform.general.test_hang", time_limit=1, soft_time_limit=None)
def hang(user_id: int, seconds: float = 10) -> None:
    """Ignores its soft limit (there is none below the hard one) and is killed at 1 s."""
    time.sleep(seconds)


@celery.task(bind=True, name="jobplatform.general.test_die_once")
def die_once(self: JobTask, user_id: int, marker: str) -> Outcome:
    """On its first run, announces its pid and waits to be killed; later runs complete."""
    client = _redis()
    if client.set(marker, os.getpid(), nx=True):
        time.sleep(30)
    return Outcome({"pid": os.getpid()}, "Survived a lost worker")


@celery.task(bind=True, name="jobplatform.general.test_gate", api_params=GateParams)
def gate(self: JobTask, user_id: int, gate: str, total: int = 20,
         step_seconds: float = 0.2) -> Outcome:
    """Moves steadily towards `total` (one item a step, stopping one short) and finishes only
    once the Redis key `gate` exists: a barrier a test opens when it is ready. Checks for
    cancel at every step."""
    client = _redis()
    done = 0
    while not _exists(client, gate):
        done = min(done + 1, total - 1)
        self.progress(done, total, unit="items", message=f"waiting at item {done}")
        time.sleep(step_seconds)
    self.progress(total, total, unit="items", message="through the gate")
    return Outcome({"items": total}, f"Passed the gate with {total:,} items")
