"""Celery tasks, one module per queue family; each is a thin function over jobplatform code.

Importing this package registers every task with the app, so any process that publishes
(web, beat, `celery call`) knows each task's job type, not only the workers.
"""

from . import fub, general, maintenance, rezen

__all__ = ["fub", "general", "maintenance", "rezen"]
