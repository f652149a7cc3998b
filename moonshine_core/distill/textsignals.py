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

#: Bumped when a detector changes, so rows say which version produced their signals.
SIGNALS_VERSION = "textsignals-1"

# -- refusals ------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:'|no)t|cannot|won't|am unable to)"
    r"|I can(?:'|no)t (?:help|assist|comply|provide|do that) with"
    r"|I(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)"
    r"|as an AI(?: language model)?,? I (?:can(?:'|no)t|cannot|don't|do not)"
    r"|I must (?:decline|refuse)"
    r"|I won't be able to (?:help|assist|provide))",
    re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True when an assistant answer opens like a refusal (only its first 400 characters count)."""
    return bool(_REFUSAL.search(text[:400]))


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
    head = text[:600]
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
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("password_assignment", re.compile(
        r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\b\s*[:=]\s*['\"]?"
        r"(?=[^\s'\"]*\d)(?=[^\s'\"]*[A-Za-z])[^\s'\"]{8,}")),
)
PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("credit_card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("phone", re.compile(r"(?<![\w.])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w.])"
                         r"|(?<![\w.])\(\d{3}\) ?\d{3}-\d{4}(?![\w.])")),
    ("ipv4", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")),
)


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


def _valid(kind: str, text: str) -> bool:
    """Validators cut regex false positives (datatrove keeps only public IPs; cards need Luhn)."""
    if kind == "credit_card":
        digits = re.sub(r"\D", "", text)
        return 13 <= len(digits) <= 19 and len(set(digits)) > 2 and _luhn(digits)
    if kind == "ipv4":
        return not _private_ip(text)
    if kind == "phone":
        return 8 <= len(re.sub(r"\D", "", text)) <= 15
    return True


class Redactor:
    """Finds and replaces secrets and PII with ``[REDACTED_<TYPE>]`` placeholders, counting them.

    ``literals`` are exact strings to remove as ``personal`` (values from the
    export's personal side records: the account's e-mail, phone, name), so
    nothing the export says about its owner reaches a dataset even inside a
    conversation's text.
    """

    def __init__(self, literals: list[str] | None = None):
        self.counts: Counter[str] = Counter()
        words = sorted({w for w in (literals or []) if len(w) >= 4}, key=lambda w: (-len(w), w))
        self._literals = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE) if words else None

    def fork(self) -> "Redactor":
        """A redactor with the same literals and fresh counts (one per row)."""
        other = Redactor.__new__(Redactor)
        other.counts = Counter()
        other._literals = self._literals
        return other

    def redact(self, text: str) -> str:
        if not text:
            return text
        if self._literals is not None:
            text = self._sub(self._literals, "personal", text)
        for kind, pattern in SECRET_PATTERNS:
            text = self._sub(pattern, kind, text, secret=True)
        for kind, pattern in PII_PATTERNS:
            text = self._sub(pattern, kind, text)
        return text

    def _sub(self, pattern: re.Pattern[str], kind: str, text: str, secret: bool = False) -> str:
        def replace(match: re.Match[str]) -> str:
            if not _valid(kind, match.group(0)):
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
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str) -> tuple[str, float]:
    """``(code, confidence)`` of the prose in ``text`` (code blocks removed); ``("und", 0.0)`` when unsure.

    Scripts decide non-Latin languages (Japanese wins over Chinese when kana is
    present); Latin text is judged by stop-word hits for seven languages. It is
    coarse by design: a bundled model would need numpy 2 and megabytes of
    weights for a signal that only labels rows (see docs/decisions.md).
    """
    prose = _CODE_BLOCK.sub(" ", text)[:20000]
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
        for tag, low, high in _SCRIPTS:
            if low <= point <= high:
                scripts[tag] += 1
                break
    if scripts:
        tag, count = scripts.most_common(1)[0]
        if scripts.get("ja") and tag == "zh":
            tag, count = "ja", scripts["ja"] + scripts["zh"]
        if count > latin:
            return tag, round(count / len(letters), 3)
    words = [unicodedata.normalize("NFC", w.lower()) for w in _WORD.findall(prose)]
    if not words:
        return "und", 0.0
    hits = {lang: sum(1 for w in words if w in set(stops)) for lang, stops in _STOPWORDS.items()}
    best = max(sorted(hits), key=lambda lang: hits[lang])
    total = sum(hits.values())
    if hits[best] == 0:
        return "und", 0.0
    return best, round(hits[best] / total, 3)
