"""Synthetic exports whose owners' profiles name them, and assistants that echo the names.

Everything is invented. The ChatGPT export puts a distinctive name and town in
its custom instructions (both the 2024 ``user_editable_context`` form and the
2023 ``is_user_system_message`` form) and in ``user.json``; the Claude export
puts another in ``users.json`` and ``memories.json``. The assistants echo them
in the inflections real data shows: "Hello Alaric!", "ALARIC", "Alaric's",
"alaric", "Penhaligon’s", "TOBERMORY". Tool output carries a Luhn-valid float
that must survive, and the text carries common words ("will", "reading",
"May", "England") that the profile also uses and that must survive too.

Also here: the synthetic secrets corpus (real-looking secrets and near-misses)
that tests/test_pii_redaction.py holds our detectors to, and that
docs/decisions.md compares with ``detect-secrets``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from moonshine_core.store import Provenance, Store
from moonshine_core.workspace import Workspace

# -- the ChatGPT owner -------------------------------------------------------------------------
FIRST, LAST = "Alaric", "Penhaligon"
TOWN, REGION = "Tobermory", "Argyll"
EMAIL = "alaric.penhaligon@example.net"
PHONE = "+447700900123"
COMPANY = "Mull Kelp Cooperative"
# -- the Claude owner --------------------------------------------------------------------------
C_FIRST, C_LAST = "Ottoline", "Brackenbury"
C_TOWN = "Lostwithiel"
C_EMAIL = "ottoline@example.org"
#: Every value that must not appear in any written file of any lane.
PROFILE_VALUES = (FIRST, LAST, TOWN, REGION, EMAIL, PHONE, COMPANY, C_FIRST, C_LAST, C_TOWN, C_EMAIL)
#: A Luhn-valid 16-digit run inside a float, as a stock quote or a tool prints it.
LUHN_FLOAT = "0.4532015112830366"
#: Words the profiles use as common words; they must survive in the rows.
COMMON_SENTENCE = "You will enjoy reading in England in May."

_PREAMBLE_PROFILE = ("The user provided the following information about themselves. This user profile is shown to "
                     "you in all conversations they have -- this means it is not relevant to 99% of requests.\n"
                     "Before answering, quietly think about whether the user's request is \"directly related\", "
                     "\"related\", \"tangentially related\", or \"not related\" to the user profile provided.\n"
                     "User profile:\n```")
_PREAMBLE_INSTRUCTIONS = ("The user provided the additional info about how they would like you to respond:\n```")


class _Tree:
    """A ChatGPT ``mapping`` built node by node (parents and children kept in step)."""

    def __init__(self, conv_id: str, t0: float):
        self.conv_id, self.t = conv_id, t0
        self.mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None, "children": []}}

    def add(self, node: str, parent: str, role: str, content: dict, *, recipient: str = "all",
            metadata: dict | None = None, name: str | None = None) -> str:
        self.t += 1.0
        self.mapping[node] = {"id": node, "parent": parent, "children": [], "message": {
            "id": node, "author": {"role": role, "name": name, "metadata": {}}, "create_time": self.t,
            "update_time": None, "content": content, "status": "finished_successfully", "end_turn": True,
            "weight": 1.0, "metadata": metadata or {}, "recipient": recipient}}
        self.mapping[parent]["children"].append(node)
        return node

    def say(self, node: str, parent: str, role: str, text: str, **kw: Any) -> str:
        meta = {"model_slug": "gpt-4o"} if role == "assistant" else {}
        return self.add(node, parent, role, {"content_type": "text", "parts": [text]}, metadata=meta, **kw)

    def conversation(self, title: str, current: str) -> dict[str, Any]:
        return {"title": title, "create_time": self.mapping[next(iter(self.mapping["root"]["children"]))]
                ["message"]["create_time"], "update_time": self.t, "mapping": self.mapping,
                "current_node": current, "conversation_id": self.conv_id, "id": self.conv_id,
                "default_model_slug": "gpt-4o"}


def _user_editable_context(tree: _Tree, node: str, parent: str, about_user: str, about_model: str) -> str:
    return tree.add(node, parent, "user", {"content_type": "user_editable_context",
                                           "user_profile": _PREAMBLE_PROFILE + about_user + "```",
                                           "user_instructions": _PREAMBLE_INSTRUCTIONS + about_model + "```"},
                    metadata={"is_visually_hidden_from_conversation": True,
                              "user_context_message_data": {"about_user_message": about_user,
                                                            "about_model_message": about_model}})


def chatgpt_conversations() -> list[dict[str, Any]]:
    """Three conversations: regenerations and a correction (DPO), code runs (agentic), plain chat."""
    about_user = (f"Preferred name: {FIRST}\nRole: harbour master\nOther Information: I live in {TOWN}, "
                  f"{REGION} and I'm from England. I run a company called {COMPANY}. "
                  "I love reading in May.")
    about_model = f"Call me {FIRST}. Keep answers short; say what you will do."
    out = []

    # 1. 2024 form, a regeneration the user continued from and a correction: DPO and conversational rows.
    t = _Tree("c0a1a2a3-0000-4000-8000-000000000001", 1_720_000_000.0)
    t.add("sys", "root", "system", {"content_type": "text", "parts": [""]},
          metadata={"is_visually_hidden_from_conversation": True})
    _user_editable_context(t, "uec", "sys", about_user, about_model)
    t.say("u1", "uec", "user", "What should I do this weekend?")
    t.say("a1", "u1", "assistant", f"ALARIC, the weather in TOBERMORY looks grim; stay in.")
    t.say("a2", "u1", "assistant", f"Hello Alaric! Take Alaric's boat round {REGION}. " + COMMON_SENTENCE)
    t.say("u2", "a2", "user", "Which harbour has the best fish and chips?")
    t.say("a3", "u2", "assistant", "the one in tobermory, of course, alaric.")
    t.say("u3", "a3", "user", "No, that's wrong: it closed last year.")
    t.say("a4", "u3", "assistant", f"Sorry {FIRST} {LAST}! Try the pier café; {LAST}’s favourite is there.")
    t.say("u4", "a4", "user", "Thanks, that works.")
    t.say("a5", "u4", "assistant", f"Enjoy it, {FIRST}. Write to {EMAIL} or call {PHONE} for the "
                                   f"{COMPANY} newsletter.")
    out.append(t.conversation("Weekend plans", "a5"))

    # 2. 2023 form (hidden system message), code-interpreter runs: agentic rows.
    t = _Tree("c0a1a2a3-0000-4000-8000-000000000002", 1_700_000_000.0)
    t.add("ci", "root", "system", {"content_type": "text", "parts": [""]},
          metadata={"is_user_system_message": True, "user_context_message_data": {
              "about_user_message": f"My name is {FIRST} {LAST} and I live in {TOWN}.",
              "about_model_message": ""}})
    t.say("u1", "ci", "user", "Compute the tide factor for my harbour and print my name.")
    t.add("a1", "u1", "assistant", {"content_type": "code", "language": "python",
                                    "text": f"print('{FIRST.upper()} {LAST}', 0.4532015112830366)"},
          recipient="python", metadata={"model_slug": "gpt-4o"})
    t.add("t1", "a1", "tool", {"content_type": "execution_output",
                               "text": f"{FIRST.upper()} {LAST} {LUHN_FLOAT}"}, name="python",
          metadata={"aggregate_result": {"status": "success", "code": "print(...)"}})
    t.add("a2", "t1", "assistant", {"content_type": "code", "language": "python",
                                    "text": f"tide = {LUHN_FLOAT} * 2\nprint('{TOWN}', tide)"},
          recipient="python", metadata={"model_slug": "gpt-4o"})
    t.add("t2", "a2", "tool", {"content_type": "execution_output", "text": f"{TOWN} 0.9064030224"},
          name="python", metadata={"aggregate_result": {"status": "success", "code": "tide"}})
    t.say("a3", "t2", "assistant", f"Done, {FIRST}: the factor is {LUHN_FLOAT} and {TOWN}'s is 0.906.")
    out.append(t.conversation("Tide factor", "a3"))

    # 3. A plain exchange with a checkable answer: GRPO and conversational rows.
    t = _Tree("c0a1a2a3-0000-4000-8000-000000000003", 1_710_000_000.0)
    _user_editable_context(t, "uec", "root", about_user, about_model)
    t.say("u1", "uec", "user", "What is 17 * 23?")
    t.say("a1", "u1", "assistant", f"{FIRST}, 17 * 23 = 391")
    t.say("u2", "a1", "user", "Correct, thanks!")
    t.say("a2", "u2", "assistant", f"You're welcome, {FIRST}. Greetings to {TOWN}.")
    out.append(t.conversation("Sums", "a2"))
    return out


def chatgpt_user() -> dict[str, Any]:
    return {"id": "user-alaric0000", "email": EMAIL, "chatgpt_plus_user": True, "phone_number": PHONE}


def write_chatgpt_export(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conversations.json").write_text(json.dumps(chatgpt_conversations()), encoding="utf-8")
    (root / "user.json").write_text(json.dumps(chatgpt_user()), encoding="utf-8")
    (root / "message_feedback.json").write_text("[]", encoding="utf-8")
    return root


# -- Claude ------------------------------------------------------------------------------------
_ACCOUNT = "acc0a1a2-0000-4000-8000-000000000009"


def _claude_message(uid: str, sender: str, text: str, t: str) -> dict[str, Any]:
    return {"uuid": uid, "text": text, "sender": sender, "created_at": t, "updated_at": t,
            "attachments": [], "files": []}


def claude_conversations() -> list[dict[str, Any]]:
    return [{
        "uuid": "cc0a1a2a-0000-4000-8000-000000000001", "name": "Garden", "account": {"uuid": _ACCOUNT},
        "created_at": "2025-03-01T10:00:00Z", "updated_at": "2025-03-01T10:05:00Z",
        "chat_messages": [
            _claude_message("h1", "human", "Which roses grow well by the sea?", "2025-03-01T10:00:00Z"),
            _claude_message("a1", "assistant", f"Good morning, {C_FIRST}! In {C_TOWN} rugosa roses thrive. "
                                               f"OTTOLINE, {C_LAST}'s hedge will shelter them.",
                            "2025-03-01T10:01:00Z"),
            _claude_message("h2", "human", "And in pots?", "2025-03-01T10:02:00Z"),
            _claude_message("a2", "assistant", f"Yes, {C_FIRST.lower()}: pots work. Mail {C_EMAIL} for seeds. "
                                               + COMMON_SENTENCE, "2025-03-01T10:03:00Z"),
        ]}]


def write_claude_export(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conversations.json").write_text(json.dumps(claude_conversations()), encoding="utf-8")
    (root / "users.json").write_text(json.dumps([{
        "uuid": _ACCOUNT, "full_name": f"{C_FIRST} {C_LAST}", "email_address": C_EMAIL,
        "verified_phone_number": None}]), encoding="utf-8")
    (root / "memories.json").write_text(json.dumps([{
        "conversations_memory": f"**Personal context**\nThe user lives in {C_TOWN}, Cornwall and grows roses.",
        "project_memories": {}, "account_uuid": _ACCOUNT}]), encoding="utf-8")
    return root


# -- a mash from the exports, through the provider plugins -------------------------------------


def make_pii_mash(root: Path, pm: Any, settings: str = "") -> Workspace:
    """A workspace whose mash holds both exports, parsed and normalised by the installed plugins."""
    from moonshine_core.sources import ExportSource

    root.mkdir(parents=True, exist_ok=True)
    if settings:
        (root / "moonshine.toml").write_text(settings, encoding="utf-8")
    ws = Workspace.open(root)
    ws.mash_path.parent.mkdir(parents=True, exist_ok=True)
    exports = {"chatgpt": write_chatgpt_export(root / "exports" / "chatgpt"),
               "claude": write_claude_export(root / "exports" / "claude")}
    with Store(ws.mash_path) as store:
        for provider, folder in exports.items():
            with ExportSource(folder) as source:
                records = [r for raw in pm.parse(provider, source) for r in pm.normalize(provider, raw)]
            store.write(records, Provenance(provider=provider, provider_run_id=f"{provider}_20260101_000000",
                                            source_file_sha256="0" * 64, source_path=str(folder),
                                            ingested_at="2026-01-01T00:00:00Z"))
    return ws


# -- secrets corpus ----------------------------------------------------------------------------


def _b64(n: int, seed: str) -> str:
    out = b""
    while len(out) < n:
        out += hashlib.sha256((seed + str(len(out))).encode()).digest()
    return base64.b64encode(out).decode()[:n]


def _alnum(n: int, seed: str) -> str:
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    digest = b""
    while len(digest) < n:
        digest += hashlib.sha256((seed + str(len(digest))).encode()).digest()
    return "".join(chars[b % len(chars)] for b in digest[:n])


def _jwt(seed: str) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return ".".join((enc({"alg": "HS256", "typ": "JWT"}), enc({"sub": seed, "iat": 1700000000}),
                     _b64(43, seed).replace("+", "-").replace("/", "_")))


def _private_key(seed: str) -> str:
    body = "\n".join(_b64(64, seed + str(i)) for i in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def secrets_corpus() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(secrets, near_misses)``: each a list of ``(label, line)``. Every secret line holds one secret a
    detector should flag; no near-miss line holds one (hashes, uuids, base64 images, placeholders)."""
    secrets: list[tuple[str, str]] = []
    for i in range(5):
        s = f"s{i}"
        secrets += [
            ("aws_access_key", f"export AWS_ACCESS_KEY_ID=AKIA{_alnum(16, s).upper()}"),
            ("aws_access_key", f"aws_key = 'ASIA{_alnum(16, s + 'a').upper()}'"),
            ("github_token", f"git clone https://ghp_{_alnum(36, s)}@github.com/acme/app.git"),
            ("github_token", f"GITHUB_TOKEN=github_pat_{_alnum(22, s)}_{_alnum(59, s + 'p')}"),
            ("private_key", _private_key(s)),
            ("jwt", f"Authorization: Bearer {_jwt(s)}"),
            ("openai_key", f"client = OpenAI(api_key=\"sk-proj-{_alnum(48, s)}\")"),
            ("anthropic_key", f"ANTHROPIC_API_KEY=sk-ant-api03-{_alnum(80, s)}"),
            ("slack_token", f"token: xoxb-{_alnum(12, s)}-{_alnum(12, s + 'b')}-{_alnum(24, s + 'c')}"),
            ("google_api_key", f"maps.js?key=AIza{_alnum(35, s)}"),
            ("password_assignment", f"DB_PASSWORD=Tr0ub4dor{_alnum(6, s)}"),
            ("high_entropy", f"secret_key = \"{_b64(40, s)}\""),
            ("high_entropy", f"headers = {{\"X-Session\": \"{_b64(40, s + 'h')}\"}}"),
            ("stripe_key", f"stripe.api_key = 'sk_live_{_alnum(24, s)}'"),
            ("gitlab_token", f"git remote set-url origin https://oauth2:glpat-{_alnum(20, s)}@gitlab.com/a/b"),
            ("npm_token", f"//registry.npmjs.org/:_authToken=npm_{_alnum(36, s)}"),
            ("pypi_token", f"password = pypi-AgEIcHlwaS5vcmc{_alnum(60, s)}"),
            ("sendgrid_key", f"SENDGRID=SG.{_alnum(22, s)}.{_alnum(43, s + 'g')}"),
            ("url_credentials", f"DATABASE_URL=postgres://app:{_alnum(12, s)}@db.internal:5432/app"),
        ]
    near: list[tuple[str, str]] = []
    for i in range(5):
        s = f"n{i}"
        sha = hashlib.sha256(s.encode()).hexdigest()
        near += [
            ("sha256", f"sha256: {sha}"),
            ("git_sha", f"commit {hashlib.sha1(s.encode()).hexdigest()} Merge branch 'main'"),
            ("md5", f"md5sum: {hashlib.md5(s.encode()).hexdigest()}  file.tar.gz"),  # noqa: S324
            ("uuid", f"request_id = \"{uuid.UUID(sha[:32])}\""),
            ("base64_image", f"<img src=\"data:image/png;base64,{_b64(120, s)}\">"),
            ("placeholder", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX"),
            ("placeholder", "api_key = \"<your-api-key-here>\""),
            ("docs_example", "export OPENAI_API_KEY=sk-..."),
            ("prose", "The password must be at least eight characters long."),
            ("float", f"price = {LUHN_FLOAT}"),
            ("integrity", f"integrity=\"sha512-{_b64(86, s)}==\""),
            ("placeholder", "client = OpenAI(api_key=\"sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\")"),
            ("reference", "api_key = os.environ[\"OPENAI_API_KEY\"]"),
            ("reference", "password: ${{ secrets.DB_PASSWORD }}"),
            ("git_remote", "git@github.com:acme/app.git"),
            ("tokens", "max_tokens = 4096, tokenizer = \"o200k_base\""),
            ("card_float", f"AAPL closed at 189.{LUHN_FLOAT[2:]} today"),
        ]
    return secrets, near
