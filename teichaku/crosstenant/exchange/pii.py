"""The PII check of the case-study exchange (事例の共有): what in a text could identify a person.

A case study leaves its center and is read in all 48, so the author must see everything that
could point at one person before it goes out: names (漢字 and かな), honorific forms (〇〇さん),
places below the prefecture, exact dates and ages, phone numbers, e-mail, postal codes, case
numbers, facility names, and the exact names of the center's own persons and staff.  Each
finding carries a one-click placeholder (Aさん, 某市, 70代, 令和4年度 ...) so that resolving it
is quick; what is not personal (研修を年2回開催した, 令和4年度, 大阪府, Aさん) is left alone.

How: SudachiPy (sudachidict-core ships its dictionary inside the package, nothing is downloaded)
gives names (名詞,固有名詞,人名) and places (名詞,固有名詞,地名); regular expressions over a
width-folded copy of the text find the structured kinds (dates, ages, phones ...).  Overlapping
candidates are merged into one finding of the most telling kind.  Offsets are Python ``str``
indices (Unicode code points) into the text as given, ``end`` exclusive.

Pure Python: no Flask, no database.  ``detect`` is safe to call from several threads: each
thread gets its own Sudachi tokenizer (tokenizers are not thread-safe; the dictionary is shared).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterable, NamedTuple


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


KINDS: dict[str, str] = {
    "person_name": N_("人名"),
    "kana_name": N_("かな氏名"),
    "honorific": N_("敬称付きの呼び方"),
    "address": N_("住所・地名"),
    "date": N_("日付"),
    "age": N_("年齢"),
    "phone": N_("電話番号"),
    "email": N_("メールアドレス"),
    "postal_code": N_("郵便番号"),
    "case_number": N_("事件・ケース番号"),
    "facility": N_("施設名"),
    "known_person": N_("登録者の氏名"),
    "known_staff": N_("職員の氏名"),
}

NAME_KINDS = frozenset({"person_name", "kana_name", "honorific", "known_person", "known_staff"})
_GUESSED_NAME_KINDS = frozenset({"person_name", "kana_name", "honorific"})
# When candidates of the same size overlap, the higher rank names the finding.
_RANK = {"known_person": 9, "known_staff": 9, "email": 8, "phone": 8, "postal_code": 8, "case_number": 7,
         "facility": 6, "person_name": 5, "kana_name": 5, "address": 4, "date": 3, "age": 3, "honorific": 1}


@dataclass(frozen=True)
class Finding:
    """One span to resolve: ``text == source[start:end]``; ``suggestion`` is the placeholder that
    replaces it in one click."""

    kind: str
    start: int
    end: int
    text: str
    suggestion: str


@dataclass(frozen=True)
class KnownTerm:
    """A name (kanji or kana) from the author center's own records: ``kind`` is ``known_person``
    (a person the center supports) or ``known_staff``.  Matched exactly, spaces ignored, and by
    its family or given part alone when that part has two characters or more."""

    text: str
    kind: str


class _Candidate(NamedTuple):
    start: int
    end: int
    kind: str


class _Token(NamedTuple):
    surface: str
    start: int
    end: int
    pos: tuple[str, ...]
    oov: bool
    reading: str


def detect(text: str, *, known_terms: Iterable[KnownTerm] = ()) -> list[Finding]:
    """Every span of ``text`` that could identify a person, sorted and non-overlapping."""
    if not text or not text.strip():
        return []
    folded = _Folded.of(text)
    tokens = _tokenize(text)
    candidates = [
        *_regex_candidates(text, folded),
        *_name_candidates(text, tokens),
        *_honorific_candidates(tokens),
        *_nickname_candidates(text),
        *_place_candidates(text, tokens),
        *_facility_candidates(text, tokens),
        *_known_candidates(folded, tuple(known_terms)),
    ]
    candidates += _parenthesised_after_name(text, candidates)
    eras = _era_year_spans(folded)
    candidates = [c for c in candidates if c.end > c.start and not _is_placeholder(text[c.start:c.end])
                  and not (c.kind in _GUESSED_NAME_KINDS and _overlaps_any(c, eras))]
    merged = [_extend_name(text, c) for c in _merge(candidates)]
    return _with_suggestions(text, _merge(merged), tokens)


# --- character classes and placeholders ------------------------------------------------------------

_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f々〆ヶ"
_HIRAGANA = "\u3041-\u3096\u309d\u309e"
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30fe\uff66-\uff9f"
_KANA_RE = re.compile(f"[{_HIRAGANA}{_KATAKANA}]+")
_HAS_KANJI = re.compile(f"[{_KANJI}]")
_SPACES = re.compile(r"[\s\u3000]+")
# Already-anonymised forms: A / Ａ (one letter, as the suggestions give them; X27 past Z), 某, 〇〇,
# ○○, ××, ＊＊ (optionally with さん/氏/市 ...).  Two letters are no placeholder: TKさん is initials.
_PLACEHOLDER = re.compile(
    r"(?:[A-Za-zＡ-Ｚａ-ｚ]|[XＸ][0-9０-９]{1,3}|[某〇○◯●◎×✕＊*△□]+)"
    r"(?:さん|氏|様|さま|君|くん|ちゃん|殿|市|区|町|村|郡|刑務所|拘置所|少年院|病院|施設|ホーム|園)?"
)


def _is_placeholder(span: str) -> bool:
    """Aさん, 某市, 〇〇 and the like are the anonymised form: never a finding."""
    return bool(_PLACEHOLDER.fullmatch(span.strip()))


def _is_kana(text: str) -> bool:
    return bool(_KANA_RE.fullmatch(_SPACES.sub("", text)))


# --- folding: one copy for the regular expressions, one for the known names ------------------------

_DASHES = set("‐‑‒–—―−－﹣")
_HALF_VOICING = {"\uff9e", "\uff9f"}


@dataclass(frozen=True)
class _Folded:
    """NFKC-folded copies of a text with the index of the original character behind each folded one
    (half-width katakana with a voicing mark fold two characters into one; ㍻ unfolds one into two).

    ``plain``: full-width digits, letters and parentheses folded, dashes as ``-``, for the regexes.
    ``kana``: the same with katakana as hiragana, for names from the records (ヤマダ = やまだ)."""

    plain: str
    kana: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> "_Folded":
        pieces: list[tuple[str, int]] = []
        for i, ch in enumerate(text):
            if ch in _HALF_VOICING and pieces and pieces[-1][1] == i - 1:
                pieces[-1] = (unicodedata.normalize("NFKC", text[i - 1] + ch), i - 1)
                continue
            pieces.append((unicodedata.normalize("NFKC", ch), i))
        plain, origin = [], []
        for piece, i in pieces:
            for ch in piece:
                plain.append(ch)
                origin.append(i)
        plain = [_dash(plain, k) for k in range(len(plain))]
        kana = [chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in plain]
        return cls("".join(plain), "".join(kana), tuple(origin))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """A folded span as a span of the original text."""
        return self.origin[start], self.origin[end - 1] + 1


def _dash(chars: list[str], k: int) -> str:
    """Dash-like characters as ``-``; the long-vowel mark ー only between digits (０９０ー１２３４)."""
    ch = chars[k]
    if ch in _DASHES:
        return "-"
    if ch == "ー":
        before = chars[k - 1] if k else ""
        after = chars[k + 1] if k + 1 < len(chars) else ""
        if before.isdigit() or after.isdigit():
            return "-"
    return ch


# --- SudachiPy: one dictionary per process, one tokenizer per thread ------------------------------

_dictionary = None
_dictionary_lock = threading.Lock()
_local = threading.local()
# Sudachi refuses inputs over 49,149 bytes: longer texts are cut at a sentence end.
_CHUNK_CHARS = 4000


def _tokenizer():
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        from sudachipy import SplitMode

        tokenizer = _shared_dictionary().tokenizer(mode=SplitMode.C)
        _local.tokenizer = tokenizer
    return tokenizer


def _shared_dictionary():
    global _dictionary
    with _dictionary_lock:
        if _dictionary is None:
            from sudachipy import Dictionary

            _dictionary = Dictionary()  # sudachidict-core, from inside the installed package
        return _dictionary


def _variant_kanji() -> dict[int, str]:
    """Variant kanji common in family names that the dictionary does not know (髙橋 is an unknown
    word, 高橋 a surname) and the CJK compatibility ideographs, each as its standard form: one
    character for one, so Sudachi's offsets still point into the text as written."""
    table = {ord(k): v for k, v in {"髙": "高", "﨑": "崎", "嵜": "崎", "德": "徳", "栁": "柳", "𠮷": "吉", "濵": "浜",
                                     "槗": "橋", "曻": "昇"}.items()}
    for block in (range(0xF900, 0xFB00), range(0x2F800, 0x2FA20)):
        for code in block:
            standard = unicodedata.normalize("NFKC", chr(code))
            if len(standard) == 1 and standard != chr(code):
                table[code] = standard
    return table


