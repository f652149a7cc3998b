"""Cheap, deterministic text signals shared by the scorers and the lanes.

Everything here is regex and counting: no model weights, no network, so a
distillation is reproducible on any machine (distillation.md section 0.7).
Each detector errs on the side of *marking*: lanes and the mix decide what to
drop, and every row says which signals it carries.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

#: Bumped when a detector changes, so rows say which version produced their signals.
SIGNALS_VERSION = "textsignals-2"

# -- refusals ------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:'|no)t|cannot|won't|am unable to)"
    r"|I can(?:'|no)t (?:help|assist|comply|provide|do that) with"
    r"|I(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)"
    r"|as an AI(?: language model)?,? I (?:can(?:'|no)t|cannot|don't|do not)"
    r"|I must (?:decline|refuse)"
    r"|I won't be able to (?:help|assist|provide))",
    re.IGNORECASE)


#: Heads of turns remembered by the head-only detectors: the lanes ask about the same turns
#: once per row (a KTO row per answer repeats the conversation's earlier turns).
_HEADS_REMEMBERED = 1 << 14


def is_refusal(text: str) -> bool:
    """True when an assistant answer opens like a refusal (only its first 400 characters count)."""
    return _opens_with_refusal(text[:400])


@lru_cache(maxsize=_HEADS_REMEMBERED)
def _opens_with_refusal(head: str) -> bool:
    return bool(_REFUSAL.search(head))


# -- user corrections / pushback -----------------------------------------------------------
_CORRECTION = re.compile(
    r"^\s*(?:no|nope|wrong|incorrect|that'?s (?:not|wrong|incorrect)|this is (?:not|wrong)|not quite)\b"
    r"|\b(?:(?:still|it|this|that|code) (?:doesn'?t|does not|didn'?t|did not|won'?t) (?:work|run|compile)"
    r"|(?:still|it'?s still) (?:fails|failing|broken|wrong|not working|the same error)"
    r"|(?:that|this|it) (?:is|was|'s) (?:wrong|incorrect|not (?:right|correct|what I))"
    r"|you (?:made a mistake|are wrong|'re wrong|forgot|missed|misunderstood|didn'?t)"
    r"|I (?:get|got|am getting|'m getting) (?:an? |the )?(?:error|exception|traceback)"
    r"|(?:doesn'?t|does not) work|not working|same error|try again"
    r"|(?:ce n'est pas|c'est faux|ça ne marche pas|no funciona|está mal|funktioniert nicht|falsch))",
    re.IGNORECASE)
_PASTED_ERROR = re.compile(
    r"Traceback \(most recent call last\)|^\s*(?:\w+Error|\w+Exception): |error\[E\d+\]|"
    r"^\s*at [\w.$]+\(.*:\d+\)|npm ERR!|SyntaxError|Segmentation fault|FAILED ",
    re.MULTILINE)
_CONFIRMATION = re.compile(
    r"^\s*(?:yes|yep|correct|right|exactly|perfect|great|thanks|thank you|thx|works|it works|that works|"
    r"that'?s (?:right|correct|it)|got it|merci|parfait|gracias|danke)\b",
    re.IGNORECASE)


def is_correction(text: str) -> bool:
    """True when a user turn pushes back on the previous answer (a correction, a failure report,
    a pasted error). Only the head of the turn counts: long pastes are judged by how they open."""
    return _opens_as_correction(text[:600])


@lru_cache(maxsize=_HEADS_REMEMBERED)
def _opens_as_correction(head: str) -> bool:
    return bool(_CORRECTION.search(head) or _PASTED_ERROR.search(head))


def is_confirmation(text: str) -> bool:
    """True when a user turn opens by accepting the previous answer and is not also a correction."""
    return bool(_CONFIRMATION.search(text[:200])) and not is_correction(text)


def has_pasted_error(text: str) -> bool:
    """True when a text carries a stack trace or compiler/test error output."""
    return bool(_PASTED_ERROR.search(text))


# -- identity mentions ---------------------------------------------------------------------
_IDENTITY = re.compile(
    r"\b(?:I(?:'m| am) (?P<a>ChatGPT|Claude|DeepSeek|Qwen|GPT-\d[\w.-]*)"
    r"|(?:developed|created|made|trained) by (?P<b>OpenAI|Anthropic|DeepSeek|Alibaba(?: Cloud)?))\b")


def identity_mentions(text: str) -> list[str]:
    """Assistant self-identifications ("I'm Claude", "trained by OpenAI"), sorted and unique."""
    found = {(m.group("a") or m.group("b")) for m in _IDENTITY.finditer(text)}
    return sorted(x for x in found if x)


# -- secrets and PII -----------------------------------------------------------------------
#: (type, pattern) pairs; secrets first so a key that also looks like something else is a secret.
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z ]+ )?PRIVATE KEY-----")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("gitlab_token", re.compile(r"\bglpat-[0-9A-Za-z_-]{20,}")),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("stripe_key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("sendgrid_key", re.compile(r"\bSG\.[\w-]{22}\.[\w-]{43}\b")),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi_token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("url_credentials", re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,64}:[^\s:/@]{3,}@[\w.-]+")),
    # ``DB_PASSWORD=…``, ``"api_key": "…"``, ``client_secret = '…'``: a secret-named key (with any prefix,
    # which stays, or suffix), ``:`` or ``=``, and a value of 8+ characters with a letter and a digit that is not a
    # reference (``os.getenv(...)``, ``${VAR}``, ``settings.X``).
    ("password_assignment", re.compile(
        r"(?i)(?=[pasrk])(?:pass(?:word|wd|phrase)|pwd|secret|(?:api|access|private)[_-]?key"
        r"|(?:access|auth|refresh)[_-]?token)[\w.-]*?['\"]?\s*[:=]\s*['\"]?"
        r"(?P<value>(?=[^\s'\"]*\d)(?=[^\s'\"]*[A-Za-z])[^\s'\"]{8,})")),
)
#: Secrets whose text is a random key after a fixed prefix: a body of placeholder characters only
#: (``AKIAXXXXXXXXXXXXXXXX``, ``sk-xxxx…``, ``ghp_************``) is documentation, not a key.
_PLACEHOLDER_BODY = re.compile(r"^(?:AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|sk-ant-|sk-proj-|sk-svcacct-|sk-"
                               r"|[rs]k_(?:live|test)_|AIza|xox[abposr]-|SG\.|npm_|pypi-)?[xX*#.0_-]+$")
_KEYLIKE = frozenset({"aws_access_key", "github_token", "gitlab_token", "anthropic_key", "openai_key", "stripe_key",
                      "google_api_key", "slack_token", "sendgrid_key", "npm_token", "pypi_token"})
_REFERENCE = re.compile(r"[({$%<\[]|^(?:os|process|env|settings|config|self|this|ENV)\.", re.IGNORECASE)
PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    # A card number is one run of 13-19 digits, or 4-digit groups split by one kind of separator
    # (4-4-4-4[-1..7], Amex/Diners 4-6-5/4-6-4), starting 2-6 (every major scheme). It is never part
    # of a number: no word character, ``.``, sign or "digit," before it, no ``.5``/``,5`` after it,
    # so floats (0.4532015112830366), prices, exponents and hex in text and tool output are left alone.
    ("credit_card", re.compile(
        r"(?<![\w.+-])(?<!\d,)"
        r"(?:[2-6]\d{12,18}|[2-6]\d{3}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,7}"
        r"|3\d{3}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5})"
        r"(?![\w]|[.,]\d)")),
    ("phone", re.compile(r"(?<![\w.])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w.])"
                         r"|(?<![\w.])\(\d{3}\) ?\d{3}-\d{4}(?![\w.])")),
    ("ipv4", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")),
)

#: Characters ``re.IGNORECASE`` matches to an ASCII letter that ``str.lower`` does not turn into it.
_IGNORECASE_ODD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def _lowered(text: str) -> str:
    return text.lower().translate(_IGNORECASE_ODD)


def _any(*literals: str):
    return lambda text: any(literal in text for literal in literals)


def _search(pattern: str):
    return re.compile(pattern).search


#: A cheap test per pattern that is true whenever the pattern can match (a literal or a short run
#: every match contains), so most texts skip most of the 20 full scans; each is checked on the text
#: as the earlier passes left it, so redaction is exactly what the full scans give
#: (tests/test_distill_redaction_speed.py checks it against them).
_MAY_MATCH = {
    "private_key": _any("PRIVATE KEY-----"),
    "aws_access_key": _any("AKIA", "ASIA"),
    "github_token": _any("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": _any("glpat-"),
    "anthropic_key": _any("sk-ant-"),
    "openai_key": _any("sk-"),
    "stripe_key": _any("k_live_", "k_test_"),
    "google_api_key": _any("AIza"),
    "slack_token": _any("xox"),
    "sendgrid_key": _any("SG."),
    "npm_token": _any("npm_"),
    "pypi_token": _any("pypi-AgEIcHlwaS5vcmc"),
    "jwt": _any(".eyJ"),
    "url_credentials": lambda text: "://" in text and "@" in text,
    "password_assignment": lambda text: ("=" in text or ":" in text) and _any(
        "pass", "pwd", "secret", "key", "token")(_lowered(text)),
    "email": _any("@"),
    "credit_card": _search(r"[2-6]\d{3}"),
    "phone": _search(r"\+\d|\(\d{3}\)"),
    "ipv4": _search(r"\d\.\d"),
    "iban": _search(r"[A-Z]{2}\d{2}"),
}


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for index, char in enumerate(digits):
        value = int(char)
        if index % 2 == parity:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _private_ip(text: str) -> bool:
    parts = [int(p) for p in text.split(".")]
    return (parts[0] in (0, 10, 127) or (parts[0] == 172 and 16 <= parts[1] <= 31)
            or (parts[0] == 192 and parts[1] == 168) or parts[0] >= 224 or (parts[0] == 169 and parts[1] == 254))


def _valid(kind: str, text: str, match: re.Match[str] | None = None) -> bool:
    """Validators cut regex false positives (datatrove keeps only public IPs; cards need Luhn;
    keys need the variety of a random string; assignments a literal value)."""
    if kind in _KEYLIKE:
        return not _PLACEHOLDER_BODY.match(text)
    if kind == "password_assignment":
        value = match.group("value") if match is not None else text
        return len(set(value)) >= 6 and not _REFERENCE.search(value)
    if kind == "credit_card":
        digits = re.sub(r"\D", "", text)
        return 13 <= len(digits) <= 19 and len(set(digits)) > 2 and _luhn(digits)
    if kind == "ipv4":
        return not _private_ip(text)
    if kind == "phone":
        return 8 <= len(re.sub(r"\D", "", text)) <= 15
    return True


#: Kinds of profile term and their placeholder (``[REDACTED_NAME]``); a bare literal is ``personal``.
TERM_KINDS = ("name", "place", "personal")
_PLACEHOLDER = re.compile(r"\[REDACTED_[A-Z0-9_]+\]")
#: Letters and digits a Latin, Greek or Cyrillic term may not touch (so "Ann" never matches inside
#: "Annual"); scripts written without spaces (CJK, kana, Hangul, Thai) need no boundary, so a
#: name followed by a particle ("DONALD님") still matches.
_ALNUM = "0-9A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u0370-\u03ff\u0400-\u052f"
_SPACED = re.compile(f"[{_ALNUM}]")
#: After a term: English possessive and plural forms the data shows ("Robert's", "Roberts'", "Leeds'").
_SUFFIX = "(?:['\u2019]s|s['\u2019]?|['\u2019])?"


def fold(text: str) -> str:
    """The matching key of a term: NFKC, case-folded, accents removed, one space, one apostrophe."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("\u2019", "'")
    return " ".join(text.split())


