"""End to end: the `moonshine` command, as a user runs it, through the four providers' real exports."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from moonshine_core.plugins import make_plugin_manager
from moonshine_core.testing import real_exports_dir

pytestmark = pytest.mark.slow

REAL = real_exports_dir(start=__file__)
EXPORTS = {  # one real export per provider, merged in this order (qwen before deepseek: the lock)
    "qwen": "qwen/AfterThink__AfterChat-Converter__examples__large.json",
    "deepseek": "deepseek/ceyaima__deepseek-exporter__samples__DeepSeek_-_sample_2025-05-21T17-13-38__at_commit_179ac78.json",
    "chatgpt": "chatgpt/realazthat__chatgpt2graph__examples__conversations.json",
    "claude": "claude/simonw__claude-to-sqlite__tests__artifacts.json",
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def installed():
    if REAL is None:
        pytest.skip("../shared/real-exports is absent")
    providers = set(make_plugin_manager().providers())
    missing = set(EXPORTS) - providers
    if missing:
        pytest.skip(f"provider plugins not installed: {sorted(missing)}")


class Moonshine:
    def __init__(self, exe, root):
        self.exe, self.root = exe, root

    def __call__(self, *args, ok=True):
        out = subprocess.run([self.exe, "--workspace", str(self.root), "--json", *args],
                             capture_output=True, text=True)
        if ok:
            assert out.returncode == 0, f"moonshine {' '.join(args)} failed: {out.stderr}"
            return json.loads(out.stdout)
        assert out.returncode != 0
        # Under --json an error is one line of JSON on stderr.
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        return json.loads(out.stderr)["error"]


def test_four_providers_from_download_to_documents(installed, moonshine_exe, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "moonshine.toml").write_text('merge_order = ["qwen", "deepseek"]\n')
    moon = Moonshine(moonshine_exe, root)
    runs = {}
    for provider, rel in EXPORTS.items():
        pre = moon("preflight", str(REAL / rel))
        assert pre["provider"] == provider
        done = moon("run", str(REAL / rel))
        runs[provider] = done["ingest"]["run_id"]
        assert done["merge"]["action"] == "merge"

    # the layout of DESIGN.md section 2, and nothing else
    expected_top = {"moonshine.toml", "archive", "reports", "TOKEN_FORENSICS_README.md",
                    "PROJECT_MOONSHINE_UPDATE_1.md", "docs", ".moonshine"}
    assert {p.name for p in root.iterdir()} == expected_top
    for provider, run in runs.items():
        run_dir = root / "reports" / "providers" / provider / run
        assert {p.name for p in run_dir.iterdir()} >= {
            f"moonshine_{provider}_{run}.db", f"token_ledger.{provider}.{run}.json", "manifest.json"}
        assert (root / "archive" / provider / run / "source" / Path(EXPORTS[provider]).name).exists()
        assert (root / "archive" / "main" / run / "moonshine_mash_premerge.db").exists()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert {g["status"] for g in manifest["gates"].values()} == {"pass"}, manifest["gates"]
    for name in ("moonshine_mash_active.db", "token_ledger.main.json", "merge_manifest.main.json"):
        assert (root / "reports" / "main" / name).exists()
    assert (root / "docs" / "Moonshine-Project-Overview.md").exists()
    status = moon("status")
    assert set(status["main"]) == set(EXPORTS)

    # a second merge of the same run changes nothing
    again = moon("merge", runs["qwen"])["entry"]
    assert again["action"] == "remerge"
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again["counts"].values())

    # refusals are one line and change nothing
    mash = root / "reports" / "main" / "moonshine_mash_active.db"
    before_refusal = sha(mash)
    assert "one provider run per merge" in moon("merge", runs["qwen"], runs["claude"], ok=False)
    assert "is not the latest merge" in moon("rollback", runs["qwen"], ok=False)
    assert sha(mash) == before_refusal

    # a re-export with one changed and one new conversation
    data = json.loads((REAL / EXPORTS["qwen"]).read_text())
    first = data["data"][0]
    user = next(m for m in first["chat"]["history"]["messages"].values() if m["role"] == "user")
    user["content"] = user["content"] + " (edited in a later export)"
    newcomer = json.loads(json.dumps(data["data"][1]))
    newcomer["id"] = "brand-new-conversation"
    data["data"].append(newcomer)
    reexport = tmp_path / "qwen-reexport.json"
    reexport.write_text(json.dumps(data))
    run2 = moon("ingest", str(reexport))["run_id"]
    moon("archive", run2)
    before_merge = sha(mash)
    merged = moon("merge", run2)["entry"]
    assert merged["counts"]["conversations"] == {"inserted": 1, "updated": 1,
                                                 "skipped": len(data["data"]) - 2}
    assert sha(mash) != before_merge

    # rollback restores the mash byte for byte
    moon("rollback", run2)
    assert sha(mash) == before_merge

    # docs-sync is idempotent
    moon("docs-sync")
    docs = {p: sha(p) for p in (root / "TOKEN_FORENSICS_README.md", root / "PROJECT_MOONSHINE_UPDATE_1.md",
                                root / "docs" / "Moonshine-Project-Overview.md")}
    assert not any(moon("docs-sync").values())
    assert {p: sha(p) for p in docs} == docs
