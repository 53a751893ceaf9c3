"""The center admin's retention review in a real browser (Debian's chromium through playwright)
against a real gunicorn: the monthly review lists a person whose case closed years ago, the admin
sets a keeping period, holds nothing, ticks the warning and erases; the case page then shows the
stub, and the disclosure download of another person works.
"""
from __future__ import annotations

import re
import zipfile
from datetime import date

import pytest

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from tests import factories
from tests.crossprocess import live_server  # noqa: F401
from tests.test_browser import _sign_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def _old_closed_case(app, family_name: str) -> dict:
    """A consultation case requested in 2018 and closed in 2019: past any default period."""
    from teichaku.tenants.cases import services as cases

    case = factories.make_case(app, "tokyo", case_type="consultation", requested_on=date(2018, 5, 7),
                               person=factories.person_payload(family_name=family_name, given_name="保存",
                                                               family_name_kana="ほぞん", given_name_kana="ほぞん"))
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        loaded = cases.read_case(case["id"])
        cases.transition_case(loaded, "closed", expected_version=loaded.version,
                              closing={"closing_reason": "other", "closed_on": date(2019, 3, 1)})
        db.session.commit()
    return case


def test_center_admin_reviews_due_files_erases_one_after_the_warning_and_exports_another(
        app, world, page, tmp_path):  # noqa: F811 - the imported fixture
    from teichaku.crosstenant.retention.services import run_review

    erased = _old_closed_case(app, "期限切")
    kept = factories.make_case(app, "tokyo", person=factories.person_payload(family_name="開示先"))
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        assert run_review().listed == 1
        db.session.commit()

    _sign_in(page, world.users["a_admin"])
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="保存期間と削除").click()
    page.wait_for_url(re.compile(r"/retention$"))
    row = page.locator("tr", has_text="期限切 保存")
    expect(row).to_contain_text(erased["case_number"])

    # The keeping periods page refuses 0 years in Japanese and keeps the rest.
    page.get_by_role("link", name="保存期間の設定").click()
    page.get_by_label("相談支援業務").fill("0")
    page.get_by_role("button", name="保存する").click()
    expect(page.get_by_role("alert").first).to_have_text("1年から30年の間で入力してください。")
    page.get_by_label("相談支援業務").fill("3")
    page.get_by_role("button", name="保存する").click()
    expect(page.get_by_role("status")).to_have_text("保存期間を変更しました。次の確認から使われます。")
    page.get_by_role("link", name="削除の確認へ戻る").click()

    # Erasing needs the warning ticked (the browser itself refuses the unticked form).
    row = page.locator("tr", has_text="期限切 保存")
    row.get_by_label("元に戻せないことを確認しました").check()
    row.get_by_role("button", name="削除する").click()
    page.wait_for_url(re.compile(r"/retention$"))
    expect(page.get_by_role("status")).to_contain_text("個人情報を削除しました")
    expect(page.get_by_text("削除の確認を待っている方はいません。")).to_be_visible()
    assert "期限切" not in page.content()

    page.goto(f"/cases/{erased['id']}")
    expect(page.get_by_text("保存期間が過ぎたため")).to_be_visible()
    expect(page.get_by_role("link", name="編集する")).to_have_count(0)
    assert "期限切" not in page.content()

    # 開示請求: the other person's whole file as one ZIP.
    page.goto(f"/cases/{kept['id']}")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="本人開示用にこの方の情報をすべて出力する（開示請求）").click()
    path = tmp_path / "disclosure.zip"
    download_info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert "開示先" in archive.read("data.json").decode() and "index.html" in archive.namelist()