_VARIANT_KANJI = _variant_kanji()


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for offset, chunk in _chunks(text):
        for m in _tokenizer().tokenize(chunk.translate(_VARIANT_KANJI)):
            start, end = offset + m.begin(), offset + m.end()
            tokens.append(_Token(text[start:end], start, end, tuple(m.part_of_speech()), m.is_oov(), m.reading_form()))
    return tokens


def _chunks(text: str) -> Iterable[tuple[int, str]]:
    start = 0
    while start < len(text):
        end = min(len(text), start + _CHUNK_CHARS)
        if end < len(text):
            cut = max(text.rfind("。", start, end), text.rfind("\n", start, end))
            end = cut + 1 if cut > start else end
        yield start, text[start:end]
        start = end


def _is_name_token(t: _Token) -> bool:
    return t.pos[1] == "固有名詞" and t.pos[2] == "人名" and not _is_placeholder(t.surface)


# --- regular-expression kinds -------------------------------------------------------------------

_KNUM = "[〇零一二三四五六七八九十百千]"
_NUM = rf"(?:\d{{1,4}}|{_KNUM}{{1,5}})"
_ERA_YEARS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018,
              "M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
_NOT_A_YEAR = r"(?!\s?(?:度|代|間))"

_WAREKI = re.compile(
    rf"(?P<era>令和|平成|昭和|大正|明治|(?<![A-Za-z])[MTSHR](?=\d))\s?(?P<y>元|{_NUM})\s?年{_NOT_A_YEAR}"
    rf"(?:\s?(?P<m>{_NUM})\s?月(?:\s?(?P<d>{_NUM})\s?日)?)?")
_SEIREKI = re.compile(
    rf"(?<!\d)(?P<y>(?:18|19|20)\d\d|[一二][〇九零八][〇零一二三四五六七八九]{{2}})\s?年{_NOT_A_YEAR}"
    rf"(?:\s?(?P<m>{_NUM})\s?月(?:\s?(?P<d>{_NUM})\s?日)?)?")
_NUMERIC_DATE = re.compile(
    r"(?<![\d/.-])(?P<y>(?:18|19|20)\d\d)(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d/])")
_ABBREVIATED_DATE = re.compile(
    r"(?<![A-Za-z])(?P<era>[MTSHR])\s?(?P<y>\d{1,2})[./](?P<m>\d{1,2})[./](?P<d>\d{1,2})(?![\d.])")
_MONTH_DAY = re.compile(rf"(?<![\d年{_KNUM[1:-1]}])(?P<m>{_NUM})\s?月\s?(?P<d>{_NUM})\s?日")
# 5/14 only before a particle of time (5/14に退院): 1/3 alone is as often a fraction.
_SLASH_MONTH_DAY = re.compile(r"(?<![\d/.])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?=に|から|まで|付|頃)")
_BIRTH_AFTER = re.compile(r"\s?(?:に\s?)?(?:生まれ|生|出生)")

_AGE = re.compile(
    rf"(?<![\d{_KNUM[1:-1]}])(?:満\s?)?(?P<n>\d{{1,3}}|[一二三四五六七八九十百]{{1,4}})\s?(?:歳|才)"
    r"(?!\s?(?:以上|以下|未満|超|代|前後|から|まで|～|〜|~|-))")
