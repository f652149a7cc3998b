"""The one schema shared by provider-run DBs and the mash, with forward migrations.

``pragma user_version`` holds the schema version; ``MIGRATIONS[n]`` takes a DB
from version ``n`` to ``n + 1``. Opening an older DB with a newer core migrates
it forward, one step per transaction; a DB newer than the core is refused.
``pragma application_id`` marks the file as Moonshine's.
"""

from __future__ import annotations

APPLICATION_ID = 0x4D4F4F4E  # "MOON"

#: Columns every conversation, message, feedback, comparison and side row carries (DESIGN.md section 4).
PROVENANCE_COLUMNS = ("provider", "provider_run_id", "source_file_sha256", "source_path", "ingested_at",
                      "record_uid", "content_sha256", "source_kind")

_PROVENANCE_SQL = """
    record_uid TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_run_id TEXT NOT NULL,
    source_file_sha256 TEXT NOT NULL,
    source_path TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    source_kind TEXT NOT NULL DEFAULT 'provider_export',
    content_sha256 TEXT NOT NULL,
    source_time REAL,
    rev INTEGER NOT NULL DEFAULT 1"""

_V1 = f"""
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'ingest',
    source_path TEXT,
    source_sha256 TEXT,
    source_size INTEGER,
    adapter TEXT,
    adapter_version TEXT,
    format_variant TEXT,
    core_version TEXT,
    started_at TEXT,
    finished_at TEXT,
    status TEXT,
    detail_json TEXT
);

CREATE TABLE conversations ({_PROVENANCE_SQL},
    conversation_id TEXT NOT NULL,
    title TEXT,
    created_at REAL,
    updated_at REAL,
    model TEXT,
    current_leaf_id TEXT,
    active_branch_inferred INTEGER NOT NULL DEFAULT 0,
    order_inferred INTEGER NOT NULL DEFAULT 0,
    format_variant TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    raw_message_count INTEGER,
    unknown_shapes_json TEXT NOT NULL DEFAULT '[]',
    metadata_json TEXT NOT NULL DEFAULT '{{}}',
    raw_json TEXT,
    raw_sha256 TEXT
);
CREATE INDEX conversations_provider ON conversations(provider, conversation_id);

CREATE TABLE messages ({_PROVENANCE_SQL},
    conversation_uid TEXT NOT NULL REFERENCES conversations(record_uid) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    parent_id TEXT,
    parent_uid TEXT,
    position INTEGER NOT NULL,
    depth INTEGER NOT NULL DEFAULT 0,
    on_active_branch INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL,
    author_name TEXT,
    text TEXT NOT NULL DEFAULT '',
    raw_text TEXT,
    reasoning TEXT,
    reasoning_kind TEXT,
    content_kind TEXT,
    tool_calls_json TEXT NOT NULL DEFAULT '[]',
    tool_results_json TEXT NOT NULL DEFAULT '[]',
    attachments_json TEXT NOT NULL DEFAULT '[]',
    hidden INTEGER NOT NULL DEFAULT 0,
    hidden_reason TEXT,
    model TEXT,
    model_inferred INTEGER NOT NULL DEFAULT 0,
    created_at REAL,
    updated_at REAL,
    status TEXT,
    metadata_json TEXT NOT NULL DEFAULT '{{}}',
    usage_json TEXT,
    raw_json TEXT,
    tokens_text INTEGER NOT NULL DEFAULT 0,
    tokens_reasoning INTEGER NOT NULL DEFAULT 0,
    tokens_tool INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_conversation ON messages(conversation_uid, position);
CREATE INDEX messages_provider ON messages(provider, conversation_id, message_id);

CREATE TABLE tool_events ({_PROVENANCE_SQL},
    message_uid TEXT NOT NULL REFERENCES messages(record_uid) ON DELETE CASCADE,
    conversation_uid TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('call', 'result')),
    seq INTEGER NOT NULL,
    call_id TEXT,
    name TEXT,
    arguments_json TEXT,
    content TEXT,
    is_error INTEGER,
    status TEXT,
    structured_json TEXT,
    paired_uid TEXT
);
CREATE INDEX tool_events_conversation ON tool_events(conversation_uid, call_id);

CREATE TABLE feedback ({_PROVENANCE_SQL},
    feedback_id TEXT NOT NULL,
    conversation_id TEXT,
    message_id TEXT,
    rating TEXT NOT NULL,
    text TEXT,
    tags_json TEXT NOT NULL DEFAULT '[]',
    created_at REAL,
    unknown_shapes_json TEXT NOT NULL DEFAULT '[]',
    metadata_json TEXT NOT NULL DEFAULT '{{}}',
    raw_json TEXT
);
CREATE INDEX feedback_message ON feedback(provider, conversation_id, message_id);

CREATE TABLE comparisons ({_PROVENANCE_SQL},
    comparison_id TEXT NOT NULL,
    source TEXT NOT NULL,
    conversation_id TEXT,
    prompt_message_id TEXT,
    chosen_ids_json TEXT NOT NULL DEFAULT '[]',
    rejected_ids_json TEXT NOT NULL DEFAULT '[]',
    candidate_ids_json TEXT NOT NULL DEFAULT '[]',
    chosen_is_inferred INTEGER NOT NULL DEFAULT 0,
    prompt_json TEXT,
    chosen_json TEXT,
    rejected_json TEXT,
    rating TEXT,
    created_at REAL,
    unknown_shapes_json TEXT NOT NULL DEFAULT '[]',
    metadata_json TEXT NOT NULL DEFAULT '{{}}',
    raw_json TEXT
);
CREATE INDEX comparisons_conversation ON comparisons(provider, conversation_id);

CREATE TABLE side_records ({_PROVENANCE_SQL},
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    personal INTEGER NOT NULL DEFAULT 0,
    data_json TEXT,
    unknown_shapes_json TEXT NOT NULL DEFAULT '[]',
    raw_json TEXT
);

CREATE TABLE scores (
    conversation_uid TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    flags_json TEXT NOT NULL DEFAULT '[]',
    detail_json TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (conversation_uid, name)
) WITHOUT ROWID;
"""

