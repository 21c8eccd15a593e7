"""Bare Celery for the tracking benchmark: jobplatform's Celery settings, no jobplatform.

Everything a jobplatform task gets from the platform's configuration is mirrored here (acks
late, requeue on a lost worker, the general queue's time limits, JSON, events), so the
benchmark's ratio measures tracking and nothing else.
"""

import os

from celery import Celery
from kombu import Queue

# jobplatform.queues' limits for `general`; not imported, since importing jobplatform would
# connect its tracking here too.
GENERAL_SOFT_TIME_LIMIT, GENERAL_TIME_LIMIT = 1740, 1800

app = Celery("bare", broker=os.environ["JOBPLATFORM_BENCH_BARE_BROKER_URL"])
app.conf.update(
    task_queues=[Queue("general", routing_key="general")],
    task_default_queue="general",
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_send_task_events=True,
    task_send_sent_event=True,
)


@app.task(name="bench.noop", time_limit=GENERAL_TIME_LIMIT,
          soft_time_limit=GENERAL_SOFT_TIME_LIMIT)
def noop(n: int = 0) -> None:
    return None
