"""The dashboard in a real browser (Debian's chromium) against the real stack: gunicorn serving
the app, a worker, the applier, Redis and the database. What a person sees and clicks."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import sqlalchemy as sa
from playwright.sync_api import expect

from jobplatform.jobs.models import Job
from tests.support import seed_job, wait_for

STATUSES = ("pending", "processing", "complete", "error", "cancelled")


def api(web_server, user, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{web_server.base_url}/api/v2{path}", headers=user.headers,
                         timeout=10, **kwargs)


def start_gate(web_server, user, **params) -> tuple[str, str]:
    """A job that runs until the test opens its gate (a Redis key): (job id, gate key)."""
    gate = f"gate:{uuid.uuid4().hex}"
    response = api(web_server, user, "POST", "/jobs",
                   json={"type": "test_gate", "params": {"gate": gate, **params}})
    assert response.status_code == 202, response.text
    return response.json()["id"], gate


def test_the_counts_on_the_page_equal_the_apis(dashboard, make_user, web_server):
    user = make_user()
    for queue, job_type, status in [("fub_sync", "fub_sync", "complete"),
                                    ("fub_sync", "fub_sync", "complete"),
                                    ("fub_sync", "fub_sync", "error"),
                                    ("rezen_sync", "rezen_sync", "pending"),
                                    ("general", "contacts_export", "cancelled")]:
        seed_job(user_id=user.id, queue=queue, job_type=job_type, status=status)

    dashboard.sign_in(user)

    expected = api(web_server, user, "GET", "/job-queue-status").json()
    for queue in expected["queues"]:
        for status in STATUSES:
            expect(dashboard.count_cell(queue["queue"], status)).to_have_text(
                f"{queue[status]:,}")
    expect(dashboard.count_cell("fub_sync", "complete")).to_have_text("2")
    rows = dashboard.page.locator("#queues-body th[scope=row]").all_inner_texts()
    assert rows == ["FUB Onboard", "FUB Sync", "reZEN Sync", "General"]
    # Each queue has its chart of the last hour, labelled for people who cannot see it.
    chart = dashboard.page.locator('#queues-body tr[data-queue="fub_sync"] svg[role=img]')
    expect(chart).to_have_attribute("aria-label", re.compile(r"2 done, 1 failed"))
    assert dashboard.page.title() == "(1) Background Tasks"


def test_a_job_appears_and_moves_to_complete_with_auto_refresh(dashboard, make_user, web_server,
                                                               store, worker, redis_client):
    user = make_user()
    dashboard.sign_in(user)
    expect(dashboard.page.locator("#jobs-empty")).to_contain_text("No jobs yet")

    job_id, gate = start_gate(web_server, user, total=50, step_seconds=0.05)
    item = dashboard.job(job_id)
    try:
        expect(item).to_contain_text("Processing", timeout=5_000)
        expect(item.locator("progress")).to_be_visible()
        expect(item).to_contain_text(re.compile(r"Progress: \d+ of 50 items"))
    finally:
        redis_client.set(gate, 1)
    store.wait_status(job_id, "complete", process=worker)
    stored = time.monotonic()
    # Within 1.5 s of the store having it, the open page shows it (refresh every second).
    expect(item).to_contain_text("Completed", timeout=1_500)
    seen = time.monotonic() - stored
    expect(item).to_contain_text("Passed the gate with 50 items")
    expect(item.locator(".badge")).to_have_text(re.compile("Completed"))
    assert seen < 1.5
    expect(dashboard.count_cell("general", "complete")).to_have_text("1")


def test_clicking_a_count_filters_the_list_and_the_url_and_back_steps_back(dashboard, make_user):
    user = make_user()
    failed = seed_job(user_id=user.id, queue="fub_sync", job_type="fub_sync", status="error",
                      error="Rate limit exceeded")
    done = seed_job(user_id=user.id, queue="fub_sync", job_type="fub_sync", status="complete")
    other = seed_job(user_id=user.id, status="error")
    dashboard.sign_in(user)
    assert set(dashboard.listed_ids()) == {failed, done, other}

    dashboard.count_cell("fub_sync", "error").click()

    page = dashboard.page
    expect(page).to_have_url(re.compile(r"/dashboard\?.*queue=fub_sync"))
    expect(page).to_have_url(re.compile(r"status=error"))
    expect(page.locator("#jobs > li.job")).to_have_count(1)
    assert dashboard.listed_ids() == [failed]
    expect(page.get_by_label("Status", exact=True)).to_have_value("error")
    expect(page.get_by_label("Queue", exact=True)).to_have_value("fub_sync")

    # The view survives a reload (the token stays in this tab's session storage).
    page.reload()
    dashboard.wait_loaded()
    expect(page.locator("#jobs > li.job")).to_have_count(1)
    assert dashboard.listed_ids() == [failed]

    page.get_by_label("Status", exact=True).select_option("complete")
    expect(page.locator("#jobs > li.job")).to_have_count(1)
    assert dashboard.listed_ids() == [done]

    page.go_back()
    expect(page).to_have_url(re.compile(r"status=error"))
    expect(page.get_by_label("Status", exact=True)).to_have_value("error")
    expect(page.locator(f'li.job[data-id="{failed}"]')).to_have_count(1)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#jobs > li.job")).to_have_count(3)


def test_search_and_type_filters_live_in_the_url(dashboard, make_user):
    user = make_user()
    wanted = seed_job(user_id=user.id, summary="Exported 12 contacts")
    seed_job(user_id=user.id, summary="Synced 3 contacts", queue="fub_sync", job_type="fub_sync")
    dashboard.sign_in(user)

    dashboard.page.get_by_label("Search", exact=True).fill("exported")
    expect(dashboard.page).to_have_url(re.compile(r"q=exported"))
    expect(dashboard.page.locator("#jobs > li.job")).to_have_count(1)
    assert dashboard.listed_ids() == [wanted]

    dashboard.page.goto(dashboard.url("/dashboard?type=fub_sync&q=nothing-matches-this"))
    dashboard.wait_loaded()
    expect(dashboard.page.get_by_label("Type", exact=True)).to_have_value("fub_sync")
    expect(dashboard.page.get_by_label("Search", exact=True)).to_have_value("nothing-matches-this")
    expect(dashboard.page.locator("#jobs-empty")).to_contain_text("No jobs match these filters")
    dashboard.page.locator("#jobs-empty").get_by_role("button", name="Clear filters").click()
    expect(dashboard.page.locator("#jobs > li.job")).to_have_count(2)
    expect(dashboard.page).to_have_url(re.compile(r"/dashboard$"))


def test_expanding_a_job_shows_its_timeline_log_and_links(dashboard, make_user, web_server,
                                                          store, worker):
    user = make_user()
    started = api(web_server, user, "POST", "/jobs",
                  json={"type": "test_steps", "params": {"count": 3}}).json()
    store.wait_status(started["id"], "complete", process=worker)
    dashboard.sign_in(user)

    item = dashboard.job(started["id"])
    item.locator("a.job-title").click()

    page = dashboard.page
    expect(page).to_have_url(re.compile(rf"/dashboard/jobs/{started['id']}$"))
    detail = page.locator(f"#detail-{started['id']}")
    expect(detail).to_be_visible()
    timeline = detail.locator("ol.timeline > li")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(0)).to_contain_text(f"→ pending by user:{user.id}")
    expect(timeline.nth(1)).to_contain_text("pending → processing by worker:")
    expect(timeline.nth(2)).to_contain_text("processing → complete")
    expect(detail.locator("ol.logs")).to_contain_text("finished step 3")
    expect(detail.locator("pre.json").first).to_contain_text('"count": 3')
    expect(item.locator("a.job-title")).to_have_attribute("aria-expanded", "true")

    # The same view by its URL, in a new tab of the same session.
    page.reload()
    dashboard.wait_loaded()
    expect(page.locator(f"#detail-{started['id']} ol.timeline > li")).to_have_count(3)
    page.get_by_role("link", name="Close").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator(".detail")).to_have_count(0)


def test_an_ended_jobs_page_stops_polling_it(dashboard, make_user):
    user = make_user()
    job_id = seed_job(user_id=user.id, summary="Done long ago")
    asked = []
    dashboard.page.on("request", lambda r: asked.append(r.url) if f"/api/v2/jobs/{job_id}" in r.url
                      else None)
    dashboard.sign_in(user, path=f"/dashboard/jobs/{job_id}")
    expect(dashboard.page.locator(f"#detail-{job_id}")).to_contain_text("Done long ago")
    count = len(asked)
    # Several refreshes later (each one asks for the queue status), still no new ask for it.
    for _ in range(3):
        with dashboard.page.expect_request(lambda r: "/job-queue-status" in r.url):
            pass
    assert len(asked) == count == 1


def test_cancel_on_a_running_job_ends_it_cancelled(dashboard, make_user, web_server, store,
                                                   worker, redis_client):
    user = make_user()
    job_id, gate = start_gate(web_server, user)
    try:
        store.wait_status(job_id, "processing", process=worker)
        dashboard.sign_in(user, path=f"/dashboard/jobs/{job_id}")
        detail = dashboard.page.locator(f"#detail-{job_id}")
        detail.get_by_role("button", name="Cancel").click()
        expect(dashboard.page.locator("#outcome")).to_contain_text("stops at its next check")
        store.wait_status(job_id, "cancelled", process=worker)
        expect(detail.locator(".badge")).to_have_text(re.compile("Cancelled"))
        expect(detail.get_by_role("button", name="Cancel")).to_have_count(0)
        expect(detail.locator("ol.timeline")).to_contain_text(f"cancel requested by user:{user.id}")
    finally:
        redis_client.set(gate, 1)


def test_retry_on_a_failed_job_makes_a_linked_new_one(dashboard, make_user, store, worker):
    user = make_user()
    failed = seed_job(user_id=user.id, status="error", error="Rate limit exceeded",
                      task="jobplatform.general.test_noop", job_type="test_noop")
    dashboard.sign_in(user)
    item = dashboard.job(failed)
    expect(item).to_contain_text("Error: Rate limit exceeded")

    item.get_by_role("button", name="Retry").click()

    expect(dashboard.page.locator("#outcome")).to_contain_text("Retried")
    new_id = wait_for(lambda: store.query(sa.select(Job.id).where(Job.retry_of == failed)),
                      message="the retry job")[0][0]
    store.wait_status(new_id, "complete", process=worker)
    expect(dashboard.job(new_id)).to_contain_text("Completed")
    item.locator("a.job-title").click()
    expect(dashboard.page.locator(f"#detail-{failed}")).to_contain_text("Retried as")
    dashboard.page.locator(f"#detail-{failed} dd a[data-job='{new_id}']").click()
    expect(dashboard.page).to_have_url(re.compile(rf"/dashboard/jobs/{new_id}"))
    expect(dashboard.page.locator(f"#detail-{new_id}")).to_contain_text("Retry of")


def test_bulk_retry_asks_first_then_retries_every_failed_job(dashboard, make_user, store, worker):
    user = make_user()
    failed = [seed_job(user_id=user.id, status="error", task="jobplatform.general.test_noop",
                       job_type="test_noop") for _ in range(3)]
    seed_job(user_id=user.id, status="complete")
    dashboard.sign_in(user)
    page = dashboard.page

    page.get_by_role("button", name="Retry all failed…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Retry 3 failed jobs?")
    dialog.get_by_role("button", name="Keep them").click()
    expect(dialog).to_be_hidden()
    assert store.query(sa.select(Job.id).where(Job.retry_of.in_(failed))) == []

    page.get_by_role("button", name="Retry all failed…").click()
    dialog.get_by_role("button", name="Retry 3 jobs").click()
    expect(page.locator("#outcome")).to_contain_text("Retried 3 jobs")
    retries = store.query(sa.select(Job.id).where(Job.retry_of.in_(failed)))
    assert len(retries) == 3
    for (new_id,) in retries:
        store.wait_status(new_id, "complete", process=worker)
    expect(page.locator("#jobs > li.job.status-complete")).to_have_count(4)


def test_a_user_sees_only_their_jobs_and_an_admin_picks_anyone(dashboard, make_user):
    alice, bob, admin = make_user(), make_user(), make_user(admin=True)
    alices = seed_job(user_id=alice.id, summary="Alice's export")
    bobs = seed_job(user_id=bob.id, summary="Bob's export")

    dashboard.sign_in(alice)
    assert dashboard.listed_ids() == [alices]
    expect(dashboard.page.locator("#user-picker")).to_be_hidden()
    expect(dashboard.page.locator("h1#page-title")).to_have_text(
        f"Background Tasks \u2013 User #{alice.id}")
    # Asking for Bob's view by URL gets the API's refusal, never his jobs.
    dashboard.page.goto(dashboard.url(f"/dashboard?user={bob.id}"))
    expect(dashboard.page.locator("#notice")).to_contain_text("You may only see your own jobs")
    expect(dashboard.page.locator(f'li.job[data-id="{bobs}"]')).to_have_count(0)

    dashboard.page.get_by_role("button", name="Sign out").click()
    expect(dashboard.page.get_by_label("API token")).to_be_visible()
    dashboard.sign_in(admin)
    picker = dashboard.page.get_by_label("User", exact=True)
    dashboard.page.get_by_label("Find a user by email").fill(bob.email)
    expect(picker.locator(f'option[value="{bob.id}"]')).to_have_count(1)
    picker.select_option(str(bob.id))
    expect(dashboard.page).to_have_url(re.compile(rf"user={bob.id}"))
    expect(dashboard.page.locator("#jobs > li.job")).to_have_count(1)
    assert dashboard.listed_ids() == [bobs]
    picker.select_option("")
    expect(dashboard.job(alices)).to_have_count(1)
    expect(dashboard.job(bobs)).to_contain_text(f"User #{bob.id}")


# Headless chromium shows no system notifications, so the page's Notification is watched
# (each one constructed, each permission asked) while the real one still does the work.
WATCH_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  window.__permissionAsks = 0;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push([title, (options || {}).body]);
    }
    static requestPermission() {
      window.__permissionAsks += 1;
      return Real.requestPermission();
    }
  };
})();
"""