_PHONE = re.compile(
    r"(?<![\d.-])(?:\+81[-\s]?\d{1,4}[-\s]\d{1,4}[-\s]\d{3,4}|\(0\d{1,4}\)\s?\d{1,4}-\d{3,4}"
    r"|0\d{1,4}\(\d{1,4}\)\d{3,4}|0\d{1,4}[-\s]\d{1,4}[-\s]\d{3,4}|0\d{1,4}\.\d{1,4}\.\d{3,4}|0\d{9,10})"
    r"(?![\d.-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_POSTAL = re.compile(r"〒\s?\d{3}-?\d{4}(?!\d)")
_LABELLED_POSTAL = re.compile(r"郵便番号[\s:]*(?P<value>\d{3}-?\d{4})(?!\d)")
# 令和5年(わ)第123号: the year, the court's case mark in parentheses, the number.
_COURT_CASE = re.compile(
    rf"(?:令和|平成|昭和)\s?(?:元|{_NUM})\s?年\s?\(\s?[{_HIRAGANA}{_KATAKANA}{_KANJI}]{{1,4}}\s?\)\s?第?\s?\d+\s?号")
_CASE_NUMBER = re.compile(r"(?<![A-Za-z0-9])(?:CO|FU|SS|CS)-\d{4}-\d{3,6}(?!\d)")
_LABELLED_NUMBER = re.compile(r"(?:ケース|事件|整理|受付|称呼|管理)番号[\s:]*(?P<value>[A-Za-z0-9][A-Za-z0-9/_-]{2,})")
# Initials before an honorific (TKさん, K.Y.氏): a person's initials point at them as a name does.
_INITIALS = re.compile(r"(?<![A-Za-z0-9.])[A-Za-z](?:\.?\s?[A-Za-z]){1,2}\.?(?=\s?(?:さん|さま|様|氏|君|くん|ちゃん|殿|先生))")
_KANA_LABEL = re.compile(
    rf"(?:フリガナ|ふりがな|よみがな|ヨミガナ|読み仮名|カナ氏名|氏名\s?\((?:カナ|かな|ふりがな|フリガナ)\)"
    rf"|(?<![{_HIRAGANA}{_KATAKANA}])(?:カナ|かな|よみ)(?=[\s:]))[\s:]*"
    rf"(?P<kana>[{_HIRAGANA}{_KATAKANA}]{{2,}}(?: [{_HIRAGANA}{_KATAKANA}]{{1,}})?)")


def _regex_candidates(text: str, folded: _Folded) -> list[_Candidate]:
    plain = folded.plain
    out: list[_Candidate] = []

    def add(kind: str, start: int, end: int) -> None:
        s, e = folded.span(start, end)
        out.append(_Candidate(s, e, kind))

    for pattern, kind in ((_EMAIL, "email"), (_PHONE, "phone"), (_POSTAL, "postal_code"),
                          (_COURT_CASE, "case_number"), (_CASE_NUMBER, "case_number")):
        for m in pattern.finditer(plain):
            add(kind, m.start(), m.end())
    for pattern, kind in ((_LABELLED_POSTAL, "postal_code"), (_LABELLED_NUMBER, "case_number")):
        for m in pattern.finditer(plain):
            add(kind, m.start("value"), m.end("value"))
    for m in _KANA_LABEL.finditer(plain):
        add("kana_name", m.start("kana"), m.end("kana"))
    for m in _INITIALS.finditer(plain):
        add("honorific", m.start(), m.end())
    for m in _AGE.finditer(plain):
        if _kanji_number(m.group("n")) is not None:
            add("age", m.start(), m.end())
    for m in _date_matches(plain):
        s, e = folded.span(m.start(), m.end())
        if _date_is_personal(text, s, e, m):
            out.append(_Candidate(s, e, "date"))
    return out


_ERA_YEAR = re.compile(rf"(?:令和|平成|昭和|大正|明治)\s?(?:元|{_NUM})\s?年")


def _era_year_spans(folded: _Folded) -> list[tuple[int, int]]:
    """平成元年度 is no name, whatever Sudachi makes of 平 + 成元."""
    return [folded.span(m.start(), m.end()) for m in _ERA_YEAR.finditer(folded.plain)]


def _overlaps_any(c: _Candidate, spans: list[tuple[int, int]]) -> bool:
    return any(c.start < end and start < c.end for start, end in spans)


def _date_matches(plain: str) -> Iterable[re.Match]:
    for pattern in (_WAREKI, _SEIREKI, _NUMERIC_DATE, _ABBREVIATED_DATE, _MONTH_DAY, _SLASH_MONTH_DAY):
        for m in pattern.finditer(plain):
            if _valid_date(m):
                yield m


def _valid_date(m: re.Match) -> bool:
    month, day = _group_number(m, "m"), _group_number(m, "d")
    if m.groupdict().get("m") and not (month and 1 <= month <= 12):
        return False
    return not (m.groupdict().get("d") and not (day and 1 <= day <= 31))


def _group_number(m: re.Match, name: str) -> int | None:
    value = m.groupdict().get(name)
    return _kanji_number(value) if value else None


def _kanji_number(value: str) -> int | None:
    """72, ７２, 七十二, 二〇二三, 元 (the first year of an era) as an int."""
    value = unicodedata.normalize("NFKC", value.strip())
    if value.isdigit():
        return int(value)
    if value == "元":
        return 1
    digits = "〇一二三四五六七八九"
    if all(c in digits or c == "零" for c in value):
        return int("".join(str(digits.index(c)) if c != "零" else "0" for c in value))
    total, current = 0, 0
    for c in value:
        if c in digits:
            current = digits.index(c)
        elif c in "十百千":
            total += (current or 1) * {"十": 10, "百": 100, "千": 1000}[c]
            current = 0
        else:
            return None
    return total + current


# Words after a year-and-month that make it a date in a person's life (令和5年3月に出所) ...
_PERSON_EVENTS = re.compile(
    "出所|出院|釈放|仮釈放|仮退院|満期|入所|退所|入院|退院|入居|退去|転居|逮捕|起訴|判決|受刑|服役|収容|送致|勾留"
    "|保護され|保護観察|生まれ|出生|死亡|死去|亡く|離婚|結婚|上京|帰住|帰郷|就職|就労|解雇|退職|家出|失踪|受診|診断"
    "|移り|住み|暮らし|受給|交付|認定|罰金|懲役|執行猶予|再犯|万引|窃盗|無銭|刑期|満了")
# ... and words that make it the date of an organisation's own activity (平成22年10月に発足した).
_ORG_EVENTS = re.compile(
    "発足|設立|設置|開催|実施|作成|策定|締結|参画|委嘱|発出|発行|新設|視聴|開設|改正|施行|採択|研修|会議|総会|事業")
_PERSON_REFERENCES = re.compile(
    "本人|対象者|さん|氏(?!名)|被告|被疑者|受刑者|男性|女性|父|母(?!体)|妻|(?<!工)夫|兄|姉|弟|妹|息子|娘|刑期")
_SENTENCE_END = re.compile(r"[。\n]")


def _date_is_personal(text: str, start: int, end: int, m: re.Match) -> bool:
    """Exact days always are; a year alone only as a birth year (昭和23年生まれ); a year and month
    when the sentence ties it to a person's life rather than to the organisation's work."""
    groups = m.groupdict()
    if groups.get("d"):
        return True
    if not groups.get("m"):
        return bool(_BIRTH_AFTER.match(text, end))
    sentence_start = max(text.rfind("。", 0, start), text.rfind("\n", 0, start)) + 1
    stop = _SENTENCE_END.search(text, end)
    after = text[end:stop.start() if stop else len(text)]
    person, org = _PERSON_EVENTS.search(after), _ORG_EVENTS.search(after)
    if person and (not org or person.start() < org.start()):
        return True
    if org:
        return False
    sentence = text[sentence_start:stop.start() if stop else len(text)]
    return bool(_PERSON_REFERENCES.search(sentence))


# --- names ------------------------------------------------------------------------------------------

_HONORIFICS = ("さん", "さま", "様", "氏", "君", "くん", "ちゃん", "殿", "先生")
_HONORIFIC_AFTER = re.compile(r"[ \u3000]?(?:さん|さま|様|氏|君|くん|ちゃん|殿|先生)")
# Kinship and social words written in hiragana that take さん/ちゃん: not names (お母さん and 皆さん
# are single tokens already; お + ばあ + さん is caught by its prefix).
_COMMON_WITH_HONORIFIC = frozenset({
    "おかあ", "おとう", "おばあ", "おじい", "おば", "おじ", "おく", "おかみ", "おにい", "おねえ", "おっ", "ばあ", "じい",
    "かあ", "とう", "ねえ", "にい", "あね", "あに", "みな", "おまわり", "あかちゃん", "ぼっ", "ぼうや", "くろう",
    "ごくろう", "おつかれ", "だんな", "よめ", "むこ", "まご", "おいしゃ", "かんごし", "せんせい", "おとなり", "おきゃく"})


def _name_candidates(text: str, tokens: list[_Token]) -> list[_Candidate]:
    out: list[_Candidate] = []
    i = 0
    while i < len(tokens):
        if not _is_name_token(tokens[i]):
            i += 1
            continue
        j = _name_group_end(tokens, i)
        group = tokens[i:j]
        start = _surname_before_space(text, tokens, i)
        end = group[-1].end
        if j < len(tokens) and _given_name_after_surname(tokens, j - 1, j):
            end, j = tokens[j + 1].end, j + 2
        elif j + 1 < len(tokens) and _kanji_given_name_before_honorific(tokens, j - 1, j):
            end, j = tokens[j].end, j + 1
        if _accept_name(group, start < group[0].start or end > group[-1].end, _HONORIFIC_AFTER.match(text, end)):
            span = text[start:end]
            out.append(_Candidate(start, end, "kana_name" if _is_kana(span) else "person_name"))
        i = j
    return out


def _name_group_end(tokens: list[_Token], i: int) -> int:
    """Consecutive name tokens, one space allowed between them: 佐藤 正男, 勅使河原宏."""
    j = i + 1
    while j < len(tokens):
        if _is_name_token(tokens[j]) and tokens[j].start == tokens[j - 1].end:
            j += 1
        elif (tokens[j].pos[0] == "空白" and j + 1 < len(tokens) and _is_name_token(tokens[j + 1])
              and len(tokens[j].surface) == 1):
            j += 2
        else:
            break
    return j


def _given_name_after_surname(tokens: list[_Token], last: int, nxt: int) -> bool:
    """姓 + space + a noun Sudachi does not know as a name (小鳥遊 ひなた): the given name."""
    if tokens[last].pos[3] != "姓" or tokens[nxt].pos[0] != "空白" or len(tokens[nxt].surface) != 1:
        return False
    if nxt + 1 >= len(tokens):
        return False
    given = tokens[nxt + 1]
    return given.pos[0] == "名詞" and len(given.surface) <= 4 and given.surface not in _HONORIFICS


def _kanji_given_name_before_honorific(tokens: list[_Token], last: int, nxt: int) -> bool:
    """姓 + a kanji word Sudachi reads as a common noun + honorific: 李明哲さん, 鬼頭冴子さん."""
    given, after = tokens[nxt], tokens[nxt + 1]
    return (tokens[last].pos[3] == "姓" and given.start == tokens[last].end and after.start == given.end
            and given.pos[0] == "名詞" and len(given.surface) <= 3 and bool(_HAS_KANJI.search(given.surface))
            and after.surface in _HONORIFICS)


def _surname_before_space(text: str, tokens: list[_Token], i: int) -> int:
    """A given name after a space takes what stands before the space as its surname, where
    Sudachi reads that as a common word: the kana run of やまもと たけし, イシダ ミツル, or the one
    kanji word of 東 義雄."""
    first = tokens[i]
    if first.pos[3] != "名" or i < 2 or tokens[i - 1].pos[0] != "空白" or len(tokens[i - 1].surface) != 1:
        return first.start
    if _is_kana(first.surface):
        k = first.start - 1
        while k > 0 and _KANA_RE.fullmatch(text[k - 1]):
            k -= 1
        return k if 2 <= first.start - 1 - k <= 8 else first.start
    before = tokens[i - 2]
    kanji_word = before.pos[0] == "名詞" and len(before.surface) <= 3 and _HAS_KANJI.fullmatch(before.surface[0])
    return before.start if kanji_word and not _is_placeholder(before.surface) else first.start


def _accept_name(group: list[_Token], extended: bool, honorific: re.Match | None) -> bool:
    """A lone given name of one character (正, 清) or two kana (はる) is too often an ordinary
    word: it counts only with a surname, a space-separated part or an honorific."""
    if honorific or extended or len([t for t in group if t.pos[0] != "空白"]) >= 2:
        return True
    token = group[0]
    if token.pos[3] == "姓":
        return len(token.surface) >= 2
    if _HAS_KANJI.search(token.surface):
        return len(token.surface) >= 2
    return len(token.surface) >= 3


def _honorific_candidates(tokens: list[_Token]) -> list[_Candidate]:
    """〇〇さん / 〇〇様 / 〇〇氏 where 〇〇 is a word Sudachi does not know or a proper noun:
    nicknames and rare names (ゲンさん).  Common nouns with さん (職員さん) are not names."""
    out: list[_Candidate] = []
    for k in range(1, len(tokens)):
        suffix, prev = tokens[k], tokens[k - 1]
        if suffix.surface not in _HONORIFICS or suffix.pos[0] != "接尾辞" or prev.end != suffix.start:
            continue
        start = _honorific_name_start(tokens, k - 1)
        if start is None:
            start = _hiragana_name_start(tokens, k)
        if start is not None:
            out.append(_Candidate(start, suffix.end, "honorific"))
    return out


def _hiragana_name_start(tokens: list[_Token], k: int) -> int | None:
    """A name in hiragana that Sudachi cuts into odd pieces (やま|だ|たろう|さん): the run of
    hiragana tokens, no particle among them, between a boundary and the honorific."""
    j = k
    while j > 0 and tokens[j - 1].end == tokens[j].start and tokens[j - 1].pos[0] not in ("助詞", "接頭辞") \
            and re.fullmatch(f"[{_HIRAGANA}]+", tokens[j - 1].surface):
        j -= 1
    run = "".join(t.surface for t in tokens[j:k])
    if k - j < 2 or not 3 <= len(run) <= 8 or run in _COMMON_WITH_HONORIFIC:
        return None
    boundary = j == 0 or tokens[j - 1].pos[0] in ("助詞", "補助記号", "空白") or tokens[j - 1].end != tokens[j].start
    return tokens[j].start if boundary else None


def _honorific_name_start(tokens: list[_Token], k: int) -> int | None:
    prev = tokens[k]
    if _is_name_token(prev) or _is_placeholder(prev.surface):
        return None
    if k > 0 and tokens[k - 1].pos[0] == "接頭辞" and tokens[k - 1].end == prev.start:
        return None  # お + ばあ + さん, ご + くろう + さん
    if prev.pos[0] == "接尾辞" and k > 0 and tokens[k - 1].end == prev.start and len(prev.surface) == 1:
        # ミツ子 split as ミツ + 子: the suffix belongs to the name.
        return _honorific_name_start(tokens, k - 1) if _name_like(tokens[k - 1]) else None
    return prev.start if _name_like(prev) else None


def _name_like(t: _Token) -> bool:
    if t.pos[0] != "名詞" or _is_placeholder(t.surface):
        return False
    if t.pos[1] == "固有名詞" and t.pos[2] != "地名":
        return True
    if t.oov:
        return True
    hiragana = re.fullmatch(f"[{_HIRAGANA}]{{2,}}", t.surface)
    return bool(hiragana) and t.surface not in _COMMON_WITH_HONORIFIC


# A nickname in quotes: 「ノブ」と呼ばれていた, 「清ちゃん」と呼んで, 「トシ」と名乗った.  A short kana
# word or kanji with a familiar suffix: a quoted term (「見守り」と呼ばれる仕組み) is not a person.
_QUOTED_NICKNAME = re.compile(
    rf"「(?P<name>[{_HIRAGANA}{_KATAKANA}]{{1,5}}|[{_KANJI}]{{1,2}}(?:ちゃん|やん|くん|さん|坊))」と?\s?(?:呼ば|呼ん|呼び|名乗)")


def _nickname_candidates(text: str) -> list[_Candidate]:
    """What a person is called, in quotes before 呼ぶ / 名乗る: 「ノブ」と呼んでほしい."""
    return [_Candidate(m.start("name"), m.end("name"), "honorific") for m in _QUOTED_NICKNAME.finditer(text)]


_KANA_IN_PARENTHESES = re.compile(
    rf"[ \u3000]?[（(][ \u3000]*(?P<kana>[{_HIRAGANA}{_KATAKANA}]+(?:[ \u3000][{_HIRAGANA}{_KATAKANA}]+)?)"
    r"[ \u3000]*[）)]")
_AGE_IN_PARENTHESES = re.compile(r"[ \u3000]?[（(][ \u3000]*(?P<age>[0-9０-９]{1,3})[ \u3000]*[）)]")


def _parenthesised_after_name(text: str, candidates: list[_Candidate]) -> list[_Candidate]:
    """What a name carries in parentheses: its reading, 東 義雄（ひがし よしお）, or its age in the
    newspaper style, 菅原 美和子（67）."""
    out = []
    for c in candidates:
        if c.kind in NAME_KINDS:
            kana = _KANA_IN_PARENTHESES.match(text, c.end)
            if kana:
                out.append(_Candidate(kana.start("kana"), kana.end("kana"), "kana_name"))
            age = _AGE_IN_PARENTHESES.match(text, c.end)
            if age:
                out.append(_Candidate(age.start("age"), age.end("age"), "age"))
    return out


# --- places -----------------------------------------------------------------------------------------

PREFECTURES = (
    "北海道", "青森", "岩手", "宮城", "秋田", "山形", "福島", "茨城", "栃木", "群馬", "埼玉", "千葉", "東京",
    "神奈川", "新潟", "富山", "石川", "福井", "山梨", "長野", "岐阜", "静岡", "愛知", "三重", "滋賀", "京都",
    "大阪", "兵庫", "奈良", "和歌山", "鳥取", "島根", "岡山", "広島", "山口", "徳島", "香川", "愛媛", "高知",
    "福岡", "佐賀", "長崎", "熊本", "大分", "宮崎", "鹿児島", "沖縄")
_PREFECTURE_PREFIX = re.compile("^(?:北海道|東京都|(?:京都|大阪)府|(?:" + "|".join(PREFECTURES[1:]) + ")県)")
# Above the prefecture or no place at all: never a finding.
_WIDE_AREAS = frozenset({
    "日本", "全国", "本土", "関東", "関西", "近畿", "東北", "北陸", "甲信越", "信越", "東海", "中部", "中国", "四国",
    "九州", "山陰", "山陽", "北関東", "南関東", "首都圏", "北日本", "西日本", "東日本", "道内", "県内", "県外"})
_MUNICIPAL_SUFFIXES = frozenset({"市", "区", "町", "村", "郡"})
_BLOCK = (r"(?:[ \u3000]?[0-9０-９一二三四五六七八九十]+[ \u3000]?(?:丁目|番地|番|号|条|[-－ー‐−]))+"
          r"[0-9０-９]*(?:号)?")
# What follows a place in an address: 字 names and block numbers (字中島123番地, 3条2丁目, 1-2-3).
_ADDRESS_TAIL = re.compile(rf"(?:[ \u3000]?大?字[{_KANJI}]{{1,5}}?(?={_BLOCK}|[ \u3000]?大?字))*(?:{_BLOCK})?")


def _place_candidates(text: str, tokens: list[_Token]) -> list[_Candidate]:
    """Municipalities and places below the prefecture (那覇市, 西成, 足立区千住1丁目2番3号).
    A prefecture alone (大阪府, 大阪) is not personal; 大阪市 is."""
    out: list[_Candidate] = []
    i = 0
    while i < len(tokens):
        start = _place_start(tokens, i)
        if start is None:
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and tokens[j].start == tokens[j - 1].end and _continues_place(tokens[j]):
            j += 1
        end = _ADDRESS_TAIL.match(text, tokens[j - 1].end).end()
        if text.endswith("字", 0, start):
            start -= 2 if text.endswith("大字", 0, start) else 1
        if end > start:
            out.append(_Candidate(start, end, "address"))
        i = j
    return out


def _place_start(tokens: list[_Token], i: int) -> int | None:
    """Where the place at token ``i`` starts in the text, or None when it is no place to flag."""
    t = tokens[i]
    followed_by_suffix = (i + 1 < len(tokens) and tokens[i + 1].surface in _MUNICIPAL_SUFFIXES
                          and tokens[i + 1].start == t.end)
    if t.pos[1] == "固有名詞" and t.pos[2] == "地名":
        if t.pos[3] == "国" or t.surface in _WIDE_AREAS or _is_placeholder(t.surface):
            return None
        prefix = _PREFECTURE_PREFIX.match(t.surface)
        rest = t.surface[prefix.end():] if prefix else t.surface
        if not rest or (rest in PREFECTURES and not followed_by_suffix):
            return None
        return t.start + (prefix.end() if prefix else 0)
    if followed_by_suffix and t.pos[0] == "名詞" and (t.oov or t.pos[1] == "固有名詞") and not _is_placeholder(t.surface):
        return t.start
    return None


def _continues_place(t: _Token) -> bool:
    return t.surface in _MUNICIPAL_SUFFIXES or (t.pos[1] == "固有名詞" and t.pos[2] == "地名")


# --- facilities -----------------------------------------------------------------------------------

# Longest first: 社会復帰促進センター is a prison (PFI), 保護観察所 is three tokens in Sudachi.
_FACILITY_HEADS = tuple(sorted({
    "刑務所", "刑務支所", "拘置所", "拘置支所", "少年院", "少年鑑別所", "鑑別所", "保護観察所", "社会復帰促進センター",
    "病院", "クリニック", "医院", "診療所", "園", "学園", "荘", "寮", "ホーム", "ハウス"}, key=len, reverse=True))
_FACILITY_HEAD_INITIALS = frozenset(h[0] for h in _FACILITY_HEADS)
# Words between a facility's own name and its type: 大阪[医療]刑務所, 松沢[記念]病院.
_FACILITY_MODIFIERS = frozenset({
    "医療", "女子", "少年", "精神", "精神科", "総合", "記念", "中央", "市立", "県立", "国立", "府立", "都立", "道立",
    "町立", "村立", "私立", "第一", "第二", "刑務"})
# Type words that take a name after them: グループホームつばさ, 救護施設ひかり.
_FACILITY_TYPES = frozenset({"ホーム", "施設", "作業所", "事業所", "老人ホーム", "特別養護老人ホーム", "ケアホーム"})
_GENERIC_KATAKANA = frozenset({
    "グループ", "ケア", "デイ", "ナーシング", "シルバー", "ショート", "ステイ", "ショートステイ", "シェア", "ホーム",
    "ケアハウス", "ハウス", "サービス", "センター", "スタッフ", "ヘルパー", "ページ"})


def _facility_candidates(text: str, tokens: list[_Token]) -> list[_Candidate]:
    """A facility's own name with its type: 府中刑務所, さくら園, グループホームつばさ.
    The type alone (刑務所, グループホーム, 特別養護老人ホーム) is not a finding."""
    out: list[_Candidate] = []
    for k, t in enumerate(tokens):
        head = None
        if text[t.start] in _FACILITY_HEAD_INITIALS:
            head = next((h for h in _FACILITY_HEADS if text.startswith(h, t.start)), None)
        if head and (k == 0 or tokens[k - 1].surface not in _FACILITY_HEADS):
            start = _facility_name_before(tokens, k)
            if start is not None:
                out.append(_Candidate(start, t.start + len(head), "facility"))
        if t.surface in _FACILITY_TYPES and k + 1 < len(tokens):
            name = tokens[k + 1]
            if name.start == t.end and _facility_name_like(name):
                out.append(_Candidate(_facility_type_start(tokens, k), name.end, "facility"))
    return out


def _facility_name_before(tokens: list[_Token], k: int) -> int | None:
    j = k - 1
    while j >= 0 and tokens[j].end == tokens[j + 1].start and (
            tokens[j].surface in _FACILITY_MODIFIERS or (tokens[j].pos[0] == "接尾辞" and _is_kana(tokens[j].surface))):
        j -= 1  # 大阪[医療]刑務所, ゆう[あい]荘
    if j < 0 or tokens[j].end != tokens[j + 1].start:
        return None
    head_is_suffix = tokens[k].pos[0] == "接尾辞"
    if not _facility_name_like(tokens[j], before_suffix=head_is_suffix):
        return None
    before = tokens[j - 1] if j else None
    if before and before.end == tokens[j].start and before.pos[1] == "固有名詞" and not _is_placeholder(before.surface):
        return before.start  # 島根 + あさひ + 社会復帰促進センター
    return tokens[j].start


def _facility_name_like(t: _Token, *, before_suffix: bool = False) -> bool:
    """A proper noun, an unknown word or a kana word names a facility (府中, さくら, サンライズ);
    a kanji common noun only before a suffix: 清風 + 園 (a suffix in Sudachi) is a name, 独身 + 寮
    (a noun) is not."""
    if t.pos[0] != "名詞" or _is_placeholder(t.surface) or t.surface in _GENERIC_KATAKANA:
        return False
    if t.pos[1] == "固有名詞" or t.oov or _KANA_RE.fullmatch(t.surface) and len(t.surface) >= 2:
        return True
    return before_suffix and t.pos[1] == "普通名詞"


def _facility_type_start(tokens: list[_Token], k: int) -> int:
    """グループ + ホーム, 自立 + 準備 + ホーム: the whole type phrase goes with the name."""
    j = k
    while j > 0 and k - j < 3 and tokens[j - 1].end == tokens[j].start and tokens[j - 1].pos[1] == "普通名詞":
        j -= 1
    return tokens[j].start


# --- names from the center's own records -----------------------------------------------------------

_KNOWN_KINDS = ("known_person", "known_staff")
_PLACE_SUFFIX = re.compile("[都道府県市区町村郡]")
_HIRAGANA_RE = re.compile(f"[{_HIRAGANA}]+")
_KATAKANA_RE = re.compile(f"[{_KATAKANA}]+")


def _known_candidates(folded: _Folded, terms: tuple[KnownTerm, ...]) -> list[_Candidate]:
    """Exact matches of the records' names, spaces ignored: 鈴木 一郎 = 鈴木一郎 = すずき いちろう
    (kana in either script), and the family or the given name alone when it has 2+ characters."""
    variants = _known_variants(terms)
    if not variants:
        return []
    squeezed, positions = _without_spaces(folded.kana)
    lengths = sorted({len(v) for v in variants}, reverse=True)
    out: list[_Candidate] = []
    i = 0
    while i < len(squeezed):
        hit = _longest_variant(squeezed, i, lengths, variants)
        if hit is None:
            i += 1
            continue
        length, kind, partial = hit
        start, end = positions[i], positions[i + length - 1] + 1
        if not partial or _part_stands_alone(folded.plain, start, end):
            out.append(_Candidate(*folded.span(start, end), kind))
            i += length
        else:
            i += 1
    return out


def _longest_variant(squeezed: str, i: int, lengths: list[int],
                     variants: dict[str, tuple[str, bool]]) -> tuple[int, str, bool] | None:
    for length in lengths:
        found = variants.get(squeezed[i:i + length])
        if found:
            return length, found[0], found[1]
    return None


def _known_variants(terms: tuple[KnownTerm, ...]) -> dict[str, tuple[str, bool]]:
    """Folded, space-free variant → (kind, is a family-or-given part).  Full names win over parts."""
    variants: dict[str, tuple[str, bool]] = {}
    parts: dict[str, tuple[str, bool]] = {}
    for term in terms:
        if term.kind not in _KNOWN_KINDS:
            raise ValueError(f"KnownTerm kind must be one of {_KNOWN_KINDS}, not {term.kind!r}")
        names = _name_parts(term.text or "")
        if len("".join(names)) < 2:
            continue  # an empty or one-character entry would match everywhere
        variants["".join(names)] = (term.kind, False)
        if len(names) > 1:
            for part in (names[0], names[-1]):
                if len(part) >= 2:
                    parts.setdefault(part, (term.kind, True))
    return {**parts, **variants}


def _name_parts(name: str) -> tuple[str, ...]:
    """A name folded like the text (NFKC, katakana as hiragana) and split into family and given
    parts: at its spaces, or where Sudachi sees 姓 then 名 when it has none (鈴木一郎).  Not
    cached: names from the records do not outlive the call."""
    folded = _Folded.of(name.strip()).kana
    parts = tuple(p for p in _SPACES.split(folded) if p)
    if len(parts) > 1:
        return parts
    tokens = _tokenize(name.strip())
    if len(tokens) == 2 and tokens[0].pos[3] == "姓" and tokens[1].pos[3] == "名":
        cut = tokens[1].start
        return _Folded.of(name.strip()[:cut]).kana, _Folded.of(name.strip()[cut:]).kana
    return parts


def _without_spaces(text: str) -> tuple[str, list[int]]:
    kept = [(ch, i) for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(ch for ch, _ in kept), [i for _, i in kept]


def _part_stands_alone(text: str, start: int, end: int) -> bool:
    """A family or given name alone, not part of a place (千葉 of 千葉県) nor of a longer word of
    the same script (はる in はるかに); a particle in the other script may follow (コタカが), and so
    may an honorific."""
    if _PLACE_SUFFIX.match(text, end):
        return False
    span = text[start:end]
    script = _HIRAGANA_RE if _HIRAGANA_RE.fullmatch(span) else _KATAKANA_RE if _KATAKANA_RE.fullmatch(span) else None
    if script is None:
        return True
    if start and script.match(text[start - 1]):
        return False
    after = text[end:end + 1]
    return not after or not script.match(after) or bool(_HONORIFIC_AFTER.match(text, end))


# --- merging -----------------------------------------------------------------------------------------


def _merge(candidates: list[_Candidate]) -> list[_Candidate]:
    """Overlapping candidates become one span (their union) of the kind of the longest one;
    among names the most specific name kind wins (a 登録者 over a 人名 over a 敬称)."""
    merged: list[_Candidate] = []
    cluster: list[_Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.start, -c.end)):
        if cluster and c.start >= max(x.end for x in cluster):
            merged.append(_resolve(cluster))
            cluster = []
        cluster.append(c)
    if cluster:
        merged.append(_resolve(cluster))
    return merged


def _resolve(cluster: list[_Candidate]) -> _Candidate:
    start, end = min(c.start for c in cluster), max(c.end for c in cluster)
    longest = max(cluster, key=lambda c: (c.end - c.start, _RANK[c.kind]))
    kind = longest.kind
    if kind in NAME_KINDS:
        kind = max((c.kind for c in cluster if c.kind in NAME_KINDS), key=_RANK.__getitem__)
    return _Candidate(start, end, kind)


_DOTTED_AFTER = re.compile(f"(?:[・･=＝][{_KATAKANA}]+)+")
_DOTTED_BEFORE = re.compile(f"(?:[{_KATAKANA}]+[・･=＝])+$")


def _extend_name(text: str, c: _Candidate) -> _Candidate:
    """A katakana name goes on across its middle dots (グエン・ヴァン・ナム), and a name's honorific
    goes with it, so that the placeholder (Aさん) replaces the whole."""
    if c.kind not in NAME_KINDS:
        return c
    start, end = c.start, c.end
    if _KANA_RE.fullmatch(text[end - 1]):
        dotted = _DOTTED_AFTER.match(text, end)
        end = dotted.end() if dotted else end
    if _KANA_RE.fullmatch(text[start]):
        dotted = _DOTTED_BEFORE.search(text, max(0, start - 30), start)
        start = dotted.start() if dotted else start
    m = _HONORIFIC_AFTER.match(text, end)
    return _Candidate(start, m.end() if m else end, c.kind)


# --- suggestions ---------------------------------------------------------------------------------


def _with_suggestions(text: str, spans: list[_Candidate], tokens: list[_Token]) -> list[Finding]:
    letters = _NameLetters(text, tokens)
    return [Finding(c.kind, c.start, c.end, text[c.start:c.end], _suggest(text, c, letters)) for c in spans]


def _suggest(text: str, c: _Candidate, letters: "_NameLetters") -> str:
    span = text[c.start:c.end]
    if c.kind in NAME_KINDS:
        return letters.placeholder(c.start, c.end)
    if c.kind == "date":
        return _suggest_date(text, c)
    if c.kind == "age":
        return _suggest_age(span)
    if c.kind == "address":
        return _suggest_address(span)
    if c.kind == "facility":
        return _suggest_facility(span)
    if c.kind == "case_number":
        return "〇〇事件" if "号" in span else "〇〇-〇〇〇〇"
    return {"phone": "〇〇-〇〇〇〇-〇〇〇〇", "email": "〇〇〇@〇〇〇", "postal_code": "〒〇〇〇-〇〇〇〇"}[c.kind]


class _NameLetters:
    """Aさん, Bさん ...: one letter per distinct person within one call.  Names are compared by
    reading, so 中島 久雄, なかじま ひさお and 中島さん share a letter; letters the text already
    uses as placeholders are skipped."""

    _USED = re.compile(r"(?<![A-Za-z])([A-Z])(?=さん|氏|様|君|くん|ちゃん)")

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self._text, self._tokens = text, tokens
        self._starts = [t.start for t in tokens]
        self._keys: list[tuple[str, str]] = []
        used = set(self._USED.findall(unicodedata.normalize("NFKC", text)))
        self._free = [chr(c) for c in range(ord("A"), ord("Z") + 1) if chr(c) not in used]

    def placeholder(self, start: int, end: int) -> str:
        span = self._text[start:end]
        honorific = next((h for h in _HONORIFICS if span.endswith(h)), "")
        return self._letter(self._reading_key(start, end - len(honorific))) + (honorific or "さん")

    def _reading_key(self, start: int, end: int) -> str:
        """The name as its katakana reading, spaces left out (中島 久雄 → ナカジマヒサオ), from the
        text's own tokens; characters no token inside the span covers are read as written."""
        parts, position = [], start
        for t in self._tokens[bisect_left(self._starts, start):]:
            if t.end > end:
                break
            known = t.reading and t.reading != "キゴウ"
            parts.append(self._text[position:t.start] + (t.reading if known else t.surface))
            position = t.end
        parts.append(self._text[position:end])
        folded = _Folded.of("".join(parts)).kana
        return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in folded if not c.isspace())

    def _letter(self, key: str) -> str:
        for known, letter in self._keys:
            if key and (known.startswith(key) or known.endswith(key) or key.startswith(known)):
                return letter
        index = len(self._keys)
        letter = self._free[index] if index < len(self._free) else f"X{index + 1}"
        self._keys.append((key, letter))
        return letter


