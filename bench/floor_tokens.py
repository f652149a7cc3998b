"""The ingest floor: stream-parse a ChatGPT export with ijson and count o200k_base tokens of every text.

    .venv/bin/python bench/floor_tokens.py EXPORT --procs 1     # one process
    .venv/bin/python bench/floor_tokens.py EXPORT --procs 0     # parser here, os.cpu_count() tokeniser processes

The texts are the ones Moonshine counts (moonshine_core.tokens.counted_texts over the ChatGPT
plugin's messages): string parts and audio transcriptions, code and tool output text, browsing
results and quotes, reasoning (thought summaries and bodies), custom instructions, and the name
of the tool a call goes to. Nothing is stored and nothing is cached: this is what parsing and
exact tokenising alone cost. The encoding is loaded the way Moonshine loads it
(``moonshine_core.tokens.load_encoding``, the offline file). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

BATCH = 2000


def message_texts(message: dict) -> list[str]:
    """The texts of one raw ChatGPT message that Moonshine tokenises."""
    content = message.get("content") or {}
    ctype = content.get("content_type")
    out: list[str] = []
    if ctype in ("text", "multimodal_text"):
        for part in content.get("parts") or ():
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and part.get("content_type") == "audio_transcription":
                out.append(part.get("text") or "")
    elif ctype in ("code", "execution_output", "tether_quote", "system_error", "sonic_webpage"):
        out.append(content.get("text") or "")
    elif ctype == "tether_browsing_display":
        out.append(content.get("result") or content.get("summary") or "")
    elif ctype == "thoughts":
        for thought in content.get("thoughts") or ():
            out.append("\n".join(x for x in (thought.get("summary"), thought.get("content")) if x))
    elif ctype == "user_editable_context":
        out.append("\n\n".join(x for x in (content.get("user_profile"), content.get("user_instructions")) if x))
    recipient = message.get("recipient") or "all"
    if (message.get("author") or {}).get("role") == "assistant" and recipient != "all":
        out.append(recipient)
    return [t for t in out if t]


def iter_texts(path: str):
    import ijson

    with open(path, "rb") as f:
        for conversation in ijson.items(f, "item"):
            for node in conversation["mapping"].values():
                message = node.get("message")
                if message:
                    yield from message_texts(message)


def _count(texts: list[str]) -> tuple[int, int]:
    """(texts, tokens) of one batch, in a worker process (the encoding is built once per worker)."""
    from moonshine_core.tokens import load_encoding

    encode = load_encoding().encode_ordinary
    return len(texts), sum(len(encode(t)) for t in texts)


def _batches(path: str):
    batch: list[str] = []
    size = 0
    for text in iter_texts(path):
        batch.append(text)
        size += len(text)
        if size >= BATCH * 500:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--procs", type=int, default=1, help="tokeniser processes (0 = os.cpu_count())")
    args = parser.parse_args()
    procs = args.procs or os.cpu_count() or 1
    t0 = time.perf_counter()
    texts = tokens = 0
    if procs == 1:
        from moonshine_core.tokens import load_encoding

        encode = load_encoding().encode_ordinary
        for text in iter_texts(args.export):
            texts += 1
            tokens += len(encode(text))
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(procs) as pool:
            for n_texts, n_tokens in pool.imap(_count, _batches(args.export)):
                texts += n_texts
                tokens += n_tokens
    print(json.dumps({"procs": procs, "texts": texts, "tokens": tokens, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    sys.exit(main())
