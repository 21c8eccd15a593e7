"""Celery tasks, one module per queue family; each is a thin function over jobplatform code."""