def _suggest_date(text: str, c: _Candidate) -> str:
    """An exact date becomes its fiscal year (令和5年3月14日 → 令和4年度); a birth date its decade
    (昭和22年8月15日生まれ → 昭和20年代); a day without a year 某日."""
    plain = unicodedata.normalize("NFKC", text[c.start:c.end])
    parsed = _parse_date(plain)
    if parsed is None:
        return "某日"
    year, month, era = parsed
    if _BIRTH_AFTER.match(text, c.end) or re.search(r"生年月日[:：]?\s*$", text[max(0, c.start - 8):c.start]):
        return _decade_label(year, era)
    fiscal = year - 1 if month and month <= 3 else year
    return _year_label(fiscal, era) + ("度" if month else "")


def _parse_date(plain: str) -> tuple[int, int | None, bool] | None:
    """(western year, month or None, written in the Japanese era?) or None without a year."""
    for pattern in (_WAREKI, _ABBREVIATED_DATE, _SEIREKI, _NUMERIC_DATE):
        m = pattern.search(plain)
        if m is None:
            continue
        year = _kanji_number(m.group("y"))
        era = m.groupdict().get("era")
        if year is None:
            continue
        return (_ERA_YEARS[era] + year if era else year), _group_number(m, "m"), bool(era)
    return None


