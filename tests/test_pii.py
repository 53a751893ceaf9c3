"""The PII check of the case-study exchange (``exchange.pii``): what it must flag, what it must
leave alone, the shape of its findings and their one-click placeholders, and the recall and
precision targets on the labelled sets in ``bench/data`` (so that a regression fails CI).

Pure Python: no database, no Redis, no app."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from bench.pii import DEV_SET, HOLDOUT_SET, TARGET_PRECISION, TARGET_RECALL, evaluate, load, study_text
from teichaku.crosstenant.exchange.pii import KINDS, Finding, KnownTerm, detect
from tests.crossprocess import REPO_ROOT


@pytest.fixture(autouse=True)
def clean_state():
    """Overrides the suite's autouse fixture: these tests touch no database or Redis, so they run
    (and fail) on their own, without PostgreSQL."""
    yield


def flagged(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in detect(text, **kwargs)]


def apply(text: str, findings: list[Finding]) -> str:
    for f in reversed(findings):
        text = text[:f.start] + f.suggestion + text[f.end:]
    return text


# --- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, name", [
    ("対象者の佐藤 正男は刑務所内で処遇を受けていた。", "佐藤 正男"),
    ("伊藤秀樹は万引きで逮捕された。", "伊藤秀樹"),
    ("勅使河原宏の帰住先を調整した。", "勅使河原宏"),
    ("本人は小鳥遊 ひなたと名乗った。", "小鳥遊 ひなた"),
    ("支援員の小西が同行した。", "小西"),
])
def test_family_and_given_names_are_person_names(text, name):
    assert flagged(text) == [("person_name", name)]


def test_a_name_and_its_honorific_are_one_finding_replaced_as_a_whole():
    assert flagged("面談には実兄の栗林 茂雄氏が同席した。") == [("person_name", "栗林 茂雄氏")]
    assert [f.suggestion for f in detect("田中和夫氏と阿久津先生")] == ["A氏", "B先生"]


@pytest.mark.parametrize("text, span", [
    ("ゲンさんと呼ばれていた本人は路上生活が長かった。", "ゲンさん"),
    ("ひなたさんの姉が来所した。", "ひなたさん"),
    ("やまだたろうさんが来所した。", "やまだたろうさん"),
    ("李明哲さんの在留資格を確認した。", "李明哲さん"),
])
def test_an_unknown_word_with_an_honorific_is_flagged(text, span):
    assert [f.text for f in detect(text)] == [span]


@pytest.mark.parametrize("text", [
    "職員さんやヘルパーさんからの相談に応じている。",
    "相談員さんとケアマネさんが連携した。",
    "お母さんは高齢で、本人を引き受けることは難しい。",
    "近所のおばあさんとおじいさんが見守っている。",
    "皆さんのご協力に感謝します。",
    "大家さんが理解を示した。",
    "ごくろうさんでした。",
])
def test_common_nouns_with_honorifics_and_honnin_are_not_names(text):
    assert flagged(text) == []


@pytest.mark.parametrize("text, kana", [
    ("フリガナ：スズキ ハナコ", "スズキ ハナコ"),
    ("よみがな　やまもと たけし", "やまもと たけし"),
    ("氏名（カナ）ｻﾄｳ ﾏｻｵ", "ｻﾄｳ ﾏｻｵ"),
    ("タナカ ヨシオさんの受入れを協議した。", "タナカ ヨシオさん"),
    ("グエン・ヴァン・ナムは技能実習生だった。", "グエン・ヴァン・ナム"),
])
def test_kana_names_are_kana_names(text, kana):
    assert flagged(text) == [("kana_name", kana)]


def test_the_reading_in_parentheses_after_a_name_is_flagged_with_the_same_letter():
    findings = detect("東 義雄（ひがし よしお）さんの支援方針を協議した。")
    assert [(f.kind, f.text) for f in findings] == [("person_name", "東 義雄"), ("kana_name", "ひがし よしお")]
    assert findings[0].suggestion == findings[1].suggestion == "Aさん"


@pytest.mark.parametrize("text, name", [
    ("髙木 勇が面接に応じた。", "髙木 勇"),
    ("德永 豊の帰住先を調整した。", "德永 豊"),
    ("栁田 修は窃盗で受刑した。", "栁田 修"),
])
def test_family_names_written_with_variant_kanji_are_found_as_written(text, name):
    assert flagged(text) == [("person_name", name)]


def test_a_nickname_in_quotes_before_yobu_or_nanoru_is_flagged():
    assert flagged("施設では「トシ」と呼ばれていた。") == [("honorific", "トシ")]
    assert flagged("本人は「マサ」と名乗った。") == [("honorific", "マサ")]
    assert flagged("「見守り」と呼ばれる仕組みを説明した。") == []
    assert flagged("地域の会を「〇〇の会」と呼称している。") == []


def test_an_era_year_is_never_read_as_a_name():
    assert flagged("Aさんは平成元年度に服役した。") == []


# --- dates and ages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, date", [
    ("令和5年3月14日に府中刑務所を出所した。", "令和5年3月14日"),
    ("釈放予定日は２０２４年１月９日である。", "２０２４年１月９日"),
    ("2022/11/05に地検から釈放された。", "2022/11/05"),
    ("R5.6.30に特別養護老人ホームへ入所した。", "R5.6.30"),
    ("令和元年5月1日に仮釈放となった。", "令和元年5月1日"),
    ("二〇二三年四月一日から作業所に通っている。", "二〇二三年四月一日"),
    ("平成 29 年 12 月 25 日に仮釈放となった。", "平成 29 年 12 月 25 日"),
    ("本人は3月14日に釈放された。", "3月14日"),
])
def test_exact_dates_are_flagged_in_every_notation(text, date):
    assert ("date", date) in flagged(text)


@pytest.mark.parametrize("text, personal", [
    ("本人は令和5年3月に出所し、自立準備ホームに入所した。", True),
    ("令和2年12月に起訴猶予となり、センターが支援を開始した。", True),
    ("2019年4月に精神科病院を退院した。", True),
    ("センター設置当初の平成22年10月から同会を発足した。", False),
    ("平成25年4月に臨床心理士会に参画いただいた。", False),
    ("令和5年3月中旬までを視聴期間としている。", False),
])
def test_a_month_is_a_date_when_tied_to_a_person_not_to_the_organisations_activity(text, personal):
    assert any(kind == "date" for kind, _ in flagged(text)) is personal


@pytest.mark.parametrize("text", [
    "令和4年度は研修会を年2回、事例検討会を年3回実施した。",
    "現在9名の委員体制で運営している。",
    "委員会は2カ月に1回開催している。",
    "年度別の件数はH28が93件、H29が132件であった。",
    "1日5213円の利用料が支払われ、委託できる期間は6か月である。",
])
def test_fiscal_years_and_counts_are_not_dates(text):
    assert flagged(text) == []


def test_a_year_alone_is_a_date_only_as_a_birth_year():
    assert flagged("1952年生まれの本人は高校を中退している。") == [("date", "1952年")]
    assert flagged("令和3年から被疑者等支援業務が始まった。") == []


@pytest.mark.parametrize("text, age", [
    ("72歳の男性で、軽度の認知症がある。", "72歳"),
    ("本人は七十二歳で、要介護1の認定を受けている。", "七十二歳"),
    ("満65歳になったため、介護保険を申請した。", "満65歳"),
    ("本人（83才）は施設での生活を希望している。", "83才"),
])
def test_ages_are_flagged(text, age):
    assert flagged(text) == [("age", age)]


@pytest.mark.parametrize("text", [
    "Aさんは70代の男性である。",
    "65歳以上の高齢者を対象としている。",
    "80歳代の女性が多い。",
])
def test_decades_and_age_thresholds_are_not_ages(text):
    assert flagged(text) == []


# --- phones, e-mail, postal codes, case numbers, facilities, places ----------------------------------


@pytest.mark.parametrize("phone", [
    "03-1234-5678", "090-1234-5678", "(06)6123-4567", "０６－６１２３－４５６７", "09012345678",
    "0120-123-456", "０８０ ９８７６ ５４３２", "03（1234）5678", "０９０ー１２３４ー５６７８",
])
def test_phone_numbers_in_common_shapes(phone):
    assert flagged(f"連絡先は{phone}である。") == [("phone", phone)]


def test_email_postal_code_and_case_numbers_are_flagged():
    assert flagged("弟のメールはtaro.yamada@example.jpである。") == [("email", "taro.yamada@example.jp")]
    assert flagged("〒９８０－０８０３に転送した。") == [("postal_code", "〒９８０－０８０３")]
    assert flagged("令和5年(わ)第123号の判決で執行猶予が付いた。") == [("case_number", "令和5年(わ)第123号")]
    assert flagged("ケース番号：CO-2023-0012") == [("case_number", "CO-2023-0012")]
    assert flagged("称呼番号１２３４の受刑者。") == [("case_number", "１２３４")]


@pytest.mark.parametrize("text, facility", [
    ("大阪拘置所で面会した。", "大阪拘置所"),
    ("北九州医療刑務所を出所した。", "北九州医療刑務所"),
    ("受入先は特別養護老人ホームさくら園に決まった。", "特別養護老人ホームさくら園"),
    ("グループホームつばさに体験入居した。", "グループホームつばさ"),
    ("喜連川社会復帰促進センターを出所した。", "喜連川社会復帰促進センター"),
    ("ゆうき荘に入所した。", "ゆうき荘"),
])
def test_a_facility_with_a_name_in_front_of_or_after_its_type_is_flagged(text, facility):
    assert flagged(text) == [("facility", facility)]


@pytest.mark.parametrize("text", [
    "少年院や刑務所などの矯正施設と連携している。",
    "グループホームや特別養護老人ホームへの巡回を行った。",
    "医療少年院を出院した。",
    "自立準備ホームの登録を依頼した。",
])
def test_a_facility_type_alone_is_not_flagged(text):
    assert flagged(text) == []


@pytest.mark.parametrize("text, place", [
    ("帰住先は横浜市港北区の兄の家である。", "横浜市港北区"),
    ("〒123-4567 東京都足立区千住1丁目2番3号", "足立区千住1丁目2番3号"),
    ("北海道網走市で生まれた。", "網走市"),
    ("沖縄県国頭郡本部町の実家に戻る。", "国頭郡本部町"),
    ("本人は釧路で漁業に従事していた。", "釧路"),
    ("大字小川字中島123番地に住む。", "大字小川字中島123番地"),
])
def test_places_below_the_prefecture_are_addresses(text, place):
    assert ("address", place) in flagged(text)


@pytest.mark.parametrize("text", [
    "東京都、神奈川県、千葉県のセンターと合同で研修を行った。",
    "北海道には2つのセンターがある。",
    "大阪府のセンターから広域調整の依頼を受けた。",
    "九州ブロックの研修会に参加した。",
    "市の職員は異動も多い。",
])
def test_prefectures_and_wider_areas_are_not_addresses(text):
    assert flagged(text) == []


@pytest.mark.parametrize("text", [
    "Aさんは70代の男性で、某市の救護施設に入所した。",
    "B氏は60代で、X刑務所を満期で出所した。",
    "〇〇の部屋、〇〇の会と呼称するコミュニティを設立した。",
    "○○病院の相談員と協議した。",
    "C様は令和4年度に出所し、某町のグループホームで暮らしている。",
    "〒〇〇〇-〇〇〇〇、〇〇-〇〇〇〇-〇〇〇〇",
])
def test_anonymised_placeholders_are_not_flagged(text):
    assert flagged(text) == []


# --- the center's own persons and staff ---------------------------------------------------------------

SUZUKI = [KnownTerm("鈴木 一郎", "known_person"), KnownTerm("すずき いちろう", "known_person")]
KOTAKA = [KnownTerm("小鷹 美津子", "known_staff"), KnownTerm("コタカ ミツコ", "known_staff")]
HAYASHI = [KnownTerm("林 はる", "known_person")]


@pytest.mark.parametrize("text, span", [
    ("鈴木一郎は再入所した。", "鈴木一郎"),
    ("鈴木 一郎は再入所した。", "鈴木 一郎"),
    ("鈴木　一郎は再入所した。", "鈴木　一郎"),
    ("スズキ イチロウの面談記録を確認した。", "スズキ イチロウ"),
    ("ｽｽﾞｷｲﾁﾛｳの面談記録を確認した。", "ｽｽﾞｷｲﾁﾛｳ"),
    ("一郎さんは兄と会っていない。", "一郎さん"),
])
def test_known_persons_match_exactly_with_or_without_spaces_in_either_kana_script(text, span):
    assert flagged(text, known_terms=SUZUKI) == [("known_person", span)]


def test_known_staff_match_by_family_or_given_name_alone_when_two_characters_or_more():
    assert flagged("担当職員の小鷹が面談した。", known_terms=KOTAKA) == [("known_staff", "小鷹")]
    assert flagged("美津子相談員が同行した。", known_terms=KOTAKA) == [("known_staff", "美津子")]
    assert flagged("コタカが連絡した。", known_terms=KOTAKA) == [("known_staff", "コタカ")]


def test_a_one_character_part_and_a_kana_part_inside_a_kana_word_do_not_match():
    assert flagged("林業に従事していた。", known_terms=HAYASHI) == []
    assert flagged("はるかに多い。", known_terms=HAYASHI) == []
    assert flagged("はるさんの年金の手続きを行った。", known_terms=HAYASHI) == [("known_person", "はるさん")]


def test_a_known_family_name_that_begins_a_place_name_is_left_to_the_place_rules():
    terms = [KnownTerm("千葉 一郎", "known_person")]
    assert flagged("千葉県のセンターと協議した。", known_terms=terms) == []
    assert flagged("千葉さんと協議した。", known_terms=terms) == [("known_person", "千葉さん")]


def test_a_known_term_of_another_kind_is_refused():
    with pytest.raises(ValueError):
        detect("佐藤さん", known_terms=[KnownTerm("佐藤 一郎", "person")])


def test_an_unspaced_known_name_is_split_into_family_and_given_names():
    terms = [KnownTerm("佐伯真理子", "known_staff")]
    assert flagged("佐伯が本人と面接した。", known_terms=terms) == [("known_staff", "佐伯")]


def test_a_known_name_outranks_the_name_the_detector_guesses():
    assert flagged("勅使河原宏さんの面接", known_terms=[KnownTerm("勅使河原 宏", "known_person")]) == [
        ("known_person", "勅使河原宏さん")]


# --- the shape of findings -----------------------------------------------------------------------------


def test_offsets_are_code_point_indices_with_an_exclusive_end():
    text = "𠮷野の件で、ﾀﾞｲｽｹさんの電話は０９０－１２３４－５６７８、㍻２９年１２月２５日に出所。"
    findings = detect(text)
    assert findings, "the text holds a name, a phone number and a date"
    for f in findings:
        assert text[f.start:f.end] == f.text
    phone = next(f for f in findings if f.kind == "phone")
    assert (phone.start, phone.end) == (text.index("０９０"), text.index("８、") + 1)
    date = next(f for f in findings if f.kind == "date")
    assert date.text == "㍻２９年１２月２５日"


def test_findings_are_sorted_non_overlapping_and_of_known_kinds():
    text = ("中島 久雄（なかじま ひさお）さん、72歳、令和5年3月14日に府中刑務所を出所予定、帰住先は堺市。"
            "〒530-0001 大阪市北区梅田1-1-3 電話06-6345-6789、k.nakajima@example.ne.jp、令和5年(わ)第987号")
    findings = detect(text)
    assert len(findings) >= 10
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:]))
    assert {f.kind for f in findings} <= set(KINDS)


def test_kinds_have_japanese_labels():
    assert set(KINDS) == {"person_name", "kana_name", "honorific", "address", "date", "age", "phone", "email",
                          "postal_code", "case_number", "facility", "known_person", "known_staff"}
    assert KINDS["person_name"] == "人名" and KINDS["known_staff"] == "職員の氏名"


# --- suggestions ----------------------------------------------------------------------------------------


def test_each_distinct_person_gets_the_next_letter_and_the_same_person_keeps_it():
    findings = detect("東海林肇さんの引受人は叔父の東海林 昭二さんである。東海林肇さんは同意した。")
    assert [f.suggestion for f in findings] == ["Aさん", "Bさん", "Aさん"]


def test_letters_the_text_already_uses_are_skipped():
    assert [f.suggestion for f in detect("Aさんの兄、田中和夫さんが来所した。")] == ["Bさん"]


@pytest.mark.parametrize("text, suggestion", [
    ("令和5年3月14日に出所した。", "令和4年度"),
    ("令和5年6月1日に出所した。", "令和5年度"),
    ("2023年3月14日に出所した。", "2022年度"),
    ("昭和22年8月15日生まれの男性。", "昭和20年代"),
    ("72歳の男性。", "70代"),
    ("帰住先は大阪市北区梅田3-1-1である。", "某市"),
    ("八代郡氷川町の施設に入所した。", "某町"),
    ("町田市に住む。", "某市"),
    ("電話03-1234-5678", "〇〇-〇〇〇〇-〇〇〇〇"),
    ("府中刑務所を出所した。", "〇〇刑務所"),
    ("清風園に入所した。", "〇〇施設"),
])
def test_suggestions_coarsen_or_anonymise_the_span(text, suggestion):
    assert [f.suggestion for f in detect(text)] == [suggestion]


def test_applying_every_suggestion_leaves_nothing_to_flag():
    for sample in load(DEV_SET) + load(HOLDOUT_SET):
        anonymised = apply(sample.text, detect(sample.text, known_terms=sample.known_terms))
        assert detect(anonymised, known_terms=sample.known_terms) == [], anonymised


# --- speed, size, threads, purity -------------------------------------------------------------------------


def test_a_text_longer_than_sudachis_input_limit_is_checked_whole():
    text = "本人は令和5年3月14日に出所した。" * 4000  # 72,000 characters, over 200 KB in UTF-8
    findings = detect(text)
    assert len(findings) == 4000
    assert findings[-1].text == "令和5年3月14日" and findings[-1].start == len(text) - 9 - 6


def test_threads_get_their_own_tokenizer_and_the_same_findings():
    text = study_text(load(HOLDOUT_SET), 2000)
    expected = detect(text)
    results: list[list[Finding]] = []

    def check() -> None:
        results.append(detect(text))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_the_detector_imports_neither_flask_nor_the_database():
    code = ("import sys, teichaku.crosstenant.exchange.pii as p; p.detect('佐藤さん');"
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'redis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the labelled sets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DEV_SET, HOLDOUT_SET], ids=["development", "holdout"])
def test_labelled_set_meets_recall_and_precision_targets(path):
    samples = load(path)
    assert len(samples) >= (160 if path == DEV_SET else 40)
    scores = evaluate(samples)
    for group in ("names", "dates", "addresses", "phones"):
        target = scores.targets()[f"recall_{group}"]
        assert target["value"] >= TARGET_RECALL, (group, target, scores.misses)
    assert scores.precision() >= TARGET_PRECISION, scores.false_alarms