_LEFT = f"(?<![{_ALNUM}])"
_RIGHT = f"(?={_SUFFIX}(?![{_ALNUM}]))"


def _term_body(term: str) -> str:
    return r"\s+".join("['\u2019]".join(re.escape(p) for p in word.replace("\u2019", "'").split("'"))
                       for word in term.split())


def _terms_pattern(terms: list[str]) -> str:
    """Terms with a letter or digit at both ends share one pair of boundaries (4x faster than one
    pair each); the others carry the boundaries their ends need."""
    spaced = [t for t in terms if _SPACED.match(t[0]) and _SPACED.match(t[-1])]
    others = [(_LEFT if _SPACED.match(t[0]) else "") + _term_body(t) + (_RIGHT if _SPACED.match(t[-1]) else "")
              for t in terms if t not in spaced]
    groups = ([f"{_LEFT}(?:{'|'.join(_term_body(t) for t in spaced)}){_RIGHT}"] if spaced else []) + others
    return "|".join(groups)


class _Terms:
    """One case-insensitive pattern for a set of terms (longest first), each mapped to its kind.

    Accented terms also match their unaccented spelling ("Víctor" and "Victor").
    Placeholders already in the text are matched first and left alone, so a
    term never rewrites ``[REDACTED_EMAIL]``.
    """

    def __init__(self, pairs: list[tuple[str, str]]):
        self.kinds: dict[str, str] = {}
        spellings: set[str] = set()
        for value, kind in pairs:
            value = " ".join(value.split())
            if not value:
                continue
            for spelling in {value, unicodedata.normalize("NFC", value), fold(value)}:
                spellings.add(spelling)
            key = fold(value)
            if key not in self.kinds or TERM_KINDS.index(kind) < TERM_KINDS.index(self.kinds[key]):
                self.kinds[key] = kind
        ordered = sorted(spellings, key=lambda w: (-len(w), w))
        self.pattern = re.compile(f"(?P<placeholder>{_PLACEHOLDER.pattern})|(?P<term>{_terms_pattern(ordered)})",
                                  re.IGNORECASE) if ordered else None

    def sub(self, text: str, counts: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group("placeholder"):
                return match.group(0)
            kind = self.kinds.get(fold(match.group(0)), "personal")
            counts["pii:" + kind] += 1
            return f"[REDACTED_{kind.upper()}]"

        return self.pattern.sub(replace, text) if self.pattern is not None else text


class Redactor:
    """Finds and replaces secrets and PII with ``[REDACTED_<TYPE>]`` placeholders, counting them.

    ``literals`` are exact strings removed as ``personal``; ``terms`` are
    ``(value, kind)`` pairs with kind ``name``, ``place`` or ``personal`` (the
    profile values :func:`moonshine_core.distill.personal.profile_terms`
    collects from the export's personal side records and ``[redact] terms``).
    Every term matches in any case, accented or not, with the possessive and
    plural endings the data shows ("Robert's" becomes "[REDACTED_NAME]'s"), and
    never inside a longer word. Order: ``personal`` terms (e-mails, phones,
    configured terms), then secrets, then PII patterns, then names and places,
    so an address that holds a name is removed whole as an e-mail.
    """

    #: Characters of redacted text kept for reuse before the cache starts over (bounds memory).
    CACHE_CHARS = 32 * 1024 * 1024

    def __init__(self, literals: list[str] | None = None, terms: list[tuple[str, str]] | None = None):
        self.counts: Counter[str] = Counter()
        pairs = [(w, "personal") for w in (literals or []) if len(w.strip()) >= 4]
        pairs += [(str(t[0]), str(t[1]) if t[1] in TERM_KINDS else "personal") for t in (terms or [])]
        self._exact = _Terms([p for p in pairs if p[1] == "personal"])
        self._profile = _Terms([p for p in pairs if p[1] != "personal"])
        # Shared by every fork: lanes put the same prompt history in many rows of one conversation
        # (a KTO or DPO row per answer), and redacting it again for each row made distill quadratic.
        self._cache: dict[str, tuple[str, Counter[str]]] = {}
        self._cached_chars = [0]

    def fork(self) -> "Redactor":
        """A redactor with the same terms, the same cache and fresh counts (one per row)."""
        other = Redactor.__new__(Redactor)
        other.counts = Counter()
        other._exact, other._profile = self._exact, self._profile
        other._cache, other._cached_chars = self._cache, self._cached_chars
        return other

    def redact(self, text: str) -> str:
        """``text`` with every secret, PII pattern and profile term replaced; counts added to :attr:`counts`."""
        if not text:
            return text
        hit = self._cache.get(text)
        if hit is None:
            found: Counter[str] = Counter()
            hit = (self._redact(text, found), found)
            if self._cached_chars[0] + len(text) > self.CACHE_CHARS:
                self._cache.clear()
                self._cached_chars[0] = 0
            self._cache[text] = hit
            self._cached_chars[0] += len(text)
        self.counts.update(hit[1])
        return hit[0]

    def _redact(self, text: str, counts: Counter[str]) -> str:
        saved, self.counts = self.counts, counts
        try:
            return self._redact_all(text)
        finally:
            self.counts = saved

    def _redact_all(self, text: str) -> str:
        text = self._exact.sub(text, self.counts)
        for kind, pattern in SECRET_PATTERNS:
            text = self._sub(pattern, kind, text, secret=True)
        for kind, pattern in PII_PATTERNS:
            text = self._sub(pattern, kind, text)
        return self._profile.sub(text, self.counts)

    def _sub(self, pattern: re.Pattern[str], kind: str, text: str, secret: bool = False) -> str:
        if not _MAY_MATCH[kind](text):
            return text

        def replace(match: re.Match[str]) -> str:
            if not _valid(kind, match.group(0), match):
                return match.group(0)
            self.counts[("secret:" if secret else "pii:") + kind] += 1
            return f"[REDACTED_{kind.upper()}]"

        return pattern.sub(replace, text)

    @property
    def secrets(self) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith("secret:"))

    @property
    def pii(self) -> int:
        return sum(v for k, v in self.counts.items() if not k.startswith("secret:"))

    def types(self) -> list[str]:
        return sorted(self.counts)


