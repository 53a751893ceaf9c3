"""A center's casework end to end in a real browser (Debian's chromium through playwright)
against a real gunicorn: register a person, open a CO case, record the 特別調整 eligibility,
move the case along, record an interview, draft, revise, compare and print the 福祉サービス等
調整計画, release the person and open the follow-up (FU) case.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.crossprocess import live_server  # noqa: F401
from tests.test_browser import TOKYO, _assert_screenshot, _sign_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CASE_URL = re.compile(r"/cases/[0-9a-fA-F-]{36}$")
ELIGIBILITY_LABELS = (
    "高齢（65歳以上）又は障害がある",
    "適当な帰住予定地がない",
    "福祉サービス等を受ける必要がある",
    "特別調整の対象とすることが相当である",
    "本人が特別調整を希望している",
    "個人情報の提供に本人が同意している",
)


def _today_jst() -> date:
    """The server counts days in Japan time; so does the test."""
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


def _status_tag(page):
    """The case's status label, shown right under the case page's heading."""
    return page.locator("main h1 + p .tag")


def _move_to(page, label: str, *, released_on: date | None = None) -> None:
    """Change the case's status through the 状態の変更 form on the case page."""
    form = page.locator("form[action$='/transition']")
    form.get_by_label("次の状態").select_option(label=label)
    if released_on is not None:
        form.get_by_label("釈放・出所日").fill(released_on.isoformat())
    form.get_by_role("button", name="変更する").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_have_text("状態を変更しました。")
    expect(_status_tag(page)).to_have_text(label)


