"""全国集計 end to end in a real browser (Debian's chromium through playwright) against a real
gunicorn: the ministry opens the national dashboard and sees its charts drawn as inline SVG; the
Tokyo center's admin submits the year's figures; the Tokyo prefecture's viewer confirms them; the
ministry's national view then marks Tokyo 確認済み.
"""
from __future__ import annotations

import re

import pytest

from tests.crossprocess import live_server  # noqa: F401
from tests.test_browser import _assert_screenshot, _sign_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def _seed_current_year(make_app) -> None:
    """Cases of this fiscal year in three centers, the rollups brought up to date in-process."""
    from teichaku.crosstenant.aggregates.jobs import sweep_dirty_slices
    from teichaku.platform.centers import center_by_code
    from teichaku.platform.extensions import db
    from teichaku.platform.i18n import today_jst
    from teichaku.platform.tenancy import set_tenant
    from teichaku.tenants.cases.services import create_case
    from tests import factories

    app = make_app(REDIS_AVAILABLE=False)
    with app.app_context():
        for code, count, case_type in (("osaka", 12, "coordination"), ("fukuoka", 11, "coordination"),
                                       ("hyogo", 10, "coordination"), ("aichi", 10, "coordination"),
                                       ("tokyo", 3, "coordination"), ("osaka", 10, "consultation")):
            set_tenant(center_by_code(code).id)
            for _ in range(count):
                create_case({"case_type": case_type, "requested_on": today_jst(),
                             "person": factories.person_payload()})
            db.session.commit()
        set_tenant(None)
        sweep_dirty_slices(older_than_seconds=-1, budget_seconds=600)


def _submissions_row(page, center_name: str):
    return page.get_by_role("region", name="各センターの業務実績報告").locator("tbody tr", has_text=center_name)


def test_the_ministry_sees_charts_a_center_submits_its_prefecture_confirms_and_the_ministry_sees_it_confirmed(
        make_app, world, page, live_server, tmp_path):  # noqa: F811 - the imported fixtures
    _seed_current_year(make_app)

    # --- 1. The ministry: the national dashboard, its charts, as of; Tokyo not yet submitted. ----------
    _sign_in(page, world.users["ministry"])
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="全国集計").click()
    page.wait_for_url(re.compile(r"/aggregates/national$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("全国集計")
    expect(page.locator("p.as-of")).to_contain_text("集計時点")
    trend = page.locator("svg#trend-chart")
    expect(trend).to_be_visible()
    expect(trend.locator("path.series")).to_have_count(4)
    ranking = page.locator("svg#ranking-chart")
    expect(ranking).to_be_visible()
    expect(ranking.locator("rect.bar").first).to_be_visible()  # published prefectures have bars
    expect(page.locator("svg#cases-chart")).to_be_visible()
    headlines = page.locator("table#headlines")
    co_requests = headlines.locator("tr", has_text="コーディネート業務 依頼件数").locator("td").first
    expect(co_requests).to_have_text(re.compile(r"^\d{2}$"))  # published: 46 seeded plus the world's own cases
    expect(_submissions_row(page, "東京都")).to_contain_text("未提出")
    _assert_screenshot(page, tmp_path / "national-dashboard.png")

    browser = page.context.browser

    # --- 2. Tokyo's center admin submits the year's figures. ------------------------------------------
    admin_context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        admin = admin_context.new_page()
        admin.set_default_timeout(10_000)
        _sign_in(admin, world.users["a_admin"])
        admin.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="業務実績（集計）").click()
        admin.wait_for_url(re.compile(r"/aggregates/center$"))
        own = admin.locator("table#headlines").locator("tr", has_text="コーディネート業務 依頼件数")
        expect(own.locator("td").first).to_have_text("4")  # exact: the 3 seeded and the world's own case
        panel = admin.get_by_role("region", name=re.compile("提出と確認"))
        expect(panel).to_contain_text("未提出")
        panel.get_by_role("button", name="この年度の集計を提出する").click()
        admin.wait_for_url(re.compile(r"/aggregates/center\?fiscal_year=\d{4}$"))
        expect(admin.get_by_role("status")).to_contain_text("提出しました")
        expect(admin.get_by_role("region", name=re.compile("提出と確認"))).to_contain_text("提出済み（確認待ち）")
    finally:
        admin_context.close()

    # --- 3. Tokyo's prefecture viewer confirms them. --------------------------------------------------
    prefecture_context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        prefecture = prefecture_context.new_page()
        prefecture.set_default_timeout(10_000)
        _sign_in(prefecture, world.users["a_prefecture"])
        prefecture.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="業務実績（集計）").click()
        prefecture.wait_for_url(re.compile(r"/aggregates/prefecture$"))
        panel = prefecture.get_by_role("region", name=re.compile("提出と確認"))
        expect(panel).to_contain_text("提出済み（確認待ち）")
        panel.get_by_role("button", name="提出された集計を確認する").click()
        prefecture.wait_for_url(re.compile(r"/aggregates/prefecture\?fiscal_year=\d{4}$"))
        expect(prefecture.get_by_role("status")).to_contain_text("確認しました")
        expect(prefecture.get_by_role("region", name=re.compile("提出と確認"))).to_contain_text("確認済み")
    finally:
        prefecture_context.close()

    # --- 4. The ministry's national view marks Tokyo 確認済み. ------------------------------------------
    page.reload()
    expect(_submissions_row(page, "東京都")).to_contain_text("確認済み")
    expect(_submissions_row(page, "大阪府")).to_contain_text("未提出")