#: Which conversations fed which distillation lane, per distill run (``moonshine status`` counts them
#: per provider). ``rows`` = rows the conversation gave the lane; ``mixed_rows`` = of those, in the mixed set.
_V2_DISTILLED = """
CREATE TABLE distilled_conversations (
    run_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    provider TEXT NOT NULL,
    conversation_uid TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    rows INTEGER NOT NULL,
    train_rows INTEGER NOT NULL DEFAULT 0,
    eval_rows INTEGER NOT NULL DEFAULT 0,
    mixed_rows INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, lane, conversation_uid)
) WITHOUT ROWID;
CREATE INDEX distilled_conversations_lane ON distilled_conversations(lane, provider);
"""

#: The mash's own record of what it holds (``moonshine_core.mergelog``): one row per merge or bootstrap,
#: written in the same transaction as the rows it brought, with the content hash of every record row
#: after it (``records_sha256``, see ``store.history``). A rollback restores a snapshot, whose log is the
#: snapshot's, so this table always says what is in force. ``distill_publications``: a distill run's lane
#: folders, recorded ``pending`` before they are moved into place and ``published`` after
#: (``moonshine_core.distill.publish``). Provider-run DBs carry both tables, empty.
_V3_LOGS = """
CREATE TABLE merge_log (
    seq INTEGER PRIMARY KEY,
    entry_id TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    run_id TEXT,
    records_sha256 TEXT,
    entry_json TEXT NOT NULL
);
CREATE TABLE distill_publications (
    run_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'published')),
    folders_json TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) WITHOUT ROWID;
"""

#: ``MIGRATIONS[n]`` upgrades a DB at ``user_version`` n to n + 1. Append only; never edit a shipped step.
MIGRATIONS: list[str] = [_V1, _V2_DISTILLED, _V3_LOGS]
SCHEMA_VERSION = len(MIGRATIONS)

#: Tables whose rows carry provenance, in merge order (parents before children).
RECORD_TABLES = ("conversations", "messages", "tool_events", "feedback", "comparisons", "side_records")