def test_notify_me_asks_on_the_click_and_tells_when_the_job_ends(browser, web_server, make_user,
                                                                 store, worker, redis_client):
    from tests.browser import Dashboard

    user = make_user()
    context = browser.new_context()
    context.add_init_script(WATCH_NOTIFICATIONS)
    job_id, gate = start_gate(web_server, user)
    try:
        dashboard = Dashboard(context.new_page(), web_server.base_url)
        dashboard.sign_in(user, path=f"/dashboard/jobs/{job_id}")
        page = dashboard.page
        toggle = page.get_by_label("Notify me when it ends")
        expect(toggle).to_be_visible()
        assert page.evaluate("window.__permissionAsks") == 0  # never on page load
        context.grant_permissions(["notifications"], origin=web_server.base_url)
        toggle.check()
        expect(page.locator("#outcome")).to_contain_text("You will be notified")
        assert page.evaluate("window.__permissionAsks") <= 1
        redis_client.set(gate, 1)
        store.wait_status(job_id, "complete", process=worker)
        page.wait_for_function("() => window.__notifications.length > 0")
        [[title, body]] = page.evaluate("window.__notifications")
        assert title.startswith("Test gate #")
        assert title.endswith("completed")
        assert body == "Passed the gate with 20 items"
    finally:
        redis_client.set(gate, 1)
        context.close()