def find_sensitive(text: str) -> Counter[str]:
    """Counts of secrets and PII in ``text`` by type (``secret:aws_access_key``, ``pii:email``)."""
    redactor = Redactor()
    redactor.redact(text)
    return redactor.counts


# -- language ------------------------------------------------------------------------------
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_SCRIPTS = (  # (language or script tag, first code point, last code point)
    ("ja", 0x3040, 0x30FF), ("ko", 0xAC00, 0xD7AF), ("zh", 0x4E00, 0x9FFF), ("ru", 0x0400, 0x04FF),
    ("he", 0x0590, 0x05FF), ("ar", 0x0600, 0x06FF), ("hi", 0x0900, 0x097F), ("el", 0x0370, 0x03FF),
    ("th", 0x0E00, 0x0E7F),
)
_STOPWORDS = {
    "en": "the and is are to of in that it you for with this be on not have what how can".split(),
    "fr": "le la les et est des une un que qui pour dans pas vous sur ce avec je il".split(),
    "es": "el la los las y es que de en un una por para con no se lo como".split(),
    "de": "der die das und ist nicht ich sie mit auf für ein eine den zu es wie".split(),
    "pt": "o a os as e é que de do da em um uma para com não se você como".split(),
    "it": "il lo la gli e è che di un una per con non si come sono questo".split(),
    "nl": "de het een en is van dat niet ik je met op voor zijn wat hoe".split(),
}
#: Built once: the languages a stop word counts for.
_STOP_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _stops in _STOPWORDS.items():
    for _stop in set(_stops):
        _STOP_LANGS[_stop] = _STOP_LANGS.get(_stop, ()) + (_lang,)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
