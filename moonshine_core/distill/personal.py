"""Profile values: what an export says about its owner, collected once per distillation.

The :class:`~moonshine_core.distill.textsignals.Redactor` removes these terms
from every row (``[REDACTED_NAME]``, ``[REDACTED_PLACE]``,
``[REDACTED_PERSONAL]``). Providers say what is personal: only side records a
plugin marked ``personal`` are read (:func:`moonshine_core.store.corpus.personal_side_data`),
plus the operator's ``[redact] terms``. What counts (docs/lanes.md, "Personal data"):

1. **Structured fields** of a personal record, at any depth, by key (camelCase and
   snake_case alike): person-name keys (``full_name``, ``first_name``,
   ``preferred_name``, ``nickname``, ...) give the whole name and each of its
   parts; so do ``name`` and ``username``, but only in a profile record (kind
   ``user``, ``account``, ``profile``, ``custom_instructions``: elsewhere a
   ``name`` names a file, a preset or a product); place keys (``city``,
   ``town``, ``location``, ``region``, ...) give each comma-separated part;
   contact keys (``email``, ``phone``, ``mobile_number``, ``address``,
   ``birth_date``, ...) give the exact value as ``personal``.
2. **Profile text** (``profile_text``: a string or list of strings a plugin puts
   in a personal record, e.g. ChatGPT custom instructions and memory, Claude
   memories): labelled lines (``Preferred name: Robert``, ``- Location: Leeds``)
   and a closed list of first- and third-person phrases ("my name is X", "call
   me X", "I go by X", "I'm X from Y", "I live in / I'm from / I'm based in /
   I grew up in Y", "the user's name is X", "a company called Z", and the same
   in French, Spanish, German, Portuguese and Italian). In free text a value
   must be capitalised (or all caps) and is read up to the first lower-case
   word: "my name is Robert and I live in Leeds" gives ``Robert`` and ``Leeds``.

Never a term: a single word that is a common word (``will``, ``may``, ``reading``,
``bath``, a month, a country or nationality, a model name: :data:`COMMON_WORDS`),
fewer than 3 characters, a number shorter than 7 digits (years, ages,
postcodes), or a value over 80 characters. Countries are too coarse to identify
and too common to remove; multi-word values ("Will Turner", "New Forest") are
kept as phrases even when a part is common. ``[redact] terms`` are taken as
written (any value of 2 characters or more with a letter or digit, common or not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..store import Store
from ..store import corpus as mash
from .textsignals import fold as _fold


class ProfileTerm(NamedTuple):
    """One value to redact: the text, its kind (``name``, ``place``, ``personal``) and where it came from."""

    value: str
    kind: str
    source: str


#: Side-record kinds that describe the account owner: a bare ``name`` there is a person's name.
PROFILE_KINDS = frozenset({"user", "users", "account", "profile", "custom_instructions"})
PERSON_KEYS = frozenset({
    "full_name", "fullname", "first_name", "firstname", "given_name", "last_name", "lastname", "family_name",
    "surname", "middle_name", "preferred_name", "nickname", "nick_name", "display_name",
})
NAME_KEYS = frozenset({"name", "username", "user_name", "screen_name"})
PLACE_KEYS = frozenset({
    "city", "town", "hometown", "home_town", "location", "region", "county", "province", "locality",
    "residence", "home_city",
})
CONTACT_KEYS = frozenset({
    "email", "email_address", "e_mail", "phone", "phone_number", "verified_phone_number", "mobile",
    "mobile_number", "telephone", "address", "street", "street_address", "postal_code", "postcode",
    "zip_code", "birth_date", "birthdate", "date_of_birth", "birthday", "dob",
})
TEXT_KEY = "profile_text"
_MAX_VALUE = 80


def profile_terms(store: Store, extra: Iterable[str] = ()) -> list[ProfileTerm]:
    """Every term of the mash's personal side records plus ``extra`` (``[redact] terms``), unique and sorted."""
    found: list[ProfileTerm] = []
    for kind, data in mash.personal_side_data(store):
        found.extend(terms_from_record(kind, data))
    for value in extra:
        value = " ".join(str(value).split())
        if len(value) >= 2 and re.search(r"[^\W_]", value):
            found.append(ProfileTerm(value, "personal", "settings:redact.terms"))
    return _unique(found)


