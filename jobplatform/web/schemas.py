"""The API's request and response shapes: validation, serialization and the OpenAPI schemas."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from ..jobs.status import JobStatus
from ..queues import QUEUE_NAMES

QueueName = Literal[QUEUE_NAMES]  # type: ignore[valid-type]


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_8601_only(value: Any) -> Any:
    # Pydantic would read "0.5" as a Unix time; the API documents ISO 8601 only.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time with its offset, "
                         "for example 2026-12-04T09:30:00Z")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)]
NUL_REFUSED = "must not contain a NUL character (\\x00)"


def _contains_nul(value: Any) -> bool:
    """Whether a NUL character is in `value` or any string, key or item inside it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


def _no_nul(value: Any) -> Any:
    # PostgreSQL stores no NUL in text or JSON (SQLite would): refused on every database alike.
    if _contains_nul(value):
        raise ValueError(NUL_REFUSED)
    return value


#: Text that reaches the database.
Text = Annotated[str, AfterValidator(_no_nul)]


class Strict(BaseModel):
    """Unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- requests ------------------------------------------------------------------------------


class JobFilterFields(Strict):
    """Which jobs: the filters `GET /jobs` and the bulk actions share."""

    user_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Admins only.")
    queue: QueueName | None = None
    type: Text | None = Field(None, min_length=1, max_length=64)
    status: JobStatus | None = None
    q: Text | None = Field(None, min_length=1, max_length=200,
                          description="Text in the summary or the error message.")
    since: IsoDatetime | None = Field(None, description="Created at or after (ISO 8601).")
    include_system: bool = Field(False, description="Admins only: maintenance jobs too.")


class JobListQuery(JobFilterFields):
    limit: int = Field(50, ge=1, le=200)
    cursor: Text | None = Field(None, max_length=200)


class BulkRequest(JobFilterFields):
    dry_run: bool = Field(False, description="Only count the jobs the action would touch.")


class UserListQuery(Strict):
    q: Text | None = Field(None, min_length=1, max_length=200, description="Text in the email.")
    limit: int = Field(50, ge=1, le=200)
    cursor: Text | None = Field(None, max_length=200)


class ScopeQuery(Strict):
    user_id: int | None = Field(None, ge=1, le=2**31 - 1)
    include_system: bool = False


class HistoryQuery(ScopeQuery):
    minutes: int = Field(60, ge=1, le=1440, description="How many minutes back, up to a day.")


class NoQuery(Strict):
    pass


class CreateJobRequest(Strict):
    type: Text = Field(min_length=1, max_length=64, description="A job type users may start.")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _params_storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _no_nul(value)


# -- responses -----------------------------------------------------------------------------


class Progress(BaseModel):
    current: int
    total: int | None
    percent: float | None
    unit: str | None
    message: str | None
    rate: float | None = Field(description="Units per second over the job's recent progress.")
    eta_seconds: int | None = Field(description="About how long until `total`, at `rate`.")


class JobError(BaseModel):
    type: str
    message: str | None


class JobOut(BaseModel):
    """A job as every list shows it."""

    id: str
    type: str
    queue: str
    user_id: int | None
    status: JobStatus
    progress: Progress | None
    summary: str | None
    result: Any = None
    error: JobError | None = Field(
        description="The error a job ended with, or the last one a retrying job hit."
    )
    retries: int
    cancel_requested: bool
    retry_of: str | None
    due_at: datetime | None = Field(
        description="When a job waiting on an ETA or a retry's back-off may start."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None = Field(description="Run time so far for a running job.")


class JobEventOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: datetime
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    actor: str
    reason: str | None


class JobLogOut(BaseModel):
    at: datetime
    level: str
    message: str


class JobDetailOut(JobOut):
    """One job with its history; `traceback` is shown to operators only."""

    task: str
    retried_as: list[str] = Field(description="The jobs that retried this one, oldest first.")
    params: dict[str, Any] | None
    worker: str | None
    heartbeat_at: datetime | None
    events: list[JobEventOut]
    logs: list[JobLogOut]
    traceback: str | None


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next, older page.")


class QueueCountsOut(BaseModel):
    queue: str
    label: str
    pending: int
    processing: int
    complete: int
    error: int
    cancelled: int


class StatusTotals(BaseModel):
    pending: int
    processing: int
    complete: int
    error: int
    cancelled: int


class QueueStatusOut(BaseModel):
    queues: list[QueueCountsOut]
    totals: StatusTotals
    generated_at: datetime
    user_id: int | None = Field(description="Whose jobs; null for every user (admins).")
    include_system: bool


class QueueMinutesOut(BaseModel):
    queue: str
    label: str
    complete: list[int] = Field(description="Jobs that completed in each minute, oldest first.")
    error: list[int] = Field(description="Jobs that ended in error in each minute.")
    cancelled: list[int]


class QueueHistoryOut(BaseModel):
    minutes: int
    start: datetime = Field(description="The start of the first minute; one value a minute.")
    queues: list[QueueMinutesOut]
    generated_at: datetime
    user_id: int | None
    include_system: bool


class ActiveCountsOut(BaseModel):
    pending: int
    processing: int


class BulkOut(BaseModel):
    action: Literal["retry", "cancel"]
    dry_run: bool
    matched: int = Field(description="Jobs the filter matches that the action applies to.")
    acted: int = Field(description="Jobs acted on (0 on a dry run).")
    failed_to_queue: int = Field(0, description="Retries the broker refused (they ended in error).")
    limit: int = Field(description="The most jobs one bulk action may touch.")


class MeOut(BaseModel):
    id: int
    email: str
    name: str | None
    is_admin: bool
    flower_url: str | None = Field(
        None, description="Operators only, when Flower runs: where the dashboard links to it."
    )


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    is_admin: bool
    created_at: datetime
    jobs: StatusTotals = Field(description="The user's jobs by status, over every queue.")


class UserListOut(BaseModel):
    users: list[UserOut]
    next_cursor: str | None


class LastRunOut(BaseModel):
    job_id: str
    status: JobStatus
    created_at: datetime
    finished_at: datetime | None
    summary: str | None


class BeatEntryOut(BaseModel):
    name: str
    label: str
    task: str
    interval_seconds: float
    last_run: LastRunOut | None
    next_run_at: datetime | None = Field(description="About when beat runs it next.")


class IntegrationScheduleOut(BaseModel):
    provider: Literal["fub", "rezen"]
    label: str
    enabled: bool
    interval_seconds: int
    last_success_at: datetime | None
    next_sync_at: datetime | None = Field(
        description="When the next periodic sync is due; null until onboarding completes.")
    last_error: str | None
    last_job: LastRunOut | None


class SchedulesOut(BaseModel):
    beat: list[BeatEntryOut] = Field(description="What beat runs (admins only; else empty).")
    integrations: list[IntegrationScheduleOut] = Field(
        description="The user's integrations and their syncs (empty for all users).")
    user_id: int | None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


class HealthOut(BaseModel):
    status: Literal["ok", "down"]
    checks: dict[str, str]


class ConnectRequest(Strict):
    provider: Literal["fub", "rezen"]
    # Keys travel in an HTTP header, which carries visible ASCII only.
    api_key: str = Field(min_length=1, max_length=500, pattern=r"^[!-~]+$", repr=False,
                         description="The provider's key: visible ASCII, no spaces.")


class IntegrationOut(BaseModel):
    """A connection to a provider; the key itself is never shown, only a fingerprint."""

    provider: Literal["fub", "rezen"]
    label: str
    enabled: bool
    account_id: str | None
    key_fingerprint: str
    onboarded_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    sync_cursor: datetime | None
    created_at: datetime


class ConnectedOut(BaseModel):
    integration: IntegrationOut
    job: JobOut


class DeletedOut(BaseModel):
    deleted: bool
