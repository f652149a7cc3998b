"""Write a toy export of N conversations, streaming (used by the memory and kill tests)."""

from __future__ import annotations

import json
import random
import sys

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def write_export(path: str, conversations: int, turns: int = 10, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for c in range(conversations):
            items = []
            parent = None
            for t in range(turns):
                mid = f"c{c}-m{t}"
                said = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
                # Real exports carry many small metadata objects per message; they are what makes a
                # whole-file load cost several times the file's size in memory.
                meta = {f"flag_{k}": rng.randint(0, 9) for k in range(12)}
                items.append({"id": mid, "parent": parent, "who": "user" if t % 2 == 0 else "assistant",
                              "said": said, "at": 1700000000 + c * 100 + t, "meta": meta})
                parent = mid
            out.write(("," if c else "") + json.dumps({"id": f"conv-{c}", "title": f"T{c}", "turns": items}))
        out.write("]")


if __name__ == "__main__":
    write_export(sys.argv[1], int(sys.argv[2]))
