"""The tracked twin of bench/bare_app.py's task: a no-op jobplatform job."""

from jobplatform import celery


@celery.task(name="jobplatform.general.bench_noop")
def noop(n: int = 0) -> None:
    return None
