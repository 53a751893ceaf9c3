"""広域調整 end to end in a real browser (Debian's chromium through playwright) against a real
gunicorn: center A (Tokyo) asks center B (Osaka) to take a person over from A's case page and
attaches a file in the thread, B sees the request, downloads its copy of the file, writes in the
thread and accepts it, and both sides see the linked cases and the whole thread.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.crossprocess import live_server  # noqa: F401
from tests.test_browser import _assert_screenshot, _sign_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

TRANSFER_URL = re.compile(r"/transfers/[0-9a-fA-F-]{36}$")
CASE_URL = re.compile(r"/cases/[0-9a-fA-F-]{36}$")


def _status_badge(page):
    return page.get_by_role("heading", level=1).locator(".transfer-status")


def _thread(page):
    return page.get_by_role("region", name="センター間のやりとり")


def _post_message(page, body: str, files=()) -> None:
    thread = _thread(page)
    thread.get_by_label("メッセージ").fill(body)
    if files:
        thread.get_by_label("添付ファイル（任意・複数可）").set_input_files([str(f) for f in files])
    thread.get_by_role("button", name="送信").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_have_text("メッセージを送りました。")
    expect(thread.locator("ol.thread")).to_contain_text(body)


def test_center_a_requests_center_b_accepts_and_both_see_the_linked_cases_and_the_thread(
        world, page, live_server, tmp_path):  # noqa: F811 - the imported fixtures
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    a_case_path = f"/cases/{world.cases['a']['id']}"
    request_text = "大阪府内のグループホームへの帰住を希望しています。受入れの調整をお願いします。"
    b_text = "B: 資料を拝見しました。受入れの方向で調整します。"
    a_text = "A: ありがとうございます。よろしくお願いします。"

    # --- 1. A starts the request from its case page. ----------------------------------------------
    _sign_in(page, world.users["a_staff"])
    page.goto(a_case_path)
    a_case_number = page.get_by_role("heading", level=1).inner_text().split()[0]
    section = page.get_by_role("region", name="広域調整")
    expect(section).to_contain_text("このケースの広域調整はありません。")
    section.get_by_role("link", name="他のセンターに広域調整を依頼する").click()
    page.wait_for_url(re.compile(r"/transfers/new/[0-9a-fA-F-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("広域調整を依頼する")

    form = page.locator("form.transfer-form")
    receiver = form.get_by_label("依頼先のセンター")
    osaka_label = receiver.locator("option[value='osaka']").inner_text()
    assert "大阪府" in osaka_label, osaka_label
    receiver.select_option(label=osaka_label)
    form.get_by_label("本人の同意を得た日").fill(today.isoformat())
    form.get_by_label("同意の方法").select_option(label="書面による同意")
    form.get_by_label("依頼の内容").fill(request_text)
    form.get_by_role("button", name="依頼する").click()

    page.wait_for_url(TRANSFER_URL)
    transfer_path = "/" + page.url.split("/", 3)[3]
    expect(page.get_by_role("status")).to_have_text("依頼を送りました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("送った依頼")
    expect(_status_badge(page)).to_have_text("依頼中（回答待ち）")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(request_text)
    expect(facts).to_contain_text("書面による同意")
    attachment = tmp_path / "面談記録.pdf"
    attachment.write_bytes(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    _post_message(page, a_text, files=[attachment])
    expect(_thread(page).get_by_role("link", name="面談記録.pdf")).to_have_count(1)

    # --- 2. B, in a browser context of its own, finds the request, writes, and accepts. ------------
    b_context = page.context.browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        b = b_context.new_page()
        b.set_default_timeout(10_000)
        b.set_default_navigation_timeout(10_000)
        _sign_in(b, world.users["b_staff"])
        b.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="広域調整").click()
        b.wait_for_url(re.compile(r"/transfers$"))
        incoming = b.get_by_role("region", name="受け取った依頼")
        row = incoming.locator("tbody tr", has_text="東京都")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("依頼中（回答待ち）")
        row.get_by_role("link").click()
        b.wait_for_url(re.compile(re.escape(transfer_path) + "$"))  # one transfer, one id: A's URL is B's
        expect(b.get_by_role("heading", level=1)).to_contain_text("受け取った依頼")
        expect(_status_badge(b)).to_have_text("依頼中（回答待ち）")
        expect(b.locator("dl.facts")).to_contain_text(request_text)
        expect(_thread(b)).to_contain_text(a_text)
        b_file = _thread(b).get_by_role("link", name="面談記録.pdf")
        expect(b_file).to_have_count(1)
        with b.expect_download() as downloaded:
            b_file.click()
        assert downloaded.value.suggested_filename == "面談記録.pdf"
        assert open(downloaded.value.path(), "rb").read() == attachment.read_bytes()  # B's own copy, same bytes

        _post_message(b, b_text)
        b.get_by_role("region", name="この依頼への対応").get_by_role("button", name="受け入れる").click()
        b.wait_for_load_state()
        expect(b.get_by_role("status")).to_have_text("受け入れました。このセンターのケースを作成しました。")
        expect(_status_badge(b)).to_have_text("受入決定")
        b_facts = b.locator("dl.facts")
        b_case_link = b_facts.locator("dt:has-text('このセンターのケース') + dd").get_by_role("link")
        expect(b_case_link).to_have_count(1)
        b_case_number = b_case_link.inner_text()  # numbered per center: may equal A's number
        b_case_href = b_case_link.get_attribute("href")
        assert CASE_URL.search(b_case_href) and not b_case_href.endswith(a_case_path), b_case_href
        expect(_thread(b)).to_contain_text(a_text)
        expect(_thread(b)).to_contain_text(b_text)

        b_case_link.click()
        b.wait_for_url(re.compile(re.escape(b_case_href) + "$"))
        expect(b.get_by_role("heading", level=1)).to_contain_text(b_case_number)
        b_section = b.get_by_role("region", name="広域調整")
        expect(b_section.get_by_role("link", name=re.compile("依頼元"))).to_have_count(1)
        expect(b_section).to_contain_text("受入決定")
    finally:
        b_context.close()

    # --- 3. Back at A: accepted, A's own case linked, B's message in the thread. ------------------
    page.goto(transfer_path)
    expect(_status_badge(page)).to_have_text("受入決定")
    a_link = page.locator("dl.facts").locator("dt:has-text('このセンターのケース') + dd").get_by_role("link")
    expect(a_link).to_have_text(a_case_number)
    expect(a_link).to_have_attribute("href", re.compile(re.escape(a_case_path) + "$"))
    expect(_thread(page)).to_contain_text(b_text)
    expect(_thread(page)).to_contain_text(a_text)
    _assert_screenshot(page, tmp_path / "transfer-accepted.png")

    a_link.click()
    page.wait_for_url(re.compile(re.escape(a_case_path) + "$"))
    expect(page.get_by_role("region", name="広域調整")).to_contain_text("受入決定")


PULL_URL = re.compile(r"/transfers/pulls/[0-9a-fA-F-]{36}$")


def test_center_b_asks_center_a_to_start_and_a_confirms_from_its_own_case(
        app, world, page, live_server):  # noqa: F811 - the imported fixtures
    """The pull request (開始依頼): B (where the person will live) asks from its case page; A (the
    facility's center) finds its own case among the candidates and confirms with an ordinary
    request, which reaches B; B's pull links to it."""
    from datetime import date

    from tests import factories

    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    a_case = factories.make_case(app, "tokyo", person=factories.person_payload(
        family_name="乙川", given_name="秘子", family_name_kana="おとがわ", given_name_kana="ひめこ",
        birth_date=date(1948, 2, 3), sex="female"))
    pull_text = "家族から、大阪での生活について相談がありました。広域調整の依頼をお願いします。"

    # --- 1. B asks from its case page. --------------------------------------------------------------
    _sign_in(page, world.users["b_staff"])
    page.goto(f"/cases/{world.cases['b']['id']}")
    page.get_by_role("region", name="開始依頼").get_by_role("link", name="他センターに広域調整の開始を依頼").click()
    page.wait_for_url(re.compile(r"/transfers/pulls/new/[0-9a-fA-F-]{36}$"))
    form = page.locator("form.transfer-form")
    center = form.get_by_label("開始を依頼するセンター（矯正施設の所在地）")
    center.select_option(label=center.locator("option[value='tokyo']").inner_text())
    form.get_by_label("本人の同意を得た日").fill(today.isoformat())
    form.get_by_label("同意の方法").select_option(label="書面による同意")
    form.get_by_label("依頼の内容").fill(pull_text)
    form.get_by_role("button", name="開始を依頼する").click()
    page.wait_for_url(PULL_URL)
    pull_path = "/" + page.url.split("/", 3)[3]
    expect(page.get_by_role("status")).to_have_text("開始依頼を送りました。")
    expect(page.get_by_role("heading", level=1).locator(".pull-status")).to_have_text("開始依頼中（回答待ち）")

    # --- 2. A finds it, picks its own case among the candidates and confirms. -----------------------
    a_context = page.context.browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        a = a_context.new_page()
        a.set_default_timeout(10_000)
        a.set_default_navigation_timeout(10_000)
        _sign_in(a, world.users["a_staff"])
        a.goto("/transfers")
        a.get_by_role("link", name="開始依頼", exact=True).click()
        a.wait_for_url(re.compile(r"/transfers/pulls$"))
        row = a.get_by_role("region", name="受け取った開始依頼").locator("tbody tr", has_text="大阪府")
        expect(row).to_contain_text("乙川")
        row.get_by_role("link").click()
        a.wait_for_url(PULL_URL)
        expect(a.locator("dl.facts")).to_contain_text(pull_text)
        candidates = a.get_by_role("region", name="このセンターで該当しそうな方")
        expect(candidates).to_contain_text(a_case["case_number"])
        candidates.get_by_role("link", name="このケースから広域調整を依頼する").click()
        a.wait_for_url(re.compile(r"/confirm/[0-9a-fA-F-]{36}$"))
        confirm = a.locator("form.transfer-form")
        expect(confirm).to_contain_text("大阪府地域生活定着支援センター")
        confirm.get_by_label("本人の同意を得た日").fill(today.isoformat())
        confirm.get_by_label("同意の方法").select_option(label="書面による同意")
        confirm.get_by_label("依頼の内容").fill("開始依頼を受けて、受入れの調整をお願いします。")
        confirm.get_by_role("button", name="依頼する").click()
        a.wait_for_url(TRANSFER_URL)
        expect(a.get_by_role("status")).to_have_text("開始依頼に応じて、広域調整の依頼を作成しました。")
        expect(_status_badge(a)).to_have_text("依頼中（回答待ち）")
    finally:
        a_context.close()

    # --- 3. B's pull is confirmed and links to the request it received. ---------------------------------
    page.goto(pull_path)
    expect(page.get_by_role("heading", level=1).locator(".pull-status")).to_have_text("広域調整の依頼を作成済み")
    page.get_by_role("link", name="作成された依頼を見る").click()
    page.wait_for_url(TRANSFER_URL)
    expect(page.get_by_role("heading", level=1)).to_contain_text("受け取った依頼")
    expect(page.get_by_role("region", name="この依頼への対応").get_by_role("button", name="受け入れる")).to_be_visible()