#: In ASCII text the words are the runs of letters: everything else becomes a space.
_ASCII_NOT_LETTERS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalpha()})


def _script_of(char: str) -> str | None:
    """``latin`` below U+0250, else the tag of the first :data:`_SCRIPTS` range holding ``char``."""
    point = ord(char)
    if point < 0x250:
        return "latin"
    return next((tag for tag, low, high in _SCRIPTS if low <= point <= high), None)


def detect_language(text: str) -> tuple[str, float]:
    """``(code, confidence)`` of the prose in ``text`` (code blocks removed); ``("und", 0.0)`` when unsure.

    Scripts decide non-Latin languages (Japanese wins over Chinese when kana is
    present); Latin text is judged by stop-word hits for seven languages. It is
    coarse by design: a bundled model would need numpy 2 and megabytes of
    weights for a signal that only labels rows (see docs/decisions.md).
    """
    prose = _CODE_BLOCK.sub(" ", text)[:20000]
    if prose.isascii():
        # Most payloads: every letter is Latin and the words are the runs of ASCII letters.
        return _stopword_language(Counter(prose.lower().translate(_ASCII_NOT_LETTERS).split()))
    # Counted over distinct characters and distinct words (``Counter`` runs in C): a long text
    # has few of either, and this runs on every row's whole payload.
    letters, latin = 0, 0
    scripts: Counter[str] = Counter()
    for char, n in Counter(prose).items():
        if not char.isalpha():
            continue
        letters += n
        script = _script_of(char)
        if script == "latin":
            latin += n
        elif script is not None:
            scripts[script] += n
    if not letters:
        return "und", 0.0
    if scripts:
        tag, count = scripts.most_common(1)[0]
        if scripts.get("ja") and tag == "zh":
            tag, count = "ja", scripts["ja"] + scripts["zh"]
        if count > latin:
            return tag, round(count / letters, 3)
    words: Counter[str] = Counter()
    for word, n in Counter(_WORD.findall(prose)).items():
        words[unicodedata.normalize("NFC", word.lower())] += n
    return _stopword_language(words)


def _stopword_language(words: Counter[str]) -> tuple[str, float]:
    """The language whose stop words are most of the stop-word hits among ``words`` (lower-cased, NFC)."""
    if not words:
        return "und", 0.0
    hits = dict.fromkeys(_STOPWORDS, 0)
    for word, n in words.items():
        for lang in _STOP_LANGS.get(word, ()):
            hits[lang] += n
    best = max(sorted(hits), key=lambda lang: hits[lang])
    total = sum(hits.values())
    if hits[best] == 0:
        return "und", 0.0
    return best, round(hits[best] / total, 3)
