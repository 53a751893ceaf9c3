"""事例の共有 end to end in a real browser (Debian's chromium through playwright) against a real
gunicorn: a staff member of center A (Tokyo) writes a study, the check flags a name and a date,
she replaces one in one click and marks the other 問題なし with a reason; A's head approves and
publishes it; a staff member of center B (Osaka) finds it by a two-character search, without
A's name, and marks it 参考になった.
"""
from __future__ import annotations

import re

import pytest

from tests.crossprocess import live_server  # noqa: F401
from tests.test_browser import _assert_screenshot, _sign_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

EDIT_URL = re.compile(r"/case-studies/[0-9a-fA-F-]{36}/edit$")
STUDY_URL = re.compile(r"/case-studies/[0-9a-fA-F-]{36}$")
TITLE = "認知症の方の受入先を地域で開拓した取組み"


def _finding(page, text: str):
    return page.locator("li.finding", has=page.locator("mark", has_text=text))


def test_write_resolve_approve_publish_and_find_from_another_center(world, page, live_server, tmp_path):  # noqa: F811
    # --- 1. A's staff writes the study; the check flags what could identify a person. ------------
    _sign_in(page, world.users["a_staff"])
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="事例の共有").click()
    page.get_by_role("link", name="新しい事例を書く").click()
    page.get_by_label("タイトル").fill(TITLE)
    page.get_by_label("取組みの経緯").fill("令和5年3月14日に出所した田中太郎さんは認知症の疑いがあり、受入先が見つからなかった。")
    page.get_by_label("取組んだこと").fill("地域の養護老人ホームを訪問し、制度を説明する研修を開いた。")
    page.get_by_label("取組みの成果").fill("受入れに協力する施設が増えた。")
    page.get_by_label("受入先の開拓").check()
    page.get_by_label("認知症の疑い").check()
    page.get_by_role("button", name="保存して確認する").first.click()
    page.wait_for_url(EDIT_URL)
    edit_path = "/" + page.url.split("/", 3)[3]
    study_path = edit_path.removesuffix("/edit")
    expect(page.locator("mark.pii-open").first).to_be_visible()
    expect(page.locator("#open-findings")).to_have_text("2")
    expect(page.get_by_role("button", name="承認して公開する")).to_have_count(0)

    # --- 2. One click replaces the name; the date is kept with a reason. -------------------------
    name = _finding(page, "田中太郎")
    name.get_by_role("button", name=re.compile("^置き換える: ")).click()
    page.wait_for_url(EDIT_URL)
    expect(page.get_by_role("status")).to_have_text("置き換えました。")
    date = _finding(page, "令和5年3月14日")
    date.get_by_label("問題ないと判断した理由").fill("法改正の施行日で、本人の日付ではない")
    date.get_by_role("button", name="問題なし").click()
    page.wait_for_url(EDIT_URL)
    expect(page.locator("#open-findings")).to_have_text("0")
    assert "田中" not in page.get_by_role("textbox", name="取組みの経緯").input_value()

    # --- 3. The center head approves and publishes. -------------------------------------------------
    page.context.clear_cookies()
    _sign_in(page, world.users["a_admin"])
    page.goto(edit_path)
    page.get_by_role("button", name="承認して公開する").click()
    page.wait_for_url(STUDY_URL)
    expect(page.get_by_role("status")).to_have_text("承認して公開しました。")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)

    # --- 4. B finds it by a two-character word and marks it helpful. -------------------------------
    page.context.clear_cookies()
    _sign_in(page, world.users["b_staff"])
    page.goto("/case-studies")
    page.get_by_label(re.compile("^キーワード")).fill("認知")
    page.get_by_role("button", name="検索").click()
    result = page.locator("article.study-card", has_text=TITLE)
    expect(result).to_have_count(1)
    expect(result).to_contain_text("センター名非公開")
    result.get_by_role("link", name=TITLE).click()
    page.wait_for_url(re.compile(re.escape(study_path) + "$"))
    body = page.locator("main").inner_text()
    assert "田中" not in body and "東京都" not in body
    page.get_by_role("button", name="参考になった").click()
    expect(page.locator("#helpful-count")).to_have_text("1")
    _assert_screenshot(page, tmp_path / "case-study.png")
