"""The dashboard's speed at 1,000,000 jobs, in Chromium, on SQLite and (where it answers)
PostgreSQL.

    .venv/bin/python bench/dashboard.py         # JOBPLATFORM_BENCH_JOBS to change the size

Fills the job store as bench/api_latency.py does (bench/bulk_jobs.py; plus the per-minute rows
of the last hour, from the loaded jobs, so the charts have data), serves the app under
gunicorn as `jobplatform up` does (2 workers of 4 threads, a free loopback port), and opens
/dashboard in headless Chromium (Debian's, through Playwright) as an operator (all users) and
as one user with jobs, signed in by the token in session storage. Measures:

- first render: in a fresh browser context (empty cache), navigation start until the 4 queue
  rows and the first page of jobs are in the DOM (a MutationObserver from an init script
  records performance.now(), whose zero is navigation start); the first visit after the
  server starts is a warm-up, then RUNS runs a role: median and worst. Also when the frame
  after it was painted, and each phase (page, scripts, /me, status, list) from Resource Timing.
- refresh bytes, from the DevTools protocol: per refresh tick (the requests from one
  job-queue-status request to the next), the request line and headers as sent
  (Network.requestWillBeSentExtraInfo) plus the response as transferred, headers and body
  (Network.loadingFinished encodedDataLength; for a 304, which the page drops unread and
  Chromium reports as aborted, the head that arrived). Unchanged: nothing written between
  ticks, across a minute's start (the tick that also fetches the chart's new minute is shown
  apart; the schedules panel, fetched every 30 s, is counted apart). Changed: 25 new jobs of
  the viewed scope committed between two ticks (queued, started and finished, through the
  store's apply_entries as the applier writes them, which moves the scope's version).
- transitions: a job of the viewed scope moved (created, started, finished) TRANSITIONS times
  at random moments; the store's commit until the open page shows the job in its new status.

Last line: `first render ms: <x>, refresh bytes: <y>`: x the worst of the roles' medians, y
the larger changed tick, over the databases run. Targets: x < 1000, unchanged < 2 KB, y < 50 KB.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bulk_jobs import JOBS, USERS, load
from bench.harness import (
    POSTGRES_URL,
    embedded_redis,
    free_port,
    percentile,
    postgres_reachable,
    process,
    wait_until,
    workdir,
)

RUNS = 5
UNCHANGED_TICKS = 10
CHANGED_TICKS = 3
PAGE_OF_JOBS = 25
TRANSITIONS = 21  # 7 jobs, each created, started and finished
TARGET_RENDER_MS, TARGET_UNCHANGED, TARGET_CHANGED = 1000, 2048, 50 * 1024
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
STATUS_PATH = "/api/v2/job-queue-status"

# Runs before the page's own scripts: the token (as signing in stores it), and an observer
# that marks when the queue table and the first page of jobs are both in the DOM, and the
# moment each (job, status) was first shown, for the transitions.
INIT_SCRIPT = """
sessionStorage.setItem("jobplatform.token", %s);
(() => {
  const bench = { seen: {} };
  window.__bench = bench;
  const check = () => {
    const jobs = document.querySelectorAll("#jobs > li.job[data-id]");
    if (bench.rendered === undefined && jobs.length > 0 &&
        document.querySelectorAll("#queues-body tr[data-queue]").length === 4) {
      bench.rendered = performance.now();
      bench.jobs = jobs.length;
      requestAnimationFrame(() => setTimeout(() => { bench.painted = performance.now(); }));
    }
    if (!bench.track) return;
    const now = performance.timeOrigin + performance.now();
    for (const item of jobs) {
      const key = `${item.dataset.id} ${item.className}`;
      if (!(key in bench.seen)) bench.seen[key] = now;
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
})();
"""

PHASES_SCRIPT = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    rendered: window.__bench.rendered, painted: window.__bench.painted, jobs: window.__bench.jobs,
    html: nav.responseEnd, transferred: nav.transferSize,
    resources: performance.getEntriesByType("resource").map((e) => ({
      name: e.name, start: e.startTime, end: e.responseEnd, size: e.transferSize })),
  };
}"""


# -- the store ------------------------------------------------------------------------------

def fill_minutes() -> None:
    """The per-minute rows (the charts) of the last hour, from the loaded jobs' ends."""
    import sqlalchemy as sa

    from jobplatform import create_app
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.jobs.minutes import add_ended, apply_minutes
    from jobplatform.jobs.models import Job

    app = create_app()
    with app.app_context():
        now = datetime.now(UTC)
        deltas: Counter = Counter()
        for user_id, queue, status, finished in db.session.execute(
                sa.select(Job.user_id, Job.queue, Job.status, Job.finished_at)
                .where(Job.finished_at.between(now - timedelta(minutes=60), now))):
            add_ended(deltas, user_id, queue, status, finished)
        apply_minutes(begin_write(db.session), deltas)
        db.session.commit()
        db.engine.dispose()


class Writer:
    """Writes jobs into the store the way the applier does: journal entries folded by
    `apply_entries` in one transaction, which moves the counters and the scope versions."""

    def __init__(self) -> None:
        from jobplatform import create_app

        self.app = create_app()
        self.rng = random.Random(3)

    def apply(self, items: list[dict]) -> float:
        """Commit `items`; the wall-clock time (ms) the commit returned."""
        from jobplatform.database import begin_write
        from jobplatform.extensions import db
        from jobplatform.jobs.store import apply_entries

        with self.app.app_context():
            apply_entries(begin_write(db.session), items)
            db.session.commit()
            done = time.time() * 1000
            db.session.remove()
        return done

    def pending(self, job_id: str, user_id: int | None, at: float) -> dict:
        from jobplatform.jobs.journal import EntryKind, entry

        queue, job_type = self.rng.choice([("general", "contacts_export"),
                                           ("fub_sync", "fub_sync"),
                                           ("rezen_sync", "rezen_sync")])
        return entry(job_id, EntryKind.PENDING, at=at, task=f"jobplatform.{queue}.{job_type}",
                     type=job_type, queue=queue, user_id=user_id, params={}, actor="bench")

    @staticmethod
    def processing(job_id: str, at: float) -> dict:
        from jobplatform.jobs.journal import EntryKind, entry

        return entry(job_id, EntryKind.PROCESSING, at=at, actor="bench", worker="bench")

    def complete(self, job_id: str, at: float) -> dict:
        from jobplatform.jobs.journal import EntryKind, entry

        return entry(job_id, EntryKind.COMPLETE, at=at, actor="bench", result={"n": 1},
                     summary=f"Synced {self.rng.randint(1, 500)} contacts, "
                             f"{self.rng.randint(0, 50)} deals")

    def page_of_jobs(self, user_id: int | None) -> float:
        """A page of new jobs, queued, started and finished, for `user_id` (or random users)."""
        from jobplatform.jobs.ids import new_job_id

        now = time.time()
        items = []
        for n in range(PAGE_OF_JOBS):
            job_id, at = new_job_id(), now + n * 0.001
            owner = user_id if user_id is not None else self.rng.randint(1, USERS)
            items += [self.pending(job_id, owner, at), self.processing(job_id, at + 0.0001),
                      self.complete(job_id, at + 0.0002)]
        return self.apply(items)

    def close(self) -> None:
        from jobplatform.extensions import db

        with self.app.app_context():
            db.engine.dispose()


def issue_tokens(sample: list[dict]) -> dict[str, tuple[str, int]]:
    """role -> (token, the user whose scope the page shows; the operator sees everyone's)."""
    from jobplatform import create_app
    from jobplatform.extensions import db
    from jobplatform.users.models import User
    from jobplatform.users.tokens import issue_token

    user_id = Counter(job["user_id"] for job in sample if job["user_id"]).most_common(1)[0][0]
    app = create_app()
    with app.app_context():
        admin = issue_token(db.session, db.session.get(User, USERS + 1))
        user = issue_token(db.session, db.session.get(User, user_id))
        db.session.commit()
        db.engine.dispose()
    return {"admin": (admin, user_id), "user": (user, user_id)}


# -- the web server -------------------------------------------------------------------------

@contextlib.contextmanager
def web_server(env: dict[str, str], tmp: Path, name: str) -> Iterator[tuple[str, Path]]:
    """gunicorn as `jobplatform up` runs it; its base URL and its access log."""
    port = free_port()
    access = tmp / f"access-{name}.log"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:jobplatform.gunicorn_config",
            "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--threads", "4", "--access-logfile", str(access),
            "--access-logformat", '%(r)s %(s)s %(B)s %(M)sms', "jobplatform:create_app()"]
    with process(argv, env, tmp / f"web-{name}.log") as proc:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(tmp / f'web-{name}.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(answers, 60, "gunicorn to answer", 0.2)
        yield base, access


def server_times(access: Path, start: int) -> dict[str, float]:
    """Median time (ms) gunicorn took per request path, from byte `start` of its access log:
    "GET /api/v2/jobs?limit=25 HTTP/1.1 200 10545 4ms"."""
    times: dict[str, list[float]] = {}
    with access.open("rb") as log:
        log.seek(start)
        for line in log.read().decode().splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[5].endswith("ms"):
                path = urlsplit(parts[1]).path
                key = "static" if "/static/" in path else path.removeprefix("/api/v2")
                times.setdefault(key, []).append(float(parts[5][:-2]))
    return {key: statistics.median(values) for key, values in times.items()}


# -- the browser ----------------------------------------------------------------------------

def open_dashboard(browser, base: str, token: str, *, track: bool = False):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    context.add_init_script(INIT_SCRIPT % json.dumps(token))
    if track:
        context.add_init_script("window.__bench.track = true;")
    page = context.new_page()
    return context, page


def first_render(browser, base: str, token: str) -> dict:
    """One visit in a fresh context: when the page was on screen, and its phases (ms)."""
    context, page = open_dashboard(browser, base, token)
    try:
        page.goto(f"{base}/dashboard", wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.painted !== undefined",
                               polling=20)
        found = page.evaluate(PHASES_SCRIPT)
    finally:
        context.close()
    phases = {"page": (0, found["html"])}
    for entry in found["resources"]:
        path = urlsplit(entry["name"]).path
        key = ("scripts" if "/static/js/" in path else "css" if path.endswith(".css")
               else path.removeprefix("/api/v2"))
        start, end = phases.get(key, (entry["start"], entry["end"]))
        phases[key] = (min(start, entry["start"]), max(end, entry["end"]))
    transferred = found["transferred"] + sum(e["size"] for e in found["resources"]
                                             if e["end"] <= found["rendered"])
    return {"rendered": found["rendered"], "painted": found["painted"], "jobs": found["jobs"],
            "phases": phases, "segments": segments(phases, found["rendered"]),
            "transferred": transferred}


def segments(phases: dict[str, tuple[float, float]], rendered: float) -> dict[str, float]:
    """The first render's waterfall, step by step (ms): each request's wait and the time
    between them (the browser's own work, or waiting for a free server worker)."""
    scripts = max(phases["scripts"][1], phases["css"][1])
    me, status = phases["/me"], phases["/job-queue-status"]
    listed = (min(phases["/jobs"][0], phases["/job-queue-status/history"][0]),
              max(phases["/jobs"][1], phases["/job-queue-status/history"][1]))
    return {"page": phases["page"][1], "css+js": scripts - phases["page"][1],
            "run js": me[0] - scripts, "/me": me[1] - me[0], "gap": status[0] - me[1],
            "status": status[1] - status[0], "gap ": listed[0] - status[1],
            "list+chart": listed[1] - listed[0], "render": rendered - listed[1]}


class NetLog:
    """Every request of a page from the DevTools protocol: bytes sent and received."""

    def __init__(self, cdp) -> None:
        self.requests: dict[str, dict] = {}
        for event, handler in (("Network.requestWillBeSent", self._sent),
                               ("Network.requestWillBeSentExtraInfo", self._sent_extra),
                               ("Network.responseReceived", self._response),
                               ("Network.responseReceivedExtraInfo", self._response_extra),
                               ("Network.dataReceived", self._data),
                               ("Network.loadingFinished", self._finished),
                               ("Network.loadingFailed", self._failed)):
            cdp.on(event, handler)
        cdp.send("Network.enable")

    def _get(self, request_id: str) -> dict:
        return self.requests.setdefault(request_id, {"done": False})

    def _sent(self, event: dict) -> None:
        request = event["request"]
        item = self._get(event["requestId"])
        parts = urlsplit(request["url"])
        item.update(url=request["url"], path=parts.path, target=parts.path
                    + (f"?{parts.query}" if parts.query else ""),
                    method=request["method"], wall=event["wallTime"] * 1000,
                    at=event["timestamp"], guessed=request.get("headers", {}),
                    body=len(request.get("postData") or ""))

    def _sent_extra(self, event: dict) -> None:
        self._get(event["requestId"])["sent"] = event["headers"]

    def _response(self, event: dict) -> None:
        response = event["response"]
        self._get(event["requestId"]).update(status=response["status"],
                                             reused=response.get("connectionReused"))

    def _data(self, event: dict) -> None:
        item = self._get(event["requestId"])
        item["data"] = item.get("data", 0) + event["dataLength"]

    def _response_extra(self, event: dict) -> None:
        item = self._get(event["requestId"])
        item["status"] = event["statusCode"]
        item["head"] = len((event.get("headersText") or "").encode())

    def _finished(self, event: dict) -> None:
        self._get(event["requestId"]).update(done=True, encoded=int(event["encodedDataLength"]))

    def _failed(self, event: dict) -> None:
        # The page drops a 304's Response unread and Chromium reports the fetch as aborted
        # (net::ERR_ABORTED) after its head arrived: count what had arrived.
        self._get(event["requestId"]).update(done=True, failed=event.get("errorText"))

    @staticmethod
    def up(item: dict) -> int:
        """Request line, headers as sent (or as the page asked, if Chromium said nothing
        more) and body, as HTTP/1.1 puts them on the wire."""
        headers = item.get("sent") or item["guessed"]
        line = f"{item['method']} {item['target']} HTTP/1.1\r\n"
        return (len(line.encode()) + sum(len(f"{k}: {v}\r\n".encode()) for k, v in
                                         headers.items()) + 2 + item["body"])

    @staticmethod
    def down(item: dict) -> int:
        """The response as transferred: head and body."""
        if "encoded" in item:
            return item["encoded"]
        return item.get("head", 0) + item.get("data", 0)

    def ticks(self) -> list[list[dict]]:
        """The page's API requests grouped by refresh tick, oldest first: each from one
        job-queue-status request to the next."""
        started = sorted((r for r in self.requests.values() if "at" in r), key=lambda r: r["at"])
        ticks: list[list[dict]] = []
        for item in started:
            if item["path"] == STATUS_PATH:
                ticks.append([])
            if ticks:
                ticks[-1].append(item)
        return ticks

    def finished_ticks(self) -> list[list[dict]]:
        """The ticks that are over: the next has begun and each request has its answer."""
        ticks = self.ticks()
        return [tick for tick in ticks[:-1] if all(r["done"] for r in tick)]


def describe(tick: list[dict]) -> dict:
    """A tick's bytes, up and down, without the schedules panel (every 30 s, shown apart)."""
    counted = [r for r in tick if not r["path"].endswith("/schedules")]
    return {"up": sum(NetLog.up(r) for r in counted),
            "down": sum(NetLog.down(r) for r in counted),
            "bytes": sum(NetLog.up(r) + NetLog.down(r) for r in counted),
            "requests": [(r["path"].removeprefix("/api/v2"), r.get("status"), NetLog.up(r),
                          NetLog.down(r), r.get("head", 0)) for r in tick],
            "new_connections": sum(1 for r in tick if r.get("reused") is False),
            "headers": tick[0].get("sent") or tick[0]["guessed"],
            "at": tick[0]["wall"], "status": tick[0].get("status"),
            "kind": "+".join(sorted({r["path"].removeprefix("/api/v2/") for r in tick}))}


def pump(page, until: Callable[[], bool], timeout: float, what: str) -> None:
    """Let Playwright deliver events until `until()` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        page.wait_for_timeout(20)


def refresh_bytes(browser, base: str, token: str, writer: Writer, scope_user: int | None,
                  user_id: int) -> dict:
    """Bytes of unchanged ticks and of ticks after a page of jobs changed (in `scope_user`'s
    scope, or random users' for the operator's all-users view); then transitions of
    `user_id`'s jobs."""
    context, page = open_dashboard(browser, base, token, track=True)
    try:
        log = NetLog(context.new_cdp_session(page))
        page.goto(f"{base}/dashboard")
        page.wait_for_function("() => window.__bench.rendered !== undefined", polling=20)
        # The first tick loads everything; settle for two more.
        pump(page, lambda: len(log.finished_ticks()) >= 3, 30, "the page to settle")
        first = describe(log.ticks()[0])
        # Unchanged ticks across a minute's start, when the chart's window moves on.
        boundary = (time.time() // 60 + 1) * 60
        if boundary - time.time() < 4:
            boundary += 60
        pump(page, lambda: time.time() > boundary - 4, 70, "a minute's end")
        seen = len(log.finished_ticks())
        pump(page, lambda: len(log.finished_ticks()) >= seen + UNCHANGED_TICKS, 60,
             "unchanged ticks")
        unchanged = [describe(t) for t in log.finished_ticks()[seen:]]

        changed = []
        for _ in range(CHANGED_TICKS):
            # Early in the pause between two ticks (a tick is over when the next begins).
            count = len(log.finished_ticks())
            pump(page, lambda c=count: len(log.finished_ticks()) > c, 30, "a tick")
            page.wait_for_timeout(150)
            latest = len(log.ticks()) - 1  # the tick under way, if it is not over yet
            writer.page_of_jobs(scope_user)

            # Nothing else changes the scope, so the first 200 from here on is this change's.
            def after(latest: int = latest) -> list[dict]:
                return [d for d in map(describe, log.finished_ticks()[latest:])
                        if d["status"] == 200]

            pump(page, lambda: bool(after()), 30, "a tick after the change")
            changed.append(after()[0])

        latencies = transitions(page, writer, user_id)
    finally:
        context.close()
    schedules = [r for r in log.requests.values() if r.get("path", "").endswith("/schedules")]
    return {"unchanged": unchanged, "changed": changed, "first": first,
            "schedules": max((NetLog.up(r) + NetLog.down(r) for r in schedules), default=0),
            "transitions": latencies}


def transitions(page, writer: Writer, user_id: int) -> list[float]:
    """ms from each commit until the open page shows the job in its new status."""
    from jobplatform.jobs.ids import new_job_id

    rng = random.Random(4)
    latencies = []
    for n in range(TRANSITIONS):
        if n % 3 == 0:
            job_id = new_job_id()
        page.wait_for_timeout(rng.uniform(300, 1300))  # a random moment of the tick
        at = time.time()
        item, status = [(writer.pending(job_id, user_id, at), "pending"),
                        (writer.processing(job_id, at), "processing"),
                        (writer.complete(job_id, at), "complete")][n % 3]
        committed = writer.apply([item])
        key = f"{job_id} job status-{status}"
        shown: list[float] = []

        def visible(key: str = key, shown: list[float] = shown) -> bool:
            found = page.evaluate("(key) => window.__bench.seen[key]", key)
            if found is not None:
                shown.append(found)
            return bool(shown)

        pump(page, visible, 15, f"job {job_id} {status} on the page")
        latencies.append(shown[0] - committed)
    return latencies


# -- the run --------------------------------------------------------------------------------

def measure(url: str, name: str, env: dict[str, str], tmp: Path) -> dict:
    from playwright.sync_api import sync_playwright

    print(f"{name}:", flush=True)
    env = {**env, "JOBPLATFORM_DATABASE_URL": url}
    os.environ.update(env)
    sample = load(url)
    fill_minutes()
    tokens = issue_tokens(sample)
    writer = Writer()
    results: dict = {"render": {}, "refresh": {}}
    try:
        with web_server(env, tmp, name) as (base, access), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=LAUNCH_ARGS)
            try:
                for role, (token, _) in tokens.items():
                    cold = first_render(browser, base, token)
                    offset = access.stat().st_size
                    runs = [first_render(browser, base, token) for _ in range(RUNS)]
                    results["render"][role] = {"cold": cold, "runs": runs,
                                               "server": server_times(access, offset)}
                    times = [r["rendered"] for r in runs]
                    print(f"  first render, {role}: median {statistics.median(times):.0f} ms, "
                          f"worst {max(times):.0f} ms (runs {', '.join(f'{t:.0f}' for t in times)}"
                          f"; cold {cold['rendered']:.0f})", flush=True)
                for role, (token, user_id) in tokens.items():
                    scope_user = None if role == "admin" else user_id
                    result = refresh_bytes(browser, base, token, writer, scope_user, user_id)
                    results["refresh"][role] = result
                    print(f"  refresh, {role}: unchanged "
                          f"{', '.join(str(t['bytes']) for t in result['unchanged'])} B; changed "
                          f"{', '.join(str(t['bytes']) for t in result['changed'])} B; "
                          f"transitions p95 {percentile(result['transitions'], 95):.0f} ms",
                          flush=True)
            finally:
                browser.close()
    finally:
        writer.close()
    return results


def report(name: str, results: dict) -> dict[str, float]:
    """Print one database's table; its figures for the summary."""
    print(f"\n{name}, {JOBS:,} jobs")
    print(f"  {'first render (ms)':<34} {'median':>7} {'worst':>7} {'cold':>7} {'painted':>7} "
          f"{'KB':>5}")
    medians = []
    for role, render in results["render"].items():
        runs = render["runs"]
        times = [r["rendered"] for r in runs]
        medians.append(statistics.median(times))
        print(f"  {role:<34} {statistics.median(times):>7.0f} {max(times):>7.0f} "
              f"{render['cold']['rendered']:>7.0f} "
              f"{statistics.median(r['painted'] for r in runs):>7.0f} "
              f"{statistics.median(r['transferred'] for r in runs) / 1024:>5.0f}")
    for role, render in results["render"].items():
        runs = render["runs"]
        steps = " | ".join(
            f"{step.strip()} {statistics.median(r['segments'][step] for r in runs):.0f}"
            for step in runs[0]["segments"])
        print(f"    {role} waterfall, median ms: {steps}")
        worst = max(runs, key=lambda r: r["rendered"])
        phases = ", ".join(f"{k} {a:.0f}-{b:.0f}" for k, (a, b) in
                           sorted(worst["phases"].items(), key=lambda kv: kv[1]))
        print(f"    {role} worst run, ms after navigation start: {phases}")
        server = ", ".join(f"{k} {v:.0f}" for k, v in sorted(render["server"].items()))
        print(f"    {role} gunicorn's time per request, median ms: {server}")
    print(f"\n  {'refresh tick (bytes: up + down)':<34} {'median':>7} {'worst':>7}  requests")
    unchanged_worst, changed_worst, minute_worst = 0, 0, 0
    transitions = {}
    for role, refresh in results["refresh"].items():
        # A tick that also fetched the schedules panel counts without it (it is shown apart);
        # one at a new minute also fetches the chart, whose window moved on.
        plain = [t for t in refresh["unchanged"] if "history" not in t["kind"]]
        minutes = [t for t in refresh["unchanged"] if "history" in t["kind"]]
        for label, ticks in ((f"{role}, unchanged", plain),
                             (f"{role}, unchanged, at a new minute", minutes),
                             (f"{role}, changed ({PAGE_OF_JOBS} jobs)", refresh["changed"])):
            if not ticks:
                continue
            sizes = [t["bytes"] for t in ticks]
            last = max(ticks, key=lambda t: t["bytes"])
            requests = "; ".join(f"{path} {status} {up}+{down}" for path, status, up, down, _
                                 in last["requests"])
            print(f"  {label:<34} {statistics.median(sizes):>7.0f} {max(sizes):>7.0f}  "
                  f"{requests}")
        if len(plain) > 1:
            starts = sorted(t["at"] for t in refresh["unchanged"])
            period = statistics.median(b - a for a, b in itertools.pairwise(starts))
            typical = statistics.median(t["bytes"] for t in plain)
            minute = max((t["bytes"] for t in minutes), default=typical)
            idle = 60_000 / period * typical + (minute - typical) + 2 * refresh["schedules"]
            print(f"  {role + ', idle, bytes a minute':<34} {idle:>7.0f}  ({60_000 / period:.0f} "
                  f"ticks of {period:.0f} ms, one with the chart's new minute, and the "
                  "schedules panel twice)")
        unchanged_worst = max(unchanged_worst, *(t["bytes"] for t in plain))
        minute_worst = max(minute_worst, *(t["bytes"] for t in minutes), 0)
        changed_worst = max(changed_worst, *(t["bytes"] for t in refresh["changed"]))
        first = refresh["first"]
        print(f"  {role + ', first tick (page load)':<34} {first['bytes']:>7} {'':>7}  "
              + "; ".join(f"{p} {s} {u}+{d}" for p, s, u, d, _ in first["requests"]))
        print(f"  {role + ', schedules panel (every 30 s)':<34} {refresh['schedules']:>7}")
        if plain:
            sizes = sorted(((len(f"{k}: {v}\r\n"), k) for k, v in plain[0]["headers"].items()),
                           reverse=True)
            print(f"    {role}, an unchanged tick's request headers, bytes: "
                  + ", ".join(f"{k} {n}" for n, k in sizes))
            print(f"    {role}, new TCP connections per unchanged tick: "
                  f"{statistics.median(t['new_connections'] for t in plain):.0f}")
        transitions[role] = refresh["transitions"]
    print(f"\n  {'transition → on the page (ms)':<34} {'p50':>7} {'p95':>7} {'max':>7}")
    for role, values in transitions.items():
        print(f"  {role + f', {len(values)} transitions':<34} {percentile(values, 50):>7.0f} "
              f"{percentile(values, 95):>7.0f} {max(values):>7.0f}")
    return {"render": max(medians), "unchanged": unchanged_worst, "changed": changed_worst,
            "minute": minute_worst,
            "transition_p50": max(percentile(v, 50) for v in transitions.values()),
            "transition_p95": max(percentile(v, 95) for v in transitions.values())}


def main() -> None:
    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        env = {**os.environ, "JOBPLATFORM_BROKER_URL": redis_url,
               "JOBPLATFORM_JOURNAL_URL": redis_url,
               "JOBPLATFORM_INSTANCE_PATH": str(tmp / "instance"),
               "JOBPLATFORM_SECRET_KEY": "bench"}
        databases = {"sqlite": f"sqlite:///{tmp}/dashboard.db"}
        if postgres_reachable():
            databases["postgresql"] = POSTGRES_URL
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_URL}; SQLite only")
        results = {name: measure(url, name, env, tmp) for name, url in databases.items()}
        figures = {name: report(name, result) for name, result in results.items()}

    print()
    for name, f in figures.items():
        print(f"{name}: first render {f['render']:.0f} ms (target < {TARGET_RENDER_MS}), "
              f"unchanged refresh {f['unchanged']} B (< {TARGET_UNCHANGED}; "
              f"{f['minute']} B at a new minute), changed refresh "
              f"{f['changed']} B (< {TARGET_CHANGED}), transition p50 "
              f"{f['transition_p50']:.0f} / p95 {f['transition_p95']:.0f} ms (≤ 1500)")
    render = max(f["render"] for f in figures.values())
    changed = max(f["changed"] for f in figures.values())
    print(f"transition ms: p50 {max(f['transition_p50'] for f in figures.values()):.0f}, "
          f"p95 {max(f['transition_p95'] for f in figures.values()):.0f}")
    print(f"first render ms: {render:.0f}, refresh bytes: {changed}")


if __name__ == "__main__":
    main()
