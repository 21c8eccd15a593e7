"""The jobs list's free-text search (`q`): substrings of the summary and the error message in
any case, `%` and `_` literal, paging, scopes, and texts a job gets after it was listed.

Each test's words carry a token of its own, so the jobs other tests leave in the store never
match; the search's bounds are made small here so that a few hundred jobs take every path
(jobs/search.py) that a million take in production.
"""

from __future__ import annotations

import random
import time
import uuid
from urllib.parse import quote

import pytest

from jobplatform.jobs import search
from tests.support import job_ids, seed_job

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds = {"SHORT_SCAN": 40, "RECENT": 12, "PG_READ_ON": 40, "PG_FETCH_ALL": 10,
              "PG_FETCH_CAP": 16, "PG_WINDOW_CAP": 8, "SQLITE_FETCH_ALL": 10,
              "SQLITE_LATE_ROWS": 30, "SQLITE_WALK_LIMIT": 80, "SQLITE_WALK_SLACK": 0}
    for name, value in bounds.items():
        monkeypatch.setattr(search, name, value)


def listed(client, user, query: str, *, limit: int = 50) -> list[str]:
    """Every job id the search lists, following the cursor to the last page."""
    found: list[str] = []
    cursor = None
    for _ in range(1000):
        path = f"/api/v2/jobs?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(path, headers=user.headers)
        found += job_ids(response)
        cursor = response.json["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ended")


def q(text: str) -> str:
    return f"q={quote(text, safe='')}"


def seed_many(jobs: list[dict]) -> list[str]:
    """Jobs written in one batch, as the applier writes them: rowids in job id order, which is
    not creation order (each dict: user_id, at, and summary or error)."""
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    items, made = [], []
    for job in jobs:
        job_id = str(uuid.uuid4())
        made.append(job_id)
        at = job["at"]
        items.append(entry(job_id, EntryKind.PENDING, at=at, task="jobplatform.general.export",
                           type="contacts_export", queue="general", user_id=job["user_id"],
                           params={}, actor="seed"))
        items.append(entry(job_id, EntryKind.PROCESSING, at=at + 0.1, actor="seed", worker="w"))
        if job.get("error"):
            items.append(entry(job_id, EntryKind.ERROR, at=at + 0.2, actor="seed",
                               error_type="Failed", error_message=job["error"]))
        else:
            items.append(entry(job_id, EntryKind.COMPLETE, at=at + 0.2, actor="seed",
                               summary=job.get("summary"), result={}))
    apply_entries(begin_write(db.session), items)
    db.session.commit()
    return made


def test_finds_substrings_of_summary_and_error_in_any_case(client, make_user, token):
    user = make_user()
    now = time.time()
    export = seed_job(user_id=user.id, at=now - 30, summary=f"Exported 12 {token}Contacts")
    failed = seed_job(user_id=user.id, at=now - 20, status="error",
                      error=f"reZEN {token}REJECTED the API key")
    seed_job(user_id=user.id, at=now - 10, summary="Synced 3 deals")

    assert listed(client, user, q(f"{token}contacts")) == [export]
    assert listed(client, user, q(f"{token}rejected the")) == [failed]  # the error message
    assert listed(client, user, q(f"{token.upper()}CONTACTS")) == [export]
    assert listed(client, user, q(f"{token[2:]}con")) == [export]  # inside a word
    assert listed(client, user, q(token)) == [failed, export]
    assert listed(client, user, q(f"{token}contacts, 12")) == []


def test_percent_and_underscore_are_literal(client, make_user, token):
    user = make_user()
    now = time.time()
    percent = seed_job(user_id=user.id, at=now - 40, summary=f"{token} 100% done")
    plain = seed_job(user_id=user.id, at=now - 30, summary=f"{token} 1000 done")
    under = seed_job(user_id=user.id, at=now - 20, summary=f"{token} a_b")
    seed_job(user_id=user.id, at=now - 10, summary=f"{token} axb")

    assert listed(client, user, q("100%")) == [percent]
    assert listed(client, user, q(f"{token} 100%")) == [percent]
    assert listed(client, user, q("0% d")) == [percent]
    assert listed(client, user, q(f"{token} 1000")) == [plain]
    assert listed(client, user, q(f"{token} a_b")) == [under]
    assert listed(client, user, q("a_b")) == [under]
    assert listed(client, user, q("_b")) == [under]  # too short for the index: scanned
    assert listed(client, user, q("%")) == [percent]