def test_a_hidden_tab_stops_refreshing_until_it_is_shown(dashboard, make_user):
    user = make_user()
    dashboard.sign_in(user)
    page = dashboard.page
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v2/" in r.url else None)
    # A headless tab is never hidden by the window system; the page is told so as a browser
    # tells it, through document.hidden and a visibilitychange event.
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    expect(page.locator("#updated")).to_have_text(re.compile(r"updated [3-9] s ago"),
                                                  timeout=10_000)
    assert [url for url in asked if "job-queue-status" in url][1:] == []  # at most one in flight
    job = seed_job(user_id=user.id, summary="Seen once the tab is back")
    with page.expect_request(lambda r: "/job-queue-status" in r.url):
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
    expect(dashboard.job(job)).to_be_visible()


def test_older_pages_through_the_list_newest_first(dashboard, make_user):
    user = make_user()
    now = time.time()
    jobs = [seed_job(user_id=user.id, at=now - 60 + n, summary=f"Export number {n}")
            for n in range(30)]
    dashboard.sign_in(user)
    page = dashboard.page
    newest_first = list(reversed(jobs))
    expect(page.locator("#jobs > li.job")).to_have_count(25)
    assert dashboard.listed_ids() == newest_first[:25]
    expect(page.get_by_role("button", name="Newest")).to_be_hidden()

    page.get_by_role("button", name="Older").click()
    expect(page.locator("#jobs > li.job")).to_have_count(5)
    assert dashboard.listed_ids() == newest_first[25:]
    expect(page.get_by_role("button", name="Older")).to_be_hidden()

    page.get_by_role("button", name="Newest").click()
    expect(page.locator("#jobs > li.job")).to_have_count(25)
    assert dashboard.listed_ids()[0] == jobs[-1]