def terms_from_record(kind: str, data: Any) -> list[ProfileTerm]:
    """The terms of one personal side record's data (rule 1 and rule 2 of the module docstring)."""
    out: list[ProfileTerm] = []
    profile = kind in PROFILE_KINDS

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, _key(str(k)))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key == TEXT_KEY and isinstance(value, str):
            out.extend(terms_from_text(value))
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            out.extend(_field_terms(key, str(value), profile))

    walk(data, "")
    return _unique(out)


def terms_from_text(text: str) -> list[ProfileTerm]:
    """Names, places and business names a profile text states about its writer (rule 2)."""
    out: list[ProfileTerm] = []
    for line in text.splitlines():
        match = _LABELLED.match(line)
        if match is None:
            continue
        label = " ".join(match.group("label").lower().split())
        kind = "place" if _PLACE_LABEL.fullmatch(label) else "name"
        for chunk in _chunks(match.group("value"), places=kind == "place", cased=not _ANY_CASE.fullmatch(label)):
            out.extend(_value_terms(chunk, kind, f"text:label:{label}"))
    for rule, kind, pattern in _PHRASES:
        for match in pattern.finditer(text):
            chunks, end = _proper_run(text, match.end(), places=kind == "place")
            for chunk in chunks:
                out.extend(_value_terms(chunk, kind, f"text:{rule}"))
            following = _FROM.match(text, end) if rule == "i_am_x_from" and chunks else None
            if following:
                for chunk in _proper_run(text, following.end(), places=True)[0]:
                    out.extend(_value_terms(chunk, "place", f"text:{rule}"))
    return _unique(out)


def is_common_word(word: str) -> bool:
    """True for a word that must never be redacted on its own (see :data:`COMMON_WORDS`)."""
    return _fold(word).replace(".", "").strip("'") in COMMON_WORDS


# -- structured fields ---------------------------------------------------------------------------


def _key(key: str) -> str:
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def _field_terms(key: str, value: str, profile: bool) -> list[ProfileTerm]:
    value = " ".join(value.split())
    if not value or len(value) > _MAX_VALUE:
        return []
    source = f"field:{key}"
    if key in CONTACT_KEYS:
        return [ProfileTerm(value, "personal", source)] if _usable(value, 4) else []
    if key in PERSON_KEYS or (key in NAME_KEYS and profile):
        return _value_terms(value, "name", source)
    if key in PLACE_KEYS:
        return [t for chunk in value.split(",") for t in _value_terms(chunk, "place", source)]
    return []


def _usable(value: str, minimum: int = 3) -> bool:
    if len(value) < minimum:
        return False
    digits = re.sub(r"\D", "", value)
    if digits and len(digits) < 7 and not re.search(r"[^\W\d_]", value):
        return False        # a year, an age, a short number
    if not re.search(r"[^\W_]", value):
        return False
    return not (" " not in value and is_common_word(value))


def _value_terms(value: str, kind: str, source: str) -> list[ProfileTerm]:
    """A name or place value and, for names, each uncommon part ("Robert Smith": the phrase, Robert, Smith)."""
    value = _TRIM.sub("", " ".join(value.split()))
    words = [w for w in value.split() if _fold(w).strip(".") not in _TITLES]
    value = " ".join(words)
    if not _usable(value):
        return []
    out = [ProfileTerm(value, kind, source)]
    if kind == "name" and len(words) > 1:
        for word in words:
            word = word.strip(".,")
            if re.fullmatch(r"[^\W\d_][\w'\u2019-]*", word) and _usable(word):
                out.append(ProfileTerm(word, kind, source))
    return out


