"""The lifecycle rules (jobs/lifecycle.py) on their own: pure functions, no I/O."""

from __future__ import annotations

from jobplatform.jobs.journal import EntryKind, entry
from jobplatform.jobs.lifecycle import fold

JOB = "00000000-0000-0000-0000-000000000001"


def published(at: float = 1.0, **extra) -> dict:
    return entry(JOB, EntryKind.PENDING, at=at, task="jobplatform.general.x", type="x",
                 queue="general", user_id=3, actor="client", **extra)


def test_a_new_job_takes_its_identity_from_its_publish():
    out = fold(None, [published(params={"a": 1})])
    assert out.created
    assert out.job["status"] == "pending"
    assert (out.job["type"], out.job["queue"], out.job["user_id"]) == ("x", "general", 3)
    assert out.job["params"] == {"a": 1}
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in out.events] == [
        (None, "pending", "published")
    ]


def test_repeated_entries_change_nothing():
    start = entry(JOB, EntryKind.PROCESSING, at=2.0, actor="worker:w")
    done = entry(JOB, EntryKind.COMPLETE, at=3.0, actor="worker:w", result={}, summary="ok")
    first = fold(None, [published(), start, done])
    again = fold(first.job, [published(), start, done])
    assert len(first.events) == 3
    assert again.events == []
    assert not again.changed


def test_a_report_after_the_job_ended_is_heard_but_does_not_reopen_it():
    cancelled = fold(None, [published(), entry(JOB, EntryKind.CANCELLED, at=2.0, actor="user:1")])
    late = fold(cancelled.job, [
        entry(JOB, EntryKind.PROCESSING, at=3.0, actor="worker:w"),
        entry(JOB, EntryKind.PROGRESS, at=3.1, current=5, total=9),
    ])
    assert late.job["status"] == "cancelled"
    assert late.job["progress_current"] is None
    assert [(e["from_status"], e["to_status"]) for e in late.events] == [
        ("cancelled", "cancelled")
    ]
    assert late.events[0]["reason"].startswith("ignored: processing reported after")


def test_a_retry_goes_back_to_pending_keeping_the_last_error():
    out = fold(None, [
        published(),
        entry(JOB, EntryKind.PROCESSING, at=2.0, actor="worker:w"),
        published(at=3.0, retries=1, error_type="RateLimited", error_message="Rate limit exceeded"),
        entry(JOB, EntryKind.PROCESSING, at=4.0, actor="worker:w"),
    ])
    assert out.job["status"] == "processing"
    assert out.job["retries"] == 1
    assert out.job["error_message"] == "Rate limit exceeded"
    assert [e["to_status"] for e in out.events] == ["pending", "processing", "pending",
                                                    "processing"]


def test_a_job_first_heard_of_from_its_worker_is_still_recorded():
    out = fold(None, [entry(JOB, EntryKind.PROCESSING, at=2.0, actor="worker:w", task="t",
                            queue="fub_sync", type="fub_sync", user_id=9)])
    assert out.created
    assert out.job["status"] == "processing"
    assert out.events[0]["reason"] == "started; its publish was not tracked"


def test_progress_and_log_lines_for_an_unknown_job_are_dropped():
    out = fold(None, [entry(JOB, EntryKind.PROGRESS, current=1, total=2),
                      entry(JOB, EntryKind.LOG, message="hello")])
    assert out.job is None
    assert out.logs == []


def test_long_texts_are_clipped_to_their_columns():
    out = fold(None, [published(), entry(JOB, EntryKind.ERROR, actor="w", error_type="E" * 300,
                                         error_message="m" * 20_000, traceback="t")])
    assert len(out.job["error_type"]) == 200
    assert len(out.job["error_message"]) == 10_000


def test_a_start_that_travelled_with_the_end_is_applied_before_it():
    start = entry(JOB, EntryKind.PROCESSING, at=2.0, actor="worker:w", worker="w")
    done = entry(JOB, EntryKind.COMPLETE, at=2.01, actor="worker:w", result={"n": 1},
                 summary="Done", started=start)
    out = fold(fold(None, [published()]).job, [done])
    assert [(e["from_status"], e["to_status"]) for e in out.events] == [
        ("pending", "processing"), ("processing", "complete"),
    ]
    assert out.job["started_at"].timestamp() == 2.0
    assert out.job["worker"] == "w"
    assert out.job["status"] == "complete"


def test_a_publish_with_an_eta_records_when_the_job_is_due():
    from datetime import UTC, datetime

    due = fold(None, [published(eta="2026-12-04T19:10:00.250000+00:00")])
    assert due.job["due_at"] == datetime(2026, 12, 4, 19, 10, 0, 250000, tzinfo=UTC)
    # A retry due later moves it; a publish due now (no ETA) clears it.
    retry = fold(due.job, [published(at=2.0, retries=1, eta="2026-12-04T19:20:00")])
    assert retry.job["due_at"] == datetime(2026, 12, 4, 19, 20, tzinfo=UTC)
    assert fold(retry.job, [published(at=3.0, retries=2)]).job["due_at"] is None
    assert fold(None, [published(eta="soon")]).job["due_at"] is None  # unreadable: not due