def test_an_unchanged_refresh_is_one_304_and_a_change_reloads_the_list(dashboard, make_user):
    user = make_user()
    seed_job(user_id=user.id, summary="Already there")
    dashboard.sign_in(user)
    page = dashboard.page
    expect(page.locator("#jobs > li.job")).to_have_count(1)
    # Let the first loads settle: the next status request is a refresh with nothing new.
    with page.expect_response(lambda r: "/job-queue-status?" in r.url or
                              r.url.endswith("/job-queue-status")):
        pass
    seen = []
    page.on("response", lambda r: seen.append((r.url.split("/api/v2")[-1], r.status))
            if "/api/v2/" in r.url else None)
    for _ in range(2):
        with page.expect_response(lambda r: r.url.endswith("/job-queue-status")) as status:
            pass
        assert status.value.status == 304
    assert {path for path, _ in seen} <= {"/job-queue-status", "/schedules"}, seen

    job = seed_job(user_id=user.id, summary="New one")
    expect(dashboard.job(job)).to_be_visible()
    changed = [(path, code) for path, code in seen if path.startswith("/jobs")]
    assert changed[-1][1] == 200


def test_an_exports_file_downloads_from_its_job(dashboard, make_user, web_server, store, worker):
    user = make_user()
    started = api(web_server, user, "POST", "/jobs",
                  json={"type": "contacts_export", "params": {}}).json()
    store.wait_status(started["id"], "complete", process=worker)
    dashboard.sign_in(user, path=f"/dashboard/jobs/{started['id']}")
    detail = dashboard.page.locator(f"#detail-{started['id']}")
    with dashboard.page.expect_download() as download:
        detail.get_by_role("button", name="Download file").click()
    assert download.value.suggested_filename.startswith("contacts_export-")
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path()) as fh:
        assert fh.readline().startswith("source,external_id,name,email")
    expect(dashboard.page.locator("#outcome")).to_contain_text("Downloaded")