def _unique(terms: Iterable[ProfileTerm]) -> list[ProfileTerm]:
    seen: dict[tuple[str, str], ProfileTerm] = {}
    for term in terms:
        seen.setdefault((_fold(term.value), term.kind), term)
    return sorted(seen.values(), key=lambda t: (t.kind, _fold(t.value), t.source))


# -- free text -----------------------------------------------------------------------------------

_NAME_LABELS = (r"preferred name|full name|first name|name|nickname|user ?name|user|"
                r"what should chatgpt call you\??|nom|pr[ée]nom|nombre|vorname|nome|utilisateur|usuario")
_PLACE_LABELS = (r"location|city|town|home ?town|home|lives in|based in|from|region|county|ville|ciudad|"
                 r"stadt|wohnort|cidade|citt[àa]|localit[ée]")
_PLACE_LABEL = re.compile(_PLACE_LABELS)
#: Labels that can only mean a name, so their value counts in any case ("Preferred name: bob").
_ANY_CASE = re.compile(r"preferred name|full name|first name|nickname|what should chatgpt call you\??")
_LABELLED = re.compile(
    rf"^[\s>*_#\-\u2022\d.)]*(?:\*\*|__)?(?P<label>{_NAME_LABELS}|{_PLACE_LABELS})(?:\*\*|__)?\s*[:=]\s*"
    r"(?:\*\*|__)?(?P<value>[^\n]{1,80}?)(?:\*\*|__)?\s*$", re.IGNORECASE)
_TRIM = re.compile(r"^[\s\"'`*_(\[]+|[\s\"'`*_)\].,;:!?]+$")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx", "lady", "lord",
                     "m", "mme", "mlle", "sr", "sra", "herr", "frau"})
_CONNECTORS = frozenset({"of", "upon", "on", "the", "de", "del", "della", "des", "la", "le", "les", "du",
                         "van", "von", "der", "den", "da", "di", "do", "dos", "y", "am", "im", "an", "sur",
                         "en", "et", "al", "bin", "ibn"})
_FROM = re.compile(r"\s+from\s+(?:the\s+)?", re.IGNORECASE)
_TOKEN = re.compile(r"[ \t]*([^\W\d_][\w'\u2019.\-]*)")
_APOS = "['\u2019]"
_I_AM = rf"\b(?:I{_APOS}m|I\s+am|Im)\s+"


def _phrase(rule: str, kind: str, pattern: str) -> tuple[str, str, re.Pattern[str]]:
    return rule, kind, re.compile(pattern + r"(?:the\s+)?", re.IGNORECASE)