def _year_label(year: int, wareki: bool) -> str:
    if not wareki:
        return f"{year}年"
    for name, base in (("令和", 2018), ("平成", 1988), ("昭和", 1925), ("大正", 1911), ("明治", 1867)):
        if year > base:
            n = year - base
            return f"{name}{'元' if n == 1 else n}年"
    return f"{year}年"


def _decade_label(year: int, wareki: bool) -> str:
    if not wareki:
        return f"{year // 10 * 10}年代"
    for name, base in (("令和", 2018), ("平成", 1988), ("昭和", 1925), ("大正", 1911), ("明治", 1867)):
        if year > base:
            return f"{name}{(year - base) // 10 * 10}年代" if year - base >= 10 else f"{name}初期"
    return f"{year // 10 * 10}年代"


def _suggest_age(span: str) -> str:
    m = re.search(r"\d+|[一二三四五六七八九十百]+", unicodedata.normalize("NFKC", span))
    age = _kanji_number(m.group()) if m else None
    if age is None:
        return "〇〇代"
    return "10歳未満" if age < 10 else f"{age // 10 * 10}代"


def _suggest_address(span: str) -> str:
    """The coarsest municipal unit named: 大阪市北区梅田 → 某市, 足立区千住 → 某区, 八代郡氷川町 → 某町,
    町田市 → 某市 (a unit's character opening the name is part of the name)."""
    for unit in "市区町村":
        if span.find(unit, 1) > 0:
            return f"某{unit}"
    return "某地域"


# (what the name contains, the facility type its placeholder keeps); the first match wins.
_FACILITY_LABELS = (
    ("刑務", "刑務所"), ("社会復帰促進センター", "刑務所"), ("拘置", "拘置所"), ("少年院", "少年院"),
    ("鑑別所", "少年鑑別所"), ("保護観察所", "保護観察所"), ("病院", "病院"), ("クリニック", "病院"), ("医院", "病院"),
    ("診療所", "病院"), ("グループホーム", "グループホーム"), ("老人ホーム", "老人ホーム"))


def _suggest_facility(span: str) -> str:
    label = next((label for key, label in _FACILITY_LABELS if key in span), "施設")
    return f"〇〇{label}"