def test_staff_registers_a_person_opens_a_co_case_records_an_interview_drafts_revises_and_prints_the_plan_releases_and_opens_follow_up(
        world, page, tmp_path):  # noqa: F811 - the imported fixture
    today = _today_jst()
    family, given = "定着", "一郎"
    _sign_in(page, world.users["a_staff"])

    # --- 1. Open a CO case: look the person up first, then register them as new. ---------------
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="新規ケース").click()
    page.wait_for_url(re.compile(r"/cases/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("新規ケース")

    lookup = page.locator("form.filters")
    lookup.get_by_label("氏名・ふりがなで既存の対象者を検索").fill(f"{family}{given}")
    lookup.get_by_role("button", name="検索").click()
    expect(page.get_by_text("該当する対象者はいません。新しく登録してください。")).to_be_visible()

    page.get_by_label("業務の種類").select_option("coordination")
    page.get_by_label("姓", exact=True).fill(family)
    page.get_by_label("名", exact=True).fill(given)
    page.get_by_label("せい（ふりがな）").fill("ていちゃく")
    page.get_by_label("めい（ふりがな）").fill("いちろう")
    page.get_by_label("生年月日").fill(date(1955, 7, 20).isoformat())
    page.get_by_label("性別").select_option("male")
    page.get_by_label("支援の必要性").select_option(["elderly", "intellectual"])
    page.get_by_label("依頼日").fill(today.isoformat())
    page.get_by_label("釈放・出所予定日").fill((today + timedelta(days=60)).isoformat())
    page.get_by_role("button", name="登録する").click()

    page.wait_for_url(CASE_URL)
    co_url = page.url
    co_path = "/" + co_url.split("/", 3)[3]
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^CO-"))
    co_number = heading.inner_text().split()[0]
    expect(page.get_by_role("status")).to_have_text(f"ケース {co_number} を登録しました。")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(f"{family} {given}（ていちゃく いちろう）")
    expect(facts).to_contain_text("昭和30年7月20日")
    expect(facts).to_contain_text("高齢")
    expect(facts).to_contain_text("知的障害")
    expect(_status_tag(page)).to_have_text("依頼受付")
    expect(page.locator("main")).to_contain_text("釈放まで 60日")

    # --- 2. The 特別調整 eligibility, then アセスメント中 → 計画作成済. ------------------------------
    expect(page.get_by_text("未確認の要件があります。")).to_be_visible()
    eligibility = page.locator("form[action$='/eligibility']")
    for label in ELIGIBILITY_LABELS:
        eligibility.get_by_label(label).check()
    eligibility.get_by_label("同意を得た日").fill(today.isoformat())
    eligibility.get_by_label("立会人").fill("刑務所 福祉専門官 山田")
    eligibility.get_by_role("button", name="要件を記録").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_have_text("特別調整の要件を記録しました。")
    expect(page.get_by_text("未確認の要件があります。")).to_have_count(0)
    for label in ELIGIBILITY_LABELS:
        expect(eligibility.get_by_label(label)).to_be_checked()
    expect(eligibility).to_contain_text(f"記録済みの同意: {today.isoformat()} / 刑務所 福祉専門官 山田")

    _move_to(page, "アセスメント中")
    _move_to(page, "計画作成済")

    # --- 3. An interview record from the case page's section. ----------------------------------
    records = page.locator("section#records")
    records.get_by_role("link", name="面談記録を追加").click()
    page.wait_for_url(re.compile(r"/records/new\?kind=interview$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("面談記録 の追加")
    form = page.locator("form.record-form")
    form.get_by_label("面談日").fill(today.isoformat())
    form.get_by_label("場所").fill("府中刑務所 面会室")
    form.get_by_label("参加者").fill("本人、福祉専門官、センター職員2名")
    form.get_by_label("内容", exact=True).fill("釈放後はグループホームでの生活を希望。療育手帳の申請に同意。")
    form.get_by_role("button", name="保存する").click()
    page.wait_for_url(re.compile(r"/records/[0-9a-fA-F-]{36}$"))
    expect(page.get_by_role("status")).to_have_text("記録を保存しました。")
    expect(page.locator("dl.facts")).to_contain_text("府中刑務所 面会室")
    page.get_by_role("link", name="ケースに戻る").click()
    page.wait_for_url(re.compile(re.escape(co_path) + "#records$"))
    row = records.locator("table.grid").first.locator("tbody tr", has_text="面談記録")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("釈放後はグループホームでの生活を希望。")

    # --- 4. The plan: draft (第1版), revise (第2版), compare, print. -------------------------------
    records.get_by_role("link", name="調整計画を作成").click()
    page.wait_for_url(re.compile(r"/plans/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("福祉サービス等調整計画の作成")
    plan_form = page.locator("form.plan-form")
    plan_form.get_by_label("本人の意向").fill("グループホームで暮らしたい。")
    plan_form.get_by_label("目標", exact=True).fill("釈放後1か月以内に住まいを確保する。")
    plan_form.get_by_label("支援内容").nth(0).fill("グループホームの見学と入居申込み")
    plan_form.get_by_label("担当（機関・人）").nth(0).fill("センター職員")
    plan_form.get_by_role("button", name="保存する").click()
    page.wait_for_url(re.compile(r"/plans/[0-9a-fA-F-]{36}$"))
    plan_path = "/" + page.url.split("/", 3)[3]
    expect(page.get_by_role("status")).to_have_text("調整計画を作成しました（第1版）。")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^福祉サービス等調整計画\s+第1版"))

    page.get_by_role("link", name="改訂する（新しい版を作成）").click()
    page.wait_for_url(re.compile(r"/revise$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("改訂（第2版を作成）")
    plan_form = page.locator("form.plan-form")
    expect(plan_form.get_by_label("支援内容").nth(0)).to_have_value("グループホームの見学と入居申込み")
    plan_form.get_by_label("目標", exact=True).fill("釈放後2週間以内に住まいを確保し、療育手帳を申請する。")
    plan_form.get_by_label("支援内容").nth(1).fill("療育手帳の申請に同行する")
    plan_form.get_by_label("担当（機関・人）").nth(1).fill("区役所 障害福祉課")
    plan_form.get_by_role("button", name="保存する").click()
    page.wait_for_url(re.compile(re.escape(plan_path) + "$"))
    expect(page.get_by_role("status")).to_have_text("調整計画を改訂しました（第2版）。")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"第2版"))
    history = page.locator("main table.grid").last
    expect(history.locator("tbody tr")).to_have_count(2)

    page.get_by_role("button", name="比べる").click()
    page.wait_for_url(re.compile(r"/compare\?old=1&new=2$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("第1版と第2版の比較")
    diff = page.locator("table.diff")
    expect(diff.locator("thead")).to_contain_text("第1版")
    expect(diff.locator("thead")).to_contain_text("第2版")
    # The unchanged item sits on both sides; the new goal and the new item show as changed rows.
    expect(diff.locator("tbody tr.diff-equal", has_text="グループホームの見学と入居申込み").first).to_be_visible()
    changed = diff.locator("tbody tr.diff-replace, tbody tr.diff-insert")
    expect(changed.first).to_be_visible()
    expect(diff).to_contain_text("釈放後1か月以内に住まいを確保する。")
    expect(diff).to_contain_text("釈放後2週間以内に住まいを確保し、療育手帳を申請する。")
    expect(diff).to_contain_text("療育手帳の申請に同行する")
    expect(page.get_by_text("2つの版の内容に違いはありません。")).to_have_count(0)

    page.get_by_role("link", name="計画に戻る").click()
    page.wait_for_url(re.compile(re.escape(plan_path) + "$"))
    page.get_by_role("link", name="印刷用の表示").click()
    page.wait_for_url(re.compile(r"/print\?revision=2$"))
    sheet = page.locator("article.sheet")
    expect(page.get_by_role("heading", level=1)).to_have_text("福祉サービス等調整計画")
    expect(sheet.locator("dl.sheet-facts")).to_contain_text(f"{family} {given}")
    expect(sheet.locator("dl.sheet-facts")).to_contain_text(co_number)
    expect(sheet.locator("dl.sheet-facts")).to_contain_text(TOKYO)
    expect(sheet.locator("dl.sheet-facts")).to_contain_text(re.compile(r"令和(元|\d+)年\d+月\d+日（第2版）"))
    expect(sheet.locator("footer")).to_contain_text(re.compile(r"出力日: 令和(元|\d+)年\d+月\d+日"))
    expect(sheet).to_contain_text("療育手帳の申請に同行する")
    _assert_screenshot(page, tmp_path / "plan_print.png")

    # --- 5. サービス調整済 → 釈放・退所済, then the follow-up (FU) case. -------------------------------
    page.goto(co_path)
    expect(_status_tag(page)).to_have_text("計画作成済")
    _move_to(page, "サービス調整済")
    expect(page.get_by_role("button", name="フォローアップ（FU）のケースを開始")).to_have_count(0)
    _move_to(page, "釈放・退所済", released_on=today)
    expect(page.locator("dl.facts")).to_contain_text("釈放日")
    _assert_screenshot(page, tmp_path / "co_case.png")

    page.get_by_role("button", name="フォローアップ（FU）のケースを開始").click()
    page.wait_for_url(CASE_URL)
    assert page.url != co_url
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^FU-"))
    fu_number = heading.inner_text().split()[0]
    expect(page.get_by_role("status")).to_have_text(f"フォローアップのケース {fu_number} を開始しました。")
    expect(_status_tag(page)).to_have_text("支援中")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(f"{family} {given}")
    expect(facts.locator("dt", has_text="元のケース")).to_be_visible()
    parent_link = facts.get_by_role("link", name="コーディネート業務のケース")
    expect(parent_link).to_have_attribute("href", co_path)
    _assert_screenshot(page, tmp_path / "fu_case.png")

    parent_link.click()
    page.wait_for_url(re.compile(re.escape(co_path) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^" + re.escape(co_number)))
    expect(_status_tag(page)).to_have_text("FUへ移行")