#: (rule, kind, trigger): the value is the capitalised run right after the trigger.
_PHRASES = (
    _phrase("my_name_is", "name", rf"\bmy\s+(?:first\s+|full\s+|real\s+)?name(?:{_APOS}s|\s+is)\s+"),
    _phrase("call_me", "name", r"\b(?:call|address)\s+me(?:\s+as)?\s+|\brefer\s+to\s+me\s+as\s+"),
    _phrase("i_go_by", "name", rf"\bI\s+go\s+by\s+|{_I_AM}(?:called|known\s+as)\s+"),
    _phrase("i_am_x_from", "name", rf"{_I_AM}(?=[^\W\d_][\w'\u2019-]*(?:\s+[A-Z][\w'\u2019-]*)?\s+from\b)"),
    _phrase("user_name_is", "name", rf"\b(?:the\s+)?user(?:{_APOS}s)?\s+(?:first\s+|full\s+)?name\s+is\s+|"
                                    r"\b(?:the\s+)?user\s+(?:is\s+(?:called|named)|goes\s+by|"
                                    r"prefers\s+to\s+be\s+called)\s+"),
    _phrase("lives_in", "place", r"\b(?:live|lives|living|lived|reside|resides|residing|based|located|settled)\s+"
                                 r"(?:in|near|outside(?:\s+of)?|around)\s+"),
    _phrase("from", "place", rf"{_I_AM}(?:originally\s+)?from\s+|\buser\s+is\s+(?:originally\s+)?from\s+|"
                             r"\b(?:I|user)\s+(?:come|comes|hail|hails)\s+from\s+|\boriginally\s+from\s+"),
    _phrase("grew_up_in", "place", r"\b(?:born|grew\s+up|raised|brought\s+up)\s+in\s+"),
    _phrase("moved_to", "place", r"\b(?:I|we|user)\s+(?:recently\s+)?(?:moved|relocated)\s+to\s+"),
    _phrase("home_town", "place", r"\bmy\s+(?:home\s*town|home\s+city|city|town|village)\s+is\s+"),
    _phrase("company_called", "personal", r"\b(?:company|business|firm|brand|shop|studio|agency|startup|"
                                          r"channel|podcast|band|practice)\s+(?:called|named)\s+"),
    # French, Spanish, German, Portuguese, Italian
    _phrase("my_name_is", "name", r"\bje\s+m['\u2019]appelle\s+|\bmon\s+(?:pr[ée])?nom\s+est\s+|\bme\s+llamo\s+|"
                                  r"\bmi\s+nombre\s+es\s+|\bich\s+hei(?:ß|ss)e\s+|\bmein\s+name\s+ist\s+|"
                                  r"\bmeu\s+nome\s+[ée]\s+|\bme\s+chamo\s+|\bmi\s+chiamo\s+"),
    _phrase("lives_in", "place", r"\bj['\u2019]habite\s+(?:à|a|en|au|aux)\s+|\bje\s+vis\s+(?:à|a|en|au)\s+|"
                                 r"\bvivo\s+en\s+|\bvivo\s+(?:a|in)\s+|\babito\s+a\s+|\bich\s+wohne\s+in\s+|"
                                 r"\bich\s+lebe\s+in\s+|\bmoro\s+em\s+|\bich\s+komme\s+aus\s+|\bsoy\s+de\s+"),
)


def _proper_run(text: str, pos: int, places: bool) -> tuple[list[str], int]:
    """The capitalised words at ``pos`` ("Robert", "New Forest") and where they end; for places,
    comma-separated parts ("Leeds, West Yorkshire" gives two). Stops at the first lower-case word,
    the end of a sentence or line, and after a possessive ("Robert's")."""
    chunks: list[str] = []
    words: list[str] = []
    pending: list[str] = []
    end = pos
    while pos < len(text) and len(words) < 4:
        match = _TOKEN.match(text, pos)
        if not match:
            break
        token = match.group(1)
        bare = token.rstrip(".")
        if not words and _fold(bare) in _TITLES:
            pos = match.end()                           # "call me Dr. Smith"
            continue
        if _capitalised(bare):
            words.extend(pending)
            pending = []
            words.append(re.sub(f"{_APOS}s$", "", bare))
            pos = end = match.end()
            if token != bare or re.search(f"{_APOS}s$", bare):
                break                                   # "Leeds." ends the sentence; "Robert's" the name
        elif words and bare.lower() in _CONNECTORS:
            pending.append(bare)
            pos = match.end()
        else:
            break
        if places and text.startswith(",", pos) and words:
            chunks.append(" ".join(words))
            words, pending = [], []
            pos += 1
            if len(chunks) >= 3:
                break
    if words:
        chunks.append(" ".join(words))
    return [c for c in chunks if c], end