def test_pages_through_many_matches_with_the_cursor(client, make_user, token, small_bounds):
    user = make_user()
    now = time.time()
    jobs = [{"user_id": user.id, "at": now - 1000 + n,
             "summary": f"Synced {n} {token}contacts" if n % 3 else f"Synced {n} deals"}
            for n in range(120)]
    made = seed_many(jobs)
    matching = [job_id for job_id, job in zip(made, jobs, strict=True)
                if "contacts" in job["summary"]][::-1]

    for limit in (7, 50):
        assert listed(client, user, q(f"{token}contacts"), limit=limit) == matching
    first = client.get(f"/api/v2/jobs?limit=7&{q(token + 'contacts')}", headers=user.headers)
    assert len(job_ids(first)) == 7
    assert first.json["next_cursor"] is not None


def test_finds_a_rare_match_among_many_others(client, make_user, token, small_bounds):
    user, other = make_user(), make_user()
    now = time.time()
    jobs = [{"user_id": random.choice((user.id, other.id)), "at": now - 5000 + n,
             "summary": f"Synced {n} {token}contacts"} for n in range(400)]
    jobs[37] = {"user_id": user.id, "at": now - 5000 + 37, "error": f"{token}escrow missing"}
    scarce = list(range(5, 400, 45))
    for n in scarce:
        jobs[n] = {"user_id": user.id, "at": now - 5000 + n, "summary": f"{token}scarce {n}"}
    made = seed_many(jobs)
    admin = make_user(admin=True)

    newest_first = [made[n] for n in reversed(scarce)]
    assert listed(client, admin, q(f"{token}scarce"), limit=2) == newest_first
    assert listed(client, user, q(f"{token}scarce"), limit=3) == newest_first

    assert listed(client, user, q(f"{token}escrow")) == [made[37]]
    assert listed(client, admin, q(f"{token}ESCROW")) == [made[37]]
    assert listed(client, admin, f"status=error&{q(token + 'escrow')}") == [made[37]]
    assert listed(client, other, q(f"{token}escrow")) == []
    assert listed(client, admin, q(f"{token}unicorn")) == []


def test_respects_the_user_scope(client, make_user, token):
    alice, bob = make_user(), make_user()
    admin = make_user(admin=True)
    now = time.time()
    hers = seed_job(user_id=alice.id, at=now - 20, summary=f"Exported {token}report")
    his = seed_job(user_id=bob.id, at=now - 10, summary=f"Exported {token}report")

    assert listed(client, alice, q(f"{token}report")) == [hers]
    assert listed(client, bob, q(f"{token}report")) == [his]
    assert listed(client, admin, q(f"{token}report")) == [his, hers]
    assert listed(client, admin, f"user_id={alice.id}&{q(token + 'report')}") == [hers]
    forbidden = client.get(f"/api/v2/jobs?user_id={bob.id}&{q(token)}", headers=alice.headers)
    assert forbidden.status_code == 403


def test_a_summary_written_later_becomes_searchable(client, make_user, token):
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    user = make_user()
    job_id = seed_job(user_id=user.id, status="pending")
    assert listed(client, user, q(f"{token}imported")) == []

    at = time.time()
    apply_entries(begin_write(db.session), [
        entry(job_id, EntryKind.PROCESSING, at=at, actor="seed", worker="w"),
        entry(job_id, EntryKind.COMPLETE, at=at + 0.1, actor="seed",
              summary=f"{token}Imported 40 people", result={}),
    ])
    db.session.commit()

    assert listed(client, user, q(f"{token}imported")) == [job_id]
    assert listed(client, user, q(f"{token}IMPORTED 40")) == [job_id]


