"""A real browser (Debian's chromium through playwright) against a real gunicorn.

Sign-in goes through the login form with CSRF on (the served app is built from the environment,
not from the test configuration).  The app's strict CSP (no inline script) does not get in the
way: playwright drives the page from outside.
"""
from __future__ import annotations

import re
from datetime import date

import pytest

from tests.crossprocess import live_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKYO = "東京都地域生活定着支援センター"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def page(live_server):  # noqa: F811 - the imported fixture
    """A fresh chromium page whose relative URLs go to the live server."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.set_default_navigation_timeout(10_000)
            yield page
            context.close()
        finally:
            browser.close()


def _sign_in(page, user: dict) -> None:
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("ログイン")
    page.get_by_label("メールアドレス").fill(user["email"])
    page.get_by_label("パスワード").fill(user["password"])
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(re.compile(r"/dashboard$"))


def _assert_screenshot(page, path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000, len(data)  # a rendered page, not a blank or tiny image


def test_staff_signs_in_through_the_form_and_sees_the_dashboard(world, page, tmp_path):
    staff = world.users["a_staff"]
    # The form carries a CSRF token: the served app does not run with the test configuration.
    page.goto("/login")
    assert page.locator('input[name="csrf_token"]').first.get_attribute("value")

    _sign_in(page, staff)

    expect(page.get_by_role("heading", level=1)).to_have_text("ダッシュボード")
    expect(page.locator("header .center-name")).to_have_text(TOKYO)
    table = page.locator("main table.grid").first
    expect(table).to_be_visible()
    # Center A's own case only: B's and C's cases are not counted (1, not 3).
    row = table.locator("tbody tr", has_text="コーディネート業務（CO）")
    expect(row.locator("td.num")).to_have_text("1")
    expect(page.get_by_role("link", name="新規ケース")).to_be_visible()
    _assert_screenshot(page, tmp_path / "dashboard.png")


def test_staff_opens_a_case_and_sees_the_japanese_era_birth_date(world, page, tmp_path):
    _sign_in(page, world.users["a_staff"])

    page.get_by_role("link", name="新規ケース").click()
    page.wait_for_url(re.compile(r"/cases/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("新規ケース")

    page.get_by_label("業務の種類").select_option("coordination")
    page.get_by_label("姓", exact=True).fill("定着")
    page.get_by_label("名", exact=True).fill("花子")
    page.get_by_label("せい（ふりがな）").fill("ていちゃく")
    page.get_by_label("めい（ふりがな）").fill("はなこ")
    page.get_by_label("生年月日").fill(date(1950, 4, 1).isoformat())
    page.get_by_label("性別").select_option("female")
    page.get_by_role("button", name="登録する").click()

    page.wait_for_url(re.compile(r"/cases/[0-9a-fA-F-]{8,}$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^CO-"))
    case_number = heading.inner_text().split()[0]
    expect(page.get_by_role("status")).to_contain_text(f"ケース {case_number} を登録しました。")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("定着 花子")
    expect(facts).to_contain_text("昭和25年4月1日")
    expect(facts).to_contain_text("女性")
    expect(page.locator("header .center-name")).to_have_text(TOKYO)
    _assert_screenshot(page, tmp_path / "case.png")
