"""Japanese first, English second: locale choice, the English catalog's completeness, and
Japanese-era (和暦) dates."""
from __future__ import annotations

import subprocess
from datetime import date, datetime, timezone

import pytest
from babel.messages.pofile import read_po

from teichaku.platform.i18n import fiscal_year_label, jst_datetime, wareki
from tests import factories
from tests.crossprocess import REPO_ROOT, VENV_BIN

PYBABEL = str(VENV_BIN / "pybabel")
TRANSLATIONS = REPO_ROOT / "teichaku" / "translations"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs():
    """The .mo files are build products (git-ignored): compile them before any page is read."""
    result = subprocess.run([PYBABEL, "-q", "compile", "-d", str(TRANSLATIONS)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (EN_PO.with_suffix(".mo")).exists()


@pytest.fixture()
def open_client(make_app):
    """A client of an app with CSRF off, so that the locale and login forms can be posted."""
    return make_app(WTF_CSRF_ENABLED=False).test_client()


def _english(client):
    response = client.post("/locale", data={"locale": "en", "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


def test_pages_are_japanese_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert "ログイン" in page
    assert "メールアドレス" in page  # a form label (lazy_gettext) in Japanese too
    assert "Sign in" not in page


def test_english_is_available_as_second_locale(open_client):
    _english(open_client)
    page = open_client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Email address" in page and "Password" in page  # form labels are translated
    assert "ログイン" not in page
    # ...and back to Japanese.
    open_client.post("/locale", data={"locale": "ja", "next": "/login"})
    page = open_client.get("/login").get_data(as_text=True)
    assert '<html lang="ja">' in page and "ログイン" in page


def test_unknown_locale_is_ignored(open_client):
    open_client.post("/locale", data={"locale": "fr", "next": "/login"})
    page = open_client.get("/login").get_data(as_text=True)
    assert '<html lang="ja">' in page


def test_validator_messages_are_translated(open_client):
    page = open_client.post("/login", data={"email": "", "password": ""}).get_data(as_text=True)
    assert "必須項目です。" in page
    _english(open_client)
    page = open_client.post("/login", data={"email": "", "password": ""}).get_data(as_text=True)
    assert "This field is required." in page
    assert "必須項目です。" not in page


def test_signed_in_pages_in_english(make_app, open_client, world):
    # Sign-in starts a fresh session (the cookie's contents are dropped), so choose after it.
    assert factories.sign_in(open_client, world.user("a_admin")).status_code == 302
    _english(open_client)
    page = open_client.get("/dashboard").get_data(as_text=True)
    assert '<html lang="en">' in page
    for text in ("Dashboard", "Cases", "New case", "Staff accounts", "Audit log", "Sign out",
                 "Two-factor authentication", "Coordination (CO)", "Follow-up (FU)"):
        assert text in page, text
    page = open_client.get("/cases/new").get_data(as_text=True)
    for text in ("Type of work", "Family name", "Suspect/defendant support", "Consultation",
                 "Suspected dementia", "Female"):
        assert text in page, text
    # Choice values are data and stay as they were.
    assert 'value="suspect_support"' in page


def _read(path):
    with open(path, "rb") as f:
        return read_po(f)


def test_every_message_has_an_english_translation(tmp_path):
    catalog = _read(EN_PO)
    messages = [m for m in catalog if m.id]
    assert messages
    untranslated = [m.id for m in messages if not m.string or (isinstance(m.string, tuple) and not all(m.string))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not untranslated, f"empty msgstr: {untranslated}"
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not catalog.fuzzy

    # Re-extract from the current sources: a new string without an English entry fails here.
    pot = tmp_path / "messages.pot"
    result = subprocess.run(
        [PYBABEL, "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "N_",
         "-o", str(pot), "."],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    extracted = {m.id for m in _read(pot) if m.id}
    assert "ダッシュボード" in extracted and "必須項目です。" in extracted  # templates and forms.py
    translated = {m.id for m in messages}
    missing = sorted(str(i) for i in extracted - translated)
    assert not missing, f"not in the en catalog (run infra/scripts/update-translations.sh): {missing}"


@pytest.mark.parametrize(("msgid", "english"), [
    ("ダッシュボード", "Dashboard"), ("ケース", "Cases"), ("新規ケース", "New case"),
    ("職員アカウント", "Staff accounts"), ("監査ログ", "Audit log"), ("センター管理", "Centers"),
    ("二要素認証", "Two-factor authentication"), ("ログアウト", "Sign out"), ("ログイン", "Sign in"),
    ("コーディネート業務（CO）", "Coordination (CO)"), ("フォローアップ業務（FU）", "Follow-up (FU)"),
    ("被疑者等支援業務", "Suspect/defendant support"), ("相談支援業務", "Consultation"),
])
def test_agreed_terms(msgid, english):
    assert _read(EN_PO)[msgid].string == english


def test_japanese_era_dates():
    assert wareki(date(2025, 4, 1)) == "令和7年4月1日"
    assert wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(date(2019, 4, 30)) == "平成31年4月30日"
    assert wareki(date(1989, 1, 7)) == "昭和64年1月7日"
    assert wareki(date(1989, 1, 8)) == "平成元年1月8日"
    assert wareki(None) == ""

    assert fiscal_year_label(2025) == "令和7年度"
    assert fiscal_year_label(2019) == "令和元年度"  # as official documents name FY2019
    assert fiscal_year_label(2020) == "令和2年度"
    assert fiscal_year_label(2018) == "平成30年度"
    assert fiscal_year_label(1989) == "平成元年度"
    assert fiscal_year_label(1988) == "昭和63年度"

    # Timestamps are shown in Japan time: 15:30 UTC on 31 March is 1 April in Japan.
    moment = datetime(2025, 3, 31, 15, 30, tzinfo=timezone.utc)
    assert wareki(moment) == "令和7年4月1日"
    assert jst_datetime(moment) == "令和7年4月1日 00:30"