def test_a_job_is_found_by_its_latest_error_not_an_earlier_one(client, make_user, token):
    """A Celery retry records why (an error on a pending job), then the job fails for good
    with another error: the index drops the first text as it takes the second."""
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    user = make_user()
    job_id = seed_job(user_id=user.id, status="processing")
    at = time.time()
    apply_entries(begin_write(db.session), [
        entry(job_id, EntryKind.PENDING, at=at, actor="worker", retries=1,
              error_type="Timeout", error_message=f"{token}first failure"),
    ])
    db.session.commit()
    assert listed(client, user, q(f"{token}first")) == [job_id]

    apply_entries(begin_write(db.session), [
        entry(job_id, EntryKind.PROCESSING, at=at + 1, actor="worker", worker="w"),
        entry(job_id, EntryKind.ERROR, at=at + 2, actor="worker", error_type="Failed",
              error_message=f"{token}second failure"),
    ])
    db.session.commit()
    assert listed(client, user, q(f"{token}second")) == [job_id]
    assert listed(client, user, q(f"{token}first")) == []
    assert listed(client, user, q(token)) == [job_id]


def test_a_short_text_is_read_in_bounded_pages(client, make_user, token, small_bounds):
    """Under 3 characters no trigram helps: each request reads at most SHORT_SCAN jobs, so a
    page can be short with a cursor after it; following it finds every match."""
    user = make_user()
    now = time.time()
    jobs = [{"user_id": user.id, "at": now - 1000 + n,
             "summary": f"{token} {'zq' if n % 25 == 0 else 'plain'} {n}"} for n in range(200)]
    made = seed_many(jobs)
    matching = [job_id for job_id, job in zip(made, jobs, strict=True)
                if "zq" in job["summary"]][::-1]

    first = client.get(f"/api/v2/jobs?limit=5&{q('ZQ')}", headers=user.headers)
    assert len(job_ids(first)) < 5  # 40 jobs read, 2 of them match
    assert first.json["next_cursor"] is not None
    assert listed(client, user, q("ZQ"), limit=5) == matching


WORDS = ("contacts", "deals", "timeout", "rejected", "escrow", "quota", "Rate limit")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_path_lists_what_the_plain_scan_lists(app, make_user, token, small_bounds, seed):
    """Against the plain newest-first scan, over random jobs whose rowids are out of creation
    order, for common, rare, absent and short texts, in several scopes, paged by cursor."""
    from jobplatform.extensions import db
    from jobplatform.jobs.queries import JobFilter, list_jobs

    rng = random.Random(seed)
    users = [make_user().id for _ in range(3)]
    now = time.time()
    weights = (40, 20, 10, 5, 1, 3, 8)
    batches = []
    for _ in range(6):
        batch = []
        for _ in range(60):
            word = rng.choices(WORDS, weights=weights)[0]
            text = f"{token}{word} {rng.randint(1, 99)}"
            job = {"user_id": rng.choice(users), "at": now - rng.uniform(0, 5000)}
            job["error" if rng.random() < 0.3 else "summary"] = text
            batch.append(job)
        batches.append(batch)
    for batch in batches:
        seed_many(batch)

    texts = [f"{token}contacts", f"{token}DEALS", f"{token}escrow", f"{token}rate limit",
             f"{token}nothing", "zz", token[:2], f"{token}timeout 1"]
    for text in texts:
        for where in (JobFilter(q=text), JobFilter(q=text, user_id=users[0]),
                      JobFilter(q=text, status="error"),
                      JobFilter(q=text, user_id=users[1], status="complete")):
            expected = _plain(db.session, where)
            for limit in (4, 25):
                db.session.rollback()
                got, after = [], None
                while True:
                    jobs, after = list_jobs(db.session, where, limit=limit, after=after)
                    got += [job.id for job in jobs]
                    if after is None:
                        break
                assert got == expected, (text, where, limit)


def _plain(session, where) -> list[str]:
    """What the jobs list showed before search.py: every match, newest first, by a scan."""
    import sqlalchemy as sa

    from jobplatform.jobs.models import Job

    session.rollback()
    return list(session.scalars(
        sa.select(Job.id).where(*where.conditions())
        .order_by(Job.created_at.desc(), Job.id.desc())
    ))
