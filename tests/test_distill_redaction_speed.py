"""The fast paths of the text signals give exactly what the plain implementations give.

``Redactor`` skips a pattern when a cheap test says it cannot match, and ``detect_language``
counts distinct characters and words; the oracles below are the implementations they replaced.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from moonshine_core.distill import textsignals as ts
from moonshine_core.distill.textsignals import Redactor, detect_language


class FullScanRedactor(Redactor):
    """Every pattern scanned over every text: the redactor before the pre-filter."""

    def _sub(self, pattern, kind, text, secret=False):
        def replace(match):
            if not ts._valid(kind, match.group(0), match):
                return match.group(0)
            self.counts[("secret:" if secret else "pii:") + kind] += 1
            return f"[REDACTED_{kind.upper()}]"

        return pattern.sub(replace, text)


def old_detect_language(text: str) -> tuple[str, float]:
    prose = ts._CODE_BLOCK.sub(" ", text)[:20000]
    letters = [c for c in prose if c.isalpha()]
    if not letters:
        return "und", 0.0
    scripts: Counter[str] = Counter()
    latin = 0
    for char in letters:
        point = ord(char)
        if point < 0x250:
            latin += 1
            continue
        for tag, low, high in ts._SCRIPTS:
            if low <= point <= high:
                scripts[tag] += 1
                break
    if scripts:
        tag, count = scripts.most_common(1)[0]
        if scripts.get("ja") and tag == "zh":
            tag, count = "ja", scripts["ja"] + scripts["zh"]
        if count > latin:
            return tag, round(count / len(letters), 3)
    words = [unicodedata.normalize("NFC", w.lower()) for w in ts._WORD.findall(prose)]
    if not words:
        return "und", 0.0
    hits = {lang: sum(1 for w in words if w in set(stops)) for lang, stops in ts._STOPWORDS.items()}
    best = max(sorted(hits), key=lambda lang: hits[lang])
    if hits[best] == 0:
        return "und", 0.0
    return best, round(hits[best] / sum(hits.values()), 3)


#: Pieces that match (or nearly match) every pattern, in both cases and with odd case-folding letters.
PIECES = [
    "jane.doe@example.org", "a@b", "user@mail", "+44 20 7946 0958", "(555) 123-4567", "+1-202-555-0143",
    "4111 1111 1111 1111", "4532015112830366", "0.4532015112830366", "8.8.8.8", "192.168.1.1", "1.2.3",
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "AKIAIOSFODNN7EXAMPLE", "AKIAXXXXXXXXXXXXXXXX",
    "ghp_" + "a1B2" * 10, "github_pat_" + "x9" * 22, "glpat-abcdefghij0123456789", "sk-ant-" + "Zz9_" * 6,
    "sk-proj-" + "Ab1-" * 6, "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "AIza" + "B" * 35, "xoxb-1234567890-abc",
    "SG." + "a" * 22 + "." + "b" * 43, "npm_" + "c" * 36, "pypi-AgEIcHlwaS5vcmc" + "d" * 50,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "postgres://admin:hunter22@db.example.com", "https://example.com/x", "DB_PASSWORD=s3cretVal9x",
    'api_key: "Q8x7Zp2Lm9Rt"', "PASSWORD = os.getenv('X')", "İPASSWORD=abc12345zz", "ſecret=abc12345zz",
    "auth_token='Kk1Kk2Kk3Kk4'", "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
    "Jane", "Doe", "Jane Doe's", "JANE", "Leeds", "leeds", "[REDACTED_EMAIL]", "Víctor", "Victor",
    "the", "le", "und", "é", "não", "日本語", "ひらがな", "Привет", "```code block```", "`x = 1`", ":", "=", "@",
    "\n", " ", ", ", ". ", "-", "(", ")", "+", "0", "1234", "5678",
]
TEXTS = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=14).map(
    lambda parts: "".join(p if i % 2 else p + " " for i, p in enumerate(parts)))
TERMS = [("Jane Doe", "name"), ("Leeds", "place"), ("Víctor", "name"), ("jane.doe@example.org", "personal")]


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_redaction_matches_the_full_scan(text):
    fast, full = Redactor(terms=TERMS), FullScanRedactor(terms=TERMS)
    assert fast.redact(text) == full.redact(text)
    assert fast.counts == full.counts


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_redaction_matches_the_full_scan_on_any_text(text):
    fast, full = Redactor(), FullScanRedactor()
    assert fast.redact(text) == full.redact(text) and fast.counts == full.counts


def test_every_pattern_has_a_prefilter_and_the_pieces_hit_them():
    kinds = {k for k, _ in ts.SECRET_PATTERNS + ts.PII_PATTERNS}
    assert set(ts._MAY_MATCH) == kinds
    found: Counter[str] = Counter()
    for piece in PIECES:
        redactor = FullScanRedactor()
        redactor.redact(piece)
        found.update(redactor.counts)
    assert {k.split(":", 1)[1] for k in found} == kinds   # the strategy reaches every pattern


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_language_matches_the_per_letter_count(text):
    assert detect_language(text) == old_detect_language(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_language_matches_on_any_text(text):
    assert detect_language(text) == old_detect_language(text)


def test_language_examples():
    assert detect_language("the cat is on the mat and it is happy")[0] == "en"
    assert detect_language("je suis le chat et il est dans la maison")[0] == "fr"
    assert detect_language("これは日本語の文章です")[0] == "ja"
    assert detect_language("```only code```") == ("und", 0.0)
    assert re.fullmatch(r"\w\w", detect_language("Привет, как дела")[0])
