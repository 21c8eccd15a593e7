"""The dashboard's states and its reach: API down, a revoked token, markup in job text, a
phone-sized screen, dark mode, the keyboard, and axe-core's accessibility checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from jobplatform.database import begin_write
from jobplatform.extensions import db
from jobplatform.jobs.journal import EntryKind, entry
from jobplatform.jobs.store import apply_entries
from jobplatform.users.models import ApiToken
from jobplatform.web.dashboard import CONTENT_SECURITY_POLICY
from tests.browser import PHONE, Dashboard
from tests.support import seed_job

MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'


def seed_variety(user_id: int) -> dict[str, str]:
    """One job in every state, so a page shows everything it can."""
    return {
        "complete": seed_job(user_id=user_id, queue="fub_sync", job_type="fub_sync",
                             summary="Synced 45 contacts, 12 deals"),
        "error": seed_job(user_id=user_id, queue="fub_onboarding", job_type="fub_onboarding",
                          status="error", error="Rate limit exceeded"),
        "pending": seed_job(user_id=user_id, queue="rezen_sync", job_type="rezen_sync",
                            status="pending"),
        "cancelled": seed_job(user_id=user_id, status="cancelled"),
        "processing": seed_job(user_id=user_id, queue="rezen_sync", job_type="rezen_sync",
                               status="processing"),
    }


def test_the_page_says_when_the_api_is_down_keeps_what_it_showed_and_recovers(
        dashboard, make_user, web_server):
    user = make_user()
    job = seed_job(user_id=user.id, summary="Synced 3 contacts")
    dashboard.sign_in(user)
    expect(dashboard.job(job)).to_contain_text("Synced 3 contacts")

    web_server.stop()  # a real outage: the server process is gone
    try:
        notice = dashboard.page.locator("#notice")
        expect(notice).to_contain_text("not answering", timeout=10_000)
        expect(notice).to_contain_text("trying again in")
        expect(dashboard.job(job)).to_contain_text("Synced 3 contacts")  # not blanked
        expect(dashboard.count_cell("general", "complete")).to_have_text("1")
        later = seed_job(user_id=user.id, summary="Made while the web was down")
    finally:
        web_server.start()
    expect(dashboard.job(later)).to_contain_text("Made while the web was down", timeout=40_000)
    expect(notice).to_be_hidden()


def test_a_view_that_cannot_load_shows_an_error_state(dashboard, make_user, web_server):
    user = make_user()
    seed_job(user_id=user.id, status="error")
    dashboard.sign_in(user)
    web_server.stop()
    try:
        # A new view (another filter) while the API is down: no list to keep, so it says why.
        dashboard.page.get_by_label("Status", exact=True).select_option("error")
        empty = dashboard.page.locator("#jobs-empty")
        expect(empty).to_contain_text("not answering", timeout=10_000)
        expect(empty).to_contain_text("retries by itself")
        expect(dashboard.page.locator("#jobs .skeleton-row")).to_have_count(0)
    finally:
        web_server.start()
    expect(dashboard.page.locator("#jobs > li.job")).to_have_count(1, timeout=40_000)
    expect(dashboard.page.locator("#jobs-empty")).to_be_hidden()


def test_a_revoked_token_sends_the_page_back_to_sign_in(dashboard, make_user):
    user = make_user()
    dashboard.sign_in(user)
    begin_write(db.session)
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == user.id)
                       .values(revoked_at=datetime.now(UTC)))
    db.session.commit()

    expect(dashboard.page.get_by_label("API token")).to_be_visible(timeout=5_000)
    expect(dashboard.page.locator("#signin-error")).to_contain_text("not accepted")
    assert dashboard.page.evaluate("sessionStorage.getItem('jobplatform.token')") is None
    # The token never went into the URL.
    assert user.token not in dashboard.page.url


def test_a_bad_token_is_refused_at_sign_in(dashboard):
    dashboard.page.goto(dashboard.url())
    dashboard.page.get_by_label("API token").fill("jp_not-a-token")
    dashboard.page.get_by_role("button", name="Sign in").click()
    expect(dashboard.page.locator("#signin-error")).to_contain_text("not accepted")
    expect(dashboard.page.locator("#app")).to_be_hidden()


def test_markup_in_job_text_shows_as_text_and_never_runs(dashboard, make_user):
    user = make_user()
    job_id = seed_job(user_id=user.id, status="error", error=MARKUP)
    apply_entries(begin_write(db.session), [entry(job_id, EntryKind.LOG, actor="seed",
                                                  level="INFO", message=MARKUP)])
    db.session.commit()
    dashboard.sign_in(user, path=f"/dashboard/jobs/{job_id}")

    detail = dashboard.page.locator(f"#detail-{job_id}")
    expect(detail.locator("ol.logs")).to_contain_text(MARKUP)
    expect(dashboard.job(job_id).locator(".error-text").first).to_have_text(f"Error: {MARKUP}")
    assert dashboard.page.locator("#jobs img, #jobs script, #jobs b").count() == 0
    assert dashboard.page.evaluate("window.__xss") is None


def test_the_page_has_a_strict_content_security_policy(web_server):
    response = httpx.get(f"{web_server.base_url}/dashboard", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text) is None  # no inline script
    assert " style=" not in response.text
    deep = httpx.get(f"{web_server.base_url}/dashboard/jobs/not-a-job", timeout=5)
    assert deep.status_code == 404  # no job can have that id; the page itself says so
    assert deep.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert deep.text == response.text


def test_a_job_that_is_not_there_says_so(dashboard, make_user):
    user = make_user()
    dashboard.sign_in(user, path="/dashboard/jobs/00000000-0000-7000-8000-000000000000")
    expect(dashboard.page.locator("#detail-pinned")).to_contain_text("No job")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_desktop_and_phone(browser, web_server, make_user, scheme):
    user = make_user()
    jobs = seed_variety(user.id)
    for name, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        try:
            dashboard = Dashboard(context.new_page(), web_server.base_url)
            dashboard.sign_in(user, path=f"/dashboard/jobs/{jobs['error']}")
            expect(dashboard.page.locator(f"#detail-{jobs['error']} ol.timeline")).to_be_visible()
            results = Axe().run(dashboard.page)
            serious = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
                       for v in results.response["violations"]
                       if v["impact"] in ("serious", "critical")]
            assert serious == [], f"{name}/{scheme}: {serious}"
            dashboard.screenshot(f"dashboard-{name}-{scheme}")
        finally:
            context.close()


def test_at_390_px_the_page_does_not_scroll_sideways(browser, web_server, make_user):
    user = make_user()
    jobs = seed_variety(user.id)
    context = browser.new_context(viewport=PHONE)
    try:
        dashboard = Dashboard(context.new_page(), web_server.base_url)
        dashboard.sign_in(user, path=f"/dashboard/jobs/{jobs['complete']}")
        expect(dashboard.page.locator(f"#detail-{jobs['complete']}")).to_be_visible()
        width = dashboard.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        expect(dashboard.count_cell("fub_sync", "complete")).to_be_visible()
        expect(dashboard.page.get_by_role("button", name="Retry").first).to_be_visible()
    finally:
        context.close()


def test_everything_is_reachable_by_keyboard_with_a_visible_focus(dashboard, make_user):
    user = make_user()
    jobs = seed_variety(user.id)
    dashboard.sign_in(user)
    page = dashboard.page
    expect(dashboard.job(jobs["error"])).to_be_visible()
    page.locator("body").focus()
    reached = set()
    outlines = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const el = document.activeElement;
            return {key: el.id || el.dataset.action || el.className || el.tagName,
                    outline: getComputedStyle(el).outlineStyle};
        }""")
        reached.add(focused["key"])
        if focused["key"] != "BODY":  # past the last control, focus leaves the page
            outlines.add((focused["outline"], focused["key"]))
    for wanted in ("filter-type", "filter-status", "filter-queue", "filter-q", "refresh-select",
                   "signout", "bulk-retry", "retry", "cancel", "job-title"):
        assert wanted in reached, (wanted, sorted(reached))
    # Every focused control shows where the focus is.
    assert {outline for outline, _ in outlines} == {"solid"}, outlines
    # Enter on a count's link filters, as a click does.
    dashboard.count_cell("fub_onboarding", "error").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"queue=fub_onboarding"))
    expect(page.locator("#jobs > li.job")).to_have_count(1)


def test_refresh_choice_is_remembered_and_off_stops_refreshing(dashboard, make_user):
    user = make_user()
    dashboard.sign_in(user)
    page = dashboard.page
    page.get_by_label("Auto-refresh").select_option("0")
    assert page.evaluate("localStorage.getItem('jobplatform.refresh')") == "0"
    page.reload()
    dashboard.wait_loaded()
    expect(page.get_by_label("Auto-refresh")).to_have_value("0")
    job = seed_job(user_id=user.id, summary="Arrives while refresh is off")
    with page.expect_request(lambda r: "/job-queue-status" in r.url):
        page.get_by_role("button", name="Refresh now").click()
    expect(dashboard.job(job)).to_be_visible()
    page.get_by_label("Auto-refresh").select_option("1")
