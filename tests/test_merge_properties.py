"""Property tests for the merge: idempotence, and 'an older export never overwrites a newer one'."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core.records import Conversation, Message
from moonshine_core.store import Provenance, Store
from moonshine_core.store.transfer import upsert_run

counter = itertools.count()

# One export: some conversations (ids from a small pool), each with an answer text and a time.
exports = st.lists(
    st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(["a", "b", "c"]),
                       st.integers(0, 3)), min_size=1, max_size=3, unique_by=lambda t: t[0]),
    min_size=1, max_size=4)


def conversation(cid, text, when):
    return Conversation(conversation_id=cid, updated_at=float(when), current_leaf_id="m2", messages=[
        Message(message_id="m1", role="user", text=f"question {cid}", created_at=0.0),
        Message(message_id="m2", role="assistant", parent_id="m1", text=text, created_at=float(when))])


def run_db(folder, n, items):
    path = folder / f"run{n}.db"
    prov = Provenance(provider="p", provider_run_id=f"p_2026010{n}_000000", source_file_sha256=str(n) * 64,
                      source_path=f"/exports/{n}", ingested_at="t")
    store = Store(path)
    store.write([conversation(cid, text, when) for cid, text, when in items], prov)
    store.seal()
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exports)
def test_merging_keeps_the_newest_and_a_second_merge_changes_nothing(tmp_path_factory, runs):
    folder = tmp_path_factory.mktemp(f"m{next(counter)}")
    paths = [run_db(folder, n, items) for n, items in enumerate(runs)]
    mash = Store(folder / "mash.db")
    expected: dict[str, tuple[int, str]] = {}
    for path, items in zip(paths, runs):
        with mash.conn:
            upsert_run(mash.conn, path)
        for cid, text, when in items:
            # a merge updates when content changed and the source is not older
            if cid not in expected or when >= expected[cid][0]:
                expected[cid] = (when, text)
    for cid, (_, text) in expected.items():
        assert mash.get_conversation("p", cid).messages[1].text == text
    # merging the last run again changes nothing
    before = mash.conn.total_changes()
    with mash.conn:
        counts = upsert_run(mash.conn, paths[-1])
    assert all(c.inserted == 0 and c.updated == 0 for c in counts.values())
    assert mash.conn.total_changes() == before
    # an earlier run whose every conversation is strictly older than the mash's changes nothing
    for path, items in zip(paths, runs):
        if all(when < expected[cid][0] for cid, _, when in items):
            with mash.conn:
                counts = upsert_run(mash.conn, path)
            assert all(c.updated == 0 and c.inserted == 0 for c in counts.values())
    for cid, (_, text) in expected.items():
        assert mash.get_conversation("p", cid).messages[1].text == text
    mash.close()
