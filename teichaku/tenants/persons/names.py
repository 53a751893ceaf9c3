"""Name normalisation for search: two-character names and kana must be found.

Most surnames are two kanji, so trigram indexes cannot find them.  We store a normalised form
(NFKC, no spaces, katakana folded to hiragana) and its character bigrams; on PostgreSQL the
bigrams are indexed with GIN (see the migration), on SQLite the normalised form is matched.
"""
from __future__ import annotations

import unicodedata


def to_hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return to_hiragana("".join(text.split())).lower()


def bigrams(text: str) -> list[str]:
    text = normalize(text)
    if len(text) < 2:
        return [text] if text else []
    return sorted({text[i:i + 2] for i in range(len(text) - 1)})


def name_grams(*parts: str) -> list[str]:
    """Every bigram of every normalised part (a one-character part is kept whole)."""
    grams: set[str] = set()
    for part in parts:
        grams.update(bigrams(part))
    return sorted(grams)


def search_key(*parts: str) -> str:
    """The text stored for search: each normalised part, space-separated."""
    return " ".join(normalize(p) for p in parts if p)