def _chunks(value: str, places: bool, cased: bool) -> list[str]:
    """A labelled line's value as names or places; nothing when it reads as a sentence or a job."""
    value = _TRIM.sub("", value)
    out = []
    for part in ([p.strip() for p in value.split(",")] if places else [value]):
        words = part.split()
        if not 1 <= len(words) <= 4 or not all(re.fullmatch(r"[^\W\d_][\w'\u2019.\-]*", w) for w in words):
            break
        if (cased or places) and not (_capitalised(words[0]) and all(
                _capitalised(w) or w.lower() in _CONNECTORS for w in words)):
            break
        out.append(part)
    return out


def _capitalised(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and (letters[0].isupper() or not letters[0].islower() and not letters[0].isupper())


# -- common words --------------------------------------------------------------------------------

#: Words never redacted on their own: everyday English words (including those that are also names
#: or towns: will, may, mark, grace, reading, bath, nice), months and days, countries and
#: nationalities, titles, assistant and model names, and the words of the row format itself.
COMMON_WORDS = frozenset("""
a about above across act action actually add address after afternoon again against age ago agree ahead ai
air all allow almost alone along already also although always am among amount an and angel animal another
answer any anyone anything anyway apart apple april area arm army around art as ask assistant at august
autumn available average avoid away baby back bad bag baker ball band bank bar base basic basis bath be
bear beat beautiful because become bed been before began begin behind being believe bell below best better
between big bill bird birth bit black blank block blood blue board boat body bold book born boss both
bottom box boy brain branch brand bread break bridge brief bright bring broad brook brother brown brush
buck bud build building burn bush business busy but butler buy by call calm came camp can cap capital
captain car card care carry case cash cast cat catch cause cell center central centre certain chain chair
chance change chapter charge charity chase cheap check chief child children chip choice choose church
city claim class clay clean clear cliff climb clock close cloud club coach coast code cold college color
colour come common company complete computer content cook cool cooper copy cord corn corner cost could
count country county course court cover craft crew cross crowd crown cup current cut dad daily dale
damage dance dark dash data date daughter dawn day dead deal dean dear death decide deep degree deliver
design desk destiny detail develop developer did die different dinner direct director do doctor does dog
dollar done door dot double down draw dream dress drew drink drive drop dry duke during dust duty each
ear early earn earth east easy eat edge effect eight either else empty end energy engine engineer english
enjoy enough enter enterprise entire equal error even evening event eve ever every evidence exact example
except expect experience explain eye face fact fair faith fall family far farm fast father fear feel few
field fight figure file fill film final find fine finger finish fire firm first fish fisher fit five fix
flag flat flight floor flora flow flower fly follow food foot for force ford forest form forward four fox
frank free fresh friday friend from front fruit full fun function future gain game garden gate gather
gave gay gene general gentle get gift girl give glad glass glen go goal god gold golden good got grace
grand grant grass great green ground group grow guard guess guide guy hair half hall hand handle hang
happen happy hard harvest has hat have he head health hear heart heat heath heaven heavy held hello help
her here hero high hill him his history hit hold hole holiday holly home honey hope horse host hot hotel
hour house how however huge human hunt hunter hurry i ice idea if image impact important in inch include
income increase independence india indeed inside instead interest into iris iron is island issue it item
its ivy jack jade jam january jewel job join joint joy judge july jump june junior just keep key kid kill
kind king kiss knight know lab labor lady lake lamb land lane language large last late later laugh law
lay lead leader learn least leave left leg less let letter level liberty lie life light like lily line
link lion list listen little live load local lock long look lord lose loss lot love low luck lunch machine
made main major make man manager many map march mark market marsh mason master match matter max may maybe
me mean measure meet melody member memory men mercy message met metal middle might mile miles mind mine
minute miss mister mobile model mom moment monday money month moon more morning most mother mount mouth
move much music must my name nation natural nature near need never new news next nice night nine no none
noon normal north not note nothing notice now number of off offer office often oil ok okay old olive on
once one only open opal or orange order other our out over own page pain paint pair palace paper parent
park part party pass past pat path patience pay peace peach pearl pen penny people pepper per perfect
period person phone pick picture piece pierce pine pink pip place plan plant play please plenty poet
point pool poor poppy port porter position post pound power practice present press pretty price prince
princess print private problem process produce product professor program project proof public pull pure
purpose push put queen question quick quiet quite race rain raise range rather ray reach read reading
ready real reason receive record red reed region rest result rice rich ride right ring rise risk river
road robin rock rocky role roll room root rose round row royal ruby rule run rush rusty safe sage said
sail sale salt same sand sandy saturday save say scale school score scout sea season seat second section
see seem self sell send senior sense september serve service set seven several shall shape share sharp
she shell shepherd shine ship shop short shot should show side sign silver simple since sing single
sister sit six size skill sky sleep slow small smart smile snow so soft some son song soon sorry sort
soul sound south space speak special speed spend spike spirit split spot spring square staff stage stand
star start state station stay steel step sterling stick still stock stone stop storm story straight
strange street strong student study style subject success such sugar summer sun sunday sunny supply sure
surface swift system table take talk tall taste teacher team tell ten term test than thank that the their
them then there these they thing think third this those though three through thursday tiger time tiny to
today together told tomorrow tone too took tool top total touch tour tower town track trade train travel
tree trip true trust truth try tuesday turn turner twelve twenty two type under union unit until up upon
us use user usual valley value very victory view village violet visit voice wade wait walk walker wall
want war ward warm was wash watch water waters wave way we wealth wear weather wednesday week well wells
went were west what wheel when where which while white who whole why wide wife wild will win wind window
winter wise wish with within without wolf woman wonder wood woods woody word work world worry would wren
write wrong yard year yellow yes yet you young your zero
able accept account achieve advice answer apply approach argue article assume attack attention
avoid beach become behavior benefit bit blog board bonus bottle budget cancel career carry centre chart
chat child citizen client cloud comment concept content context cool corporate counter couple create
crisis culture customer cycle debug default demand deploy device digital dinner discuss domain draft
early email engine event exam expert export fashion feature feedback file filter finance focus folder
format forum frame friday galaxy gallery global graph guest hardware health history holiday hub icon
import index input install internet issue journal kernel label laptop launch layer lesson library
license limit local login logo loop manual media menu method mobile module monitor native network node
notebook object online option output owner package panel parser patch pilot pixel player plugin policy
portal premium print profile prompt proxy query queue quote radio random release remote report request
research review robot router runtime sample script search secret server session setup signal snippet
social software source spam sport stack status storage stream studio summary support survey symbol sync
tag target task template terminal text theme thread ticket token topic tutorial update upload version
video virtual web website widget wiki workshop
monday tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december spring summer autumn fall winter
america american americas usa us uk gb england english britain british scotland scottish wales welsh
ireland irish europe european eu africa african asia asian australia australian canada canadian china
chinese japan japanese korea korean india indian russia russian france french germany german spain
spanish italy italian mexico mexican brazil brazilian netherlands holland dutch sweden swedish norway
norwegian denmark danish finland finnish poland polish portugal portuguese greece greek turkey turkish
israel israeli egypt egyptian nigeria nigerian ukraine ukrainian switzerland swiss austria austrian
belgium belgian czech hungary hungarian romania romanian argentina chile colombia peru vietnam vietnamese
thailand thai philippines filipino indonesia indonesian pakistan pakistani iran iranian iraq persian
arab arabic hebrew hindi latin singapore malaysia korea zealand western eastern northern southern
international national world earth global
dr mr mrs ms miss sir madam boss chief captain doctor professor teacher master mister buddy friend mate
dude bro sis coach sensei king queen prince princess lord lady hero champion
chatgpt gpt openai claude anthropic gemini bard google deepseek qwen alibaba copilot microsoft llama
mistral grok siri alexa bot chatbot assistant model ai llm python java javascript typescript react
linux windows macos android iphone github excel
role content tool function system null none true false name reasoning
""".split())
