"""The soak, with faults: mixed jobs against faulty providers, a worker host killed and a
Redis blip in the middle, then every promise checked.

    .venv/bin/python bench/chaos.py        # about 15 minutes (JOBPLATFORM_BENCH_JOBS=10000)

Starts, on free loopback ports: an embedded Redis with its append-only file (broker and
journal), SQLite in a temporary instance folder, the FUB and reZEN simulators with faults on
(`--error-rate 0.05 --latency 20 --churn 120`), the applier, beat (the sync fan-out every
30 s, the reaper every 10 s), the web app under gunicorn, and a prefork worker (-c 4) on all
queues with the test tasks loaded (for jobs that fail, retry, or sleep to be cancelled).

USERS users connect FUB and reZEN through the API (onboarding), then JOBS jobs are sent
through the API by four client threads: 55% `test_steps`, 10% `test_flaky` (fails once,
retries), 10% `test_fail`, 10% `test_sleep` (half cancelled while they run or wait), 5%
exports, 5% CSV imports (with bad rows), 5% "sync now". A third of the way in the worker
is SIGKILLed with its pool (a host lost) and a new one started; two thirds in, Redis is
stopped for 10 s and started again with its data. The clients send again what got a 503.

Then, with the faults off and one last sync of every integration, it checks: every accepted
job (answered 202/200 with an id) is in the store (else *lost*) and final (else *stuck*);
every job's history is a legal walk of the lifecycle; the per-queue counters equal a recount
of the rows; each user's synced contacts and transactions equal the simulators' data; the
journal stream is drained; no token or provider key is in any log, Redis key or table (else
*leaked secrets*); no answer was a 500. And memory: the resident size of the applier, the web
app and the (replacement) worker, first quarter against last.

Last line: `jobs: <n>, faults: <f>, lost: <l>, stuck: <s>, 500s: <e>, leaked secrets: <k>`.
"""

from __future__ import annotations

import io
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psutil
import redis
import sqlalchemy as sa

from bench.harness import free_port, process, wait_until, workdir

JOBS = int(os.environ.get("JOBPLATFORM_BENCH_JOBS", "10000"))
USERS = int(os.environ.get("JOBPLATFORM_BENCH_USERS", "20"))
CLIENTS = 4
BLIP_SECONDS = 10
SETTLE_TIMEOUT = float(os.environ.get("JOBPLATFORM_BENCH_SETTLE_SECONDS", "600"))
FINAL = {"complete", "error", "cancelled"}
# (from, to) a job's history may show; a note keeps the status (from == to).
LEGAL = {(None, "pending"), ("pending", "processing"), ("pending", "cancelled"),
         ("pending", "error"), ("pending", "pending"), ("processing", "complete"),
         ("processing", "error"), ("processing", "cancelled"), ("processing", "pending")}
MIX = [("test_steps", 55), ("test_flaky", 10), ("test_fail", 10), ("test_sleep", 10),
       ("contacts_export", 5), ("import", 5), ("sync", 5)]
CSV = (b"name,email,phone\nAna Lima,ana@example.com,+1 555 0100\n"
       b"=cmd|' /C calc'!A0,x@example.com,\nBen,not-an-email,\nCy,cy@example.com,\n")


class Load:
    """The clients' side: what was accepted, what was answered."""

    def __init__(self, base: str, tokens: list[str]) -> None:
        self.base = base
        self.tokens = tokens
        self.accepted: set[str] = set()
        self.statuses: Counter[int] = Counter()
        self.cancelled_asked = 0
        self.lock = threading.Lock()
        self.sent = 0

    def request(self, method: str, path: str, token: str, **kwargs) -> httpx.Response | None:
        """Send until it is not a 503 (the outage) nor a dropped connection."""
        for _ in range(120):
            try:
                response = httpx.request(method, f"{self.base}{path}", timeout=60,
                                         headers={"Authorization": f"Bearer {token}"},
                                         **kwargs)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            with self.lock:
                self.statuses[response.status_code] += 1
            if response.status_code != 503:
                return response
            time.sleep(0.5)
        return None

    def one(self, rng: random.Random) -> None:
        token = rng.choice(self.tokens)
        kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        if kind == "import":
            answer = self.request("POST", "/api/v2/imports/files", token, files={
                "file": ("contacts.csv", io.BytesIO(CSV), "text/csv")})
        elif kind == "sync":
            answer = self.request("POST", f"/api/v2/integrations/{rng.choice(['fub', 'rezen'])}"
                                  "/sync", token)
        else:
            params = {"test_steps": {"count": 3}, "test_flaky": {"failures": 1},
                      "test_fail": {"message": "Rate limit exceeded"},
                      "test_sleep": {"seconds": 0.3}, "contacts_export": {}}[kind]
            answer = self.request("POST", "/api/v2/jobs", token,
                                  json={"type": kind, "params": params})
        if answer is None or answer.status_code not in (200, 202):
            return
        job_id = answer.json()["id"]
        with self.lock:
            self.accepted.add(job_id)
            self.sent += 1
        if kind == "test_sleep" and rng.random() < 0.5:
            self.request("POST", f"/api/v2/jobs/{job_id}/cancel", token)
            with self.lock:
                self.cancelled_asked += 1


