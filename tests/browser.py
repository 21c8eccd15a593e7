"""Driving the dashboard in Debian's chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.support import ROOT, ApiUser

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container chromium needs --no-sandbox; the rest keep it off a closed network.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
# Screenshots the browser tests leave for people to look at (README says where).
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def launch(playwright: Playwright) -> Browser:
    """Debian's chromium, or a clear skip (a failure under CI=true) when it is missing."""
    if not CHROMIUM.exists():
        message = (f"chromium is missing ({CHROMIUM}): the browser tests need Debian's "
                   "chromium; `make test` installs it when run as root, else "
                   "`apt-get install chromium`")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=LAUNCH_ARGS)


class Dashboard:
    """The page as a person uses it: sign in, read the counts and the list, click."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    def url(self, path: str = "/dashboard") -> str:
        return self.base_url + path

    def sign_in(self, user: ApiUser, path: str = "/dashboard") -> Dashboard:
        self.page.goto(self.url(path))
        self.page.get_by_label("API token").fill(user.token)
        self.page.get_by_role("button", name="Sign in").click()
        self.wait_loaded()
        return self

    def wait_loaded(self) -> None:
        expect(self.page.locator("#queues-body tr[data-queue]")).to_have_count(4)

    def job(self, job_id: str):
        return self.page.locator(f'li.job[data-id="{job_id}"]')

    def count_cell(self, queue: str, status: str):
        return self.page.locator(f'#queues-body a[data-queue="{queue}"][data-status="{status}"]')

    def listed_ids(self) -> list[str]:
        return self.page.locator("#jobs > li.job[data-id]").evaluate_all(
            "items => items.map(item => item.dataset.id)")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
