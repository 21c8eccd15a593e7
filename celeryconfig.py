"""Celery settings for jobplatform, read from the environment (see jobplatform/config.py)."""

from kombu import Queue

from jobplatform import queues
from jobplatform.config import Settings, rabbitmq_management_url

_settings = Settings.from_env()

broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
if broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ holds a delivered message until its ack and gives it to another consumer only
    # when the channel closes, so it needs no visibility timeout. Its equivalent is the
    # server's `consumer_timeout` (30 min by default), which closes the channel of a consumer
    # holding an unacknowledged message longer: set it above the longest hard time limit
    # (rabbitmq.conf: consumer_timeout = 3900000, i.e. queues.visibility_timeout() in ms), or
    # an onboarding that runs past 30 minutes is handed to a second worker.
    # No publisher confirms: RabbitMQ confirms a persistent message only once it is on disk,
    # which would hold every `.delay()` for a disk flush (tens of milliseconds).
    broker_transport_options: dict[str, object] = {}
else:
    broker_transport_options = {"visibility_timeout": queues.visibility_timeout()}
jobplatform_journal_url = _settings.journal_url


# Flower (deploy/flowerconfig.py) takes its `broker_api` from the same settings.
jobplatform_flower_broker_api = _settings.flower_broker_api or rabbitmq_management_url(broker_url)

task_queues = [Queue(name, routing_key=name) for name in queues.QUEUE_NAMES]
task_default_queue = queues.DEFAULT_QUEUE
task_routes = queues.task_routes()
task_annotations = [queues.QueueTimeLimits()]

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
# Results, progress and errors live in the SQL job store; no result backend is needed.
task_ignore_result = True

# A job is acknowledged after it ran, and goes back to the queue if its worker dies mid-way.
task_acks_late = True
task_reject_on_worker_lost = True

# Flower and `celery events` need these.
worker_send_task_events = True
task_send_sent_event = True

timezone = "UTC"
enable_utc = True

# Beat publishes these as system jobs (no user); their history names beat as the publisher.
_by_beat = {"headers": {"jobplatform_actor": "beat"}}
beat_schedule = {
    "schedule-fub-syncs": {
        "task": "jobplatform.general.schedule_syncs",
        "schedule": float(_settings.fub_sync_interval),
        "kwargs": {"provider": "fub"},
        "options": _by_beat,
    },
    "schedule-rezen-syncs": {
        "task": "jobplatform.general.schedule_syncs",
        "schedule": float(_settings.rezen_sync_interval),
        "kwargs": {"provider": "rezen"},
        "options": _by_beat,
    },
    "reap-lost-jobs": {
        "task": "jobplatform.general.reap_jobs",
        "schedule": float(_settings.reap_interval),
        "options": _by_beat,
    },
    "prune-ended-jobs": {
        "task": "jobplatform.general.prune_jobs",
        "schedule": float(_settings.prune_interval),
        "options": _by_beat,
    },
}