class Workers:
    """The worker, supervised as systemd or Kubernetes would: started again if it exits."""

    def __init__(self, stack: ExitStack, argv: list[str], env: dict[str, str],
                 logs: Path) -> None:
        self.stack, self.argv, self.env, self.logs = stack, argv, env, logs
        self.started = 0
        self.restarts = 0
        self.current = self._start()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watch = threading.Thread(target=self._watch_loop, daemon=True)
        self._watch.start()

    def _start(self) -> subprocess.Popen:
        self.started += 1
        return self.stack.enter_context(process(self.argv, self.env,
                                                self.logs / f"worker-{self.started}.log"))

    def kill(self) -> None:
        with self._lock:
            os.killpg(self.current.pid, signal.SIGKILL)
            self.current.wait()
            self.current = self._start()

    def _watch_loop(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self.current.poll() is not None:
                    self.restarts += 1
                    self.current = self._start()

    def stop(self) -> None:
        self._stop.set()
        self._watch.join()


def rss_mb(pid: int) -> float:
    """Resident size of a process and its children."""
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def main() -> None:
    from jobplatform.embedded import EmbeddedRedis

    rng = random.Random(7)
    with workdir() as tmp, ExitStack() as stack:
        (tmp / "redis").mkdir()
        server = EmbeddedRedis(tmp / "redis", persistent=True)
        redis_url = server.start()
        stack.callback(server.stop)
        fub_port, rezen_port, web_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "JOBPLATFORM_BROKER_URL": redis_url, "JOBPLATFORM_JOURNAL_URL": redis_url,
            "JOBPLATFORM_DATABASE_URL": f"sqlite:///{tmp}/chaos.db",
            "JOBPLATFORM_INSTANCE_PATH": str(tmp / "instance"),
            "JOBPLATFORM_SECRET_KEY": f"chaos-{uuid.uuid4().hex}",
            "JOBPLATFORM_FUB_BASE_URL": f"http://127.0.0.1:{fub_port}/v1",
            "JOBPLATFORM_REZEN_ARRAKIS_URL": f"http://127.0.0.1:{rezen_port}/arrakis/api/v1",
            "JOBPLATFORM_REZEN_YENTA_URL": f"http://127.0.0.1:{rezen_port}/yenta/api/v1",
            "JOBPLATFORM_FUB_SYNC_INTERVAL": "30", "JOBPLATFORM_REZEN_SYNC_INTERVAL": "30",
            "JOBPLATFORM_REAP_INTERVAL": "10", "JOBPLATFORM_PROVIDER_TIMEOUT": "5",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("JOBPLATFORM_")})
        jobplatform = [sys.executable, "-m", "jobplatform"]
        subprocess.run([*jobplatform, "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        logs = tmp / "logs"
        logs.mkdir()
        faults = ["--error-rate", "0.05", "--latency", "20", "--churn", "120"]
        for name, port in (("fub", fub_port), ("rezen", rezen_port)):
            stack.enter_context(process([*jobplatform, "simulate", name, "--port", str(port),
                                         "--seed", "3", "--people", "120", "--deals", "10",
                                         "--transactions", "60", *faults],
                                        env, logs / f"sim-{name}.log"))
        applier = stack.enter_context(process([*jobplatform, "applier"], env,
                                              logs / "applier.log"))
        stack.enter_context(process([sys.executable, "-m", "celery", "-A", "jobplatform", "beat",
                                     "-s", str(tmp / "beat-schedule"), "-l", "warning"],
                                    env, logs / "beat.log"))
        web = stack.enter_context(process(
            [sys.executable, "-m", "gunicorn", "-c", "python:jobplatform.gunicorn_config",
             "--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4",
             "tests.web_app:app"], env, logs / "web.log"))
        worker_argv = [sys.executable, "-m", "celery", "-A", "jobplatform", "worker", "-Q",
                       "fub_onboarding,fub_sync,rezen_sync,general", "-c", "4", "-n",
                       "chaos@localhost", "-I", "tests.worker_tasks", "-l", "warning",
                       "--without-mingle", "--without-gossip"]
        workers = Workers(stack, worker_argv, env, logs)
        base = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: _answers(f"{base}/healthz"), 60, "the web app", 0.2)

        tokens, secrets = _users(jobplatform, env)
        load = Load(base, tokens)
        keys = {}
        for token in tokens:
            for provider in ("fub", "rezen"):
                key = f"key-{uuid.uuid4().hex}"
                keys[(token, provider)] = key
                secrets.append(key)
                made = load.request("POST", "/api/v2/integrations", token,
                                    json={"provider": provider, "api_key": key})
                if made is not None and made.status_code == 201:
                    load.accepted.add(made.json()["job"]["id"])
        print(f"{USERS} users, FUB and reZEN connected; sending {JOBS:,} jobs", flush=True)

        samples: dict[str, list[float]] = {"applier": [], "web": [], "worker": []}
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(2.0):
                samples["applier"].append(rss_mb(applier.pid))
                samples["web"].append(rss_mb(web.pid))
                samples["worker"].append(rss_mb(workers.current.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        fault_log: list[str] = []
        settled = threading.Event()

        def faults() -> None:
            """While the clients send: a worker host lost at a third, a Redis blip at two.
            This thread lives until the end: Redis, started from it, is tied to its life."""
            wait_until(lambda: load.sent >= JOBS // 3, SETTLE_TIMEOUT, "a third of the jobs", 0.1)
            workers.kill()  # the host is gone, pool and all; a new one comes up
            samples["worker"].clear()  # the replacement's life is what is measured
            fault_log.append(f"worker killed at {load.sent:,} jobs")
            wait_until(lambda: load.sent >= 2 * JOBS // 3, SETTLE_TIMEOUT, "two thirds", 0.1)
            server.stop()
            time.sleep(BLIP_SECONDS)  # the fault: Redis away for this long
            server.start()
            fault_log.append(f"Redis stopped {BLIP_SECONDS} s at {load.sent:,} jobs")
            settled.wait()

        chaos = threading.Thread(target=faults, daemon=True)
        chaos.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            while load.sent < JOBS:
                batch = [pool.submit(load.one, random.Random(rng.random()))
                         for _ in range(min(100, JOBS - load.sent))]
                for future in batch:
                    future.result()
        sent_for = time.perf_counter() - started
        print(f"sent {load.sent:,} jobs in {sent_for:.0f} s; faults: {'; '.join(fault_log)}",
              flush=True)

        # Faults off; everything settles; one last sync of every integration.
        for port in (fub_port, rezen_port):
            httpx.post(f"http://127.0.0.1:{port}/_sim/configure", timeout=10,
                       json={"error_rate": 0, "churn_per_minute": 0})
        engine = sa.create_engine(env["JOBPLATFORM_DATABASE_URL"])
        _settle(engine, load.accepted)
        # Twice: a sync already running when the first round asked may be the one returned;
        # the second round's word is from an unchanging provider.
        for _ in range(2):
            syncs = _sync_every_integration(load, tokens)
            load.accepted |= syncs
            _settle(engine, syncs)
        sampling.set()
        sampler.join()
        report = _check(engine, load, redis_url, env, logs, secrets, keys,
                        fub_port, rezen_port)
        workers.stop()
        settled.set()  # (and Redis, tied to the fault thread's life, goes with it)
        chaos.join()
        for name, values in samples.items():
            quarter = max(1, len(values) // 4)
            first, final = statistics.median(values[:quarter]), statistics.median(
                values[-quarter:])
            growth = (final - first) / first * 100 if first else float("nan")
            print(f"memory, {name}: {first:.0f} MB first quarter, {final:.0f} MB last "
                  f"quarter ({growth:+.1f}%)", flush=True)
        statuses = ", ".join(f"{code}: {count:,}" for code, count in sorted(load.statuses.items()))
        print(f"answers by status: {statuses}", flush=True)
        for line in report["lines"]:
            print(line, flush=True)
        print(f"workers restarted after exiting by themselves: {workers.restarts}", flush=True)
        print(f"jobs: {len(load.accepted)}, faults: {len(fault_log)}, lost: {report['lost']}, "
              f"stuck: {report['stuck']}, 500s: {load.statuses.get(500, 0)}, "
              f"leaked secrets: {report['leaked']}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _users(jobplatform: list[str], env: dict[str, str]) -> tuple[list[str], list[str]]:
    tokens = []
    for n in range(USERS):
        made = subprocess.run([*jobplatform, "users", "create", f"chaos-{n}@example.com"],
                              env=env, check=True, capture_output=True, text=True)
        tokens.append(made.stdout.strip())
    return tokens, list(tokens)


def _sync_every_integration(load: Load, tokens: list[str]) -> set[str]:
    """"Sync now" for each user's FUB and reZEN; the ids of the syncs answered."""
    syncs = set()
    for token in tokens:
        for provider in ("fub", "rezen"):
            answer = load.request("POST", f"/api/v2/integrations/{provider}/sync", token)
            if answer is not None and answer.status_code in (200, 202):
                syncs.add(answer.json()["id"])
    return syncs


def _settle(engine: sa.Engine, job_ids: set[str]) -> None:
    """Wait until every one of `job_ids` is final (or the timeout: those are *stuck*)."""
    def final() -> bool:
        with engine.connect() as connection:
            open_jobs = {row[0] for row in connection.execute(sa.text(
                "SELECT id FROM jobs WHERE status NOT IN ('complete', 'error', 'cancelled')"))}
        return not open_jobs & job_ids

    with suppress(TimeoutError):
        wait_until(final, SETTLE_TIMEOUT, "every job to end", 1.0)


def _check(engine: sa.Engine, load: Load, redis_url: str, env: dict[str, str], logs: Path,
           secrets: list[str], keys: dict, fub_port: int, rezen_port: int) -> dict:
    lines = []
    with engine.connect() as connection:
        rows = dict(connection.execute(sa.text("SELECT id, status FROM jobs")).all())
        walks = connection.execute(sa.text(
            "SELECT job_id, from_status, to_status FROM job_events ORDER BY id")).all()
        counted = dict(connection.execute(sa.text(
            "SELECT status, sum(count) FROM queue_counts WHERE scope = 'all' "
            "GROUP BY status")).all())
        recount = dict(connection.execute(sa.text(
            "SELECT status, count(*) FROM jobs WHERE user_id IS NOT NULL GROUP BY status")).all())
        synced = connection.execute(sa.text(
            "SELECT u.email, i.provider, "
            "(SELECT count(*) FROM contacts c WHERE c.user_id = u.id AND c.source = 'fub' "
            " AND COALESCE(c.stage, '') <> 'Trash'), "
            "(SELECT count(*) FROM transactions t WHERE t.user_id = u.id) "
            "FROM users u JOIN integrations i ON i.user_id = u.id")).all()
    lost = len(load.accepted - set(rows))
    stuck = sum(1 for job_id in load.accepted if rows.get(job_id) not in FINAL)
    illegal = Counter((frm, to) for _, frm, to in walks
                      if (frm, to) not in LEGAL and frm != to)
    by_status = Counter(rows[j] for j in load.accepted if j in rows)
    lines.append(f"accepted jobs by status: {dict(by_status)}; cancels asked "
                 f"{load.cancelled_asked:,}")
    lines.append(f"histories: {len(walks):,} events, illegal steps: {sum(illegal.values())} "
                 f"{dict(illegal) if illegal else ''}")
    counts_right = {k: v for k, v in counted.items() if v} == recount
    lines.append(f"counters equal a recount of the rows: {counts_right}")
    client = redis.Redis.from_url(redis_url)
    lines.append(f"journal stream length at the end: {client.xlen('jobplatform:journal')}")
    mismatched = _synced_mismatches(synced, keys, fub_port, rezen_port)
    lines.append(f"integrations whose synced records differ from the simulator: {mismatched} "
                 f"of {len(synced)}")
    leaked = _leaks(engine, client, logs, secrets)
    return {"lost": lost, "stuck": stuck, "leaked": leaked, "lines": lines}


def _synced_mismatches(synced, keys: dict, fub_port: int, rezen_port: int) -> int:
    """Users whose stored contacts (FUB) or transactions (reZEN) differ in number from the
    simulator's data for their key."""
    by_email = {f"chaos-{n}@example.com": n for n in range(USERS)}
    tokens_in_order = list(dict.fromkeys(token for token, _ in keys))
    wrong = 0
    for email, provider, contacts, transactions in synced:
        token = tokens_in_order[by_email[email]]
        key = keys[(token, provider)]
        port = fub_port if provider == "fub" else rezen_port
        data = httpx.get(f"http://127.0.0.1:{port}/_sim/dataset", params={"api_key": key},
                         timeout=30).json()
        if provider == "fub":
            expected = sum(1 for p in data["people"] if p["stage"] != "Trash")
            wrong += contacts != expected
        else:
            wrong += transactions != len(data["transactions"])
    return wrong


def _leaks(engine: sa.Engine, client: redis.Redis, logs: Path, secrets: list[str]) -> int:
    """How many secrets appear in any log, Redis key or value, or table."""
    texts = [path.read_text(errors="replace") for path in logs.glob("*.log")]
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        value = {"string": client.get, "hash": client.hgetall, "list":
                 lambda k: client.lrange(k, 0, -1), "set": client.smembers,
                 "stream": client.xrange}.get(kind, lambda k: b"")(key)
        texts.append(f"{key!r}{value!r}")
    with engine.connect() as connection:
        for table in sa.inspect(engine).get_table_names():
            texts.append(repr(connection.execute(sa.text(f'SELECT * FROM "{table}"')).all()))
    everything = "\n".join(texts)
    return sum(1 for secret in secrets if secret in everything)


if __name__ == "__main__":
    main()
