"""Uniform read access to an export, whatever its container.

An export reaches Moonshine as a zip, an extracted folder, or a single file.
:class:`ExportSource` hides the difference: plugins list member names, open
them as binary streams, sniff the head of a JSON file and stream the items of
a JSON array or the lines of a JSONL file, all without loading a file whole.

The export's hash (:meth:`ExportSource.sha256`) is the sha256 of the file for a
zip or single file; for a folder it is the sha256 over, for every regular file
in sorted relative-path order, the UTF-8 relative path (``/`` separators), a
NUL byte, the file's own sha256 as hex, and a newline. Hidden files and
folders (names starting with ``.``) are included. Symbolic links are never
followed and FIFOs, sockets and devices never opened: they are not members
and not hashed (:meth:`ExportSource.skipped` lists them), so the hash covers
exactly the files that are read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import ijson

from .errors import ParseError

_CHUNK = 1 << 20
#: What a damaged zip member raises while it is read (besides JSON errors).
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_sha256(path: str | os.PathLike[str]) -> str:
    """The documented folder hash (see the module docstring)."""
    root = Path(path)
    digest = hashlib.sha256()
    for rel in _walk_files(root):
        digest.update(rel.encode("utf-8") + b"\0" + file_sha256(root / rel).encode("ascii") + b"\n")
    return digest.hexdigest()


def _walk_files(root: Path) -> list[str]:
    return walk_export_folder(root)[0]


def _not_read(path: Path) -> str | None:
    """Why a folder entry is not part of the export (never followed, never read), or ``None``.

    Symbolic links are not followed, wherever they point: a link can lead out of the export (to
    ``/etc``, to another user's files) or to a device (``/dev/zero`` never ends). FIFOs, sockets and
    devices are never opened (opening a FIFO waits for a writer forever).
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return "a symbolic link (not followed)"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"{_file_type(mode)} (not read)"


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def walk_export_folder(root: str | os.PathLike[str]) -> tuple[list[str], dict[str, str]]:
    """An export folder's regular files (sorted relative paths, ``/`` separators) and what was left
    out with the reason (:func:`_not_read`): the members the export holds, hashes and archives."""
    root = Path(root)
    found: list[str] = []
    skipped: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):   # os.walk never descends into linked folders
        dirnames.sort()
        for name in list(dirnames):
            reason = _not_read(Path(dirpath) / name)
            if reason:
                dirnames.remove(name)
                skipped[(Path(dirpath) / name).relative_to(root).as_posix()] = reason
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            reason = _not_read(full)
            if reason:
                skipped[rel] = reason
            else:
                found.append(rel)
    return sorted(found), dict(sorted(skipped.items()))


def ignore_unread(dirpath: str, names: list[str]) -> set[str]:
    """A ``shutil.copytree`` ``ignore`` that leaves out what :func:`walk_export_folder` leaves out, so
    an archived copy holds exactly the files that were hashed and read."""
    return {name for name in names if _not_read(Path(dirpath) / name)}


@attrs.define
class JsonSniff:
    """What the head of a JSON document looks like.

    ``top`` is ``array``, ``object``, ``scalar`` or ``invalid``; ``prefixes`` is
    the set of ijson prefixes of the keys seen within the byte budget (for
    example ``item.mapping`` or ``data.item.chat``); ``complete`` says the
    whole document fitted in the budget; ``first_item_keys`` lists the keys of
    the first element of a top-level array (or of the top-level object).
    """

    top: str
    prefixes: set[str] = attrs.field(factory=set)
    first_item_keys: list[str] = attrs.field(factory=list)
    complete: bool = False
    error: str | None = None


def sniff_json(stream: IO[bytes], max_bytes: int = 256 * 1024) -> JsonSniff:
    """Look at the first ``max_bytes`` of a JSON stream without reading the rest."""
    try:
        head = stream.read(max_bytes)
    except _DAMAGED as exc:
        return JsonSniff(top="invalid", error=f"damaged or truncated data ({type(exc).__name__}: {exc})")
    complete = len(head) < max_bytes
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        return JsonSniff(top="invalid", complete=complete, error="empty file")
    first = stripped[:1]
    top = {b"[": "array", b"{": "object"}.get(first, "scalar")
    sniff = JsonSniff(top=top, complete=complete)
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(stripped), use_float=True):
            if event == "map_key":
                key_prefix = f"{prefix}.{value}" if prefix else value
                sniff.prefixes.add(key_prefix)
                if (top == "array" and prefix == "item") or (top == "object" and prefix == ""):
                    if value not in sniff.first_item_keys and not _past_first_item(sniff, top):
                        sniff.first_item_keys.append(value)
            elif top == "array" and prefix == "" and event == "end_array":
                break
            elif top == "array" and prefix == "item" and event == "end_map":
                sniff.prefixes.add("item.<end>")
    except ijson.IncompleteJSONError as exc:
        if complete:
            sniff.error = f"invalid JSON: {exc}"
            if not sniff.prefixes:
                sniff.top = "invalid"
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        sniff.error = f"invalid JSON: {exc}"
        if not sniff.prefixes:
            sniff.top = "invalid"
    return sniff


def _past_first_item(sniff: JsonSniff, top: str) -> bool:
    return top == "array" and "item.<end>" in sniff.prefixes


def iter_json_items(stream: IO[bytes], prefix: str = "item", *, path: str | None = None) -> Iterator[Any]:
    """Stream the values at ``prefix`` (``item`` = elements of a top-level array).

    Memory stays proportional to one item. Malformed JSON raises
    :class:`ParseError` naming ``path``.
    """
    try:
        yield from ijson.items(stream, prefix, use_float=True)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise ParseError(f"invalid JSON ({exc})", path=path) from exc
    except _DAMAGED as exc:
        raise ParseError(f"damaged or truncated data ({type(exc).__name__}: {exc})", path=path) from exc


def iter_jsonl(stream: IO[bytes]) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_number, value, error)`` for each non-blank line of a JSONL stream.

    A line that is not valid JSON gives ``value=None`` and a one-line ``error``;
    the caller decides whether that is fatal (a session log cut off mid-write
    usually ends with one such line).
    """
    import json

    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except (ValueError, UnicodeDecodeError) as exc:
                yield number, None, f"line {number}: invalid JSON ({exc})"
    except _DAMAGED as exc:
        raise ParseError(f"damaged or truncated data after line {number} ({type(exc).__name__}: {exc})") from exc


class _CountingReader:
    """Wraps a member's binary stream and adds what is read to its source's ``bytes_read``.

    Progress displays use it: streaming parsers read each member once, front to back, so
    bytes read over total bytes is how far an ingest has come.
    """

    def __init__(self, handle: IO[bytes], owner: "ExportSource"):
        self._handle = handle
        self._owner = owner

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._owner.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self._handle.readinto(buffer)
        self._owner.bytes_read += n or 0
        return n

    def readline(self, size: int = -1) -> bytes:
        data = self._handle.readline(size)
        self._owner.bytes_read += len(data)
        return data

    def __iter__(self) -> "_CountingReader":
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> "_CountingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class ExportSource:
    """An export on disk: a zip file, an extracted folder, or a single file.

    Members are named by their path relative to the export root with ``/``
    separators; a single file has one member, its own file name. Use it as a
    context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()   # a link the user names is followed: they chose it
        if not self.path.exists():
            raise ParseError("no such file or folder", path=str(path))
        mode = self.path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            # zipfile.is_zipfile on a FIFO or /dev/zero would wait or read forever.
            raise ParseError(f"is {_file_type(mode)}, not an export: give a zip, an export folder or a file",
                             path=str(path))
        self._zip: zipfile.ZipFile | None = None
        self._skipped: dict[str, str] = {}
        if self.path.is_dir():
            self.kind = "dir"
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ParseError(f"unreadable zip ({exc})", path=str(path)) from exc
        else:
            self.kind = "file"
        self._names: list[str] | None = None
        #: Bytes read so far through :meth:`open` (uncompressed), for progress displays.
        self.bytes_read = 0

    # -- container --------------------------------------------------------------
    def names(self) -> list[str]:
        """Every member's relative path, sorted."""
        if self._names is None:
            if self.kind == "dir":
                self._names, self._skipped = walk_export_folder(self.path)
            elif self.kind == "zip":
                assert self._zip is not None
                names = [i.filename for i in self._zip.infolist() if not i.is_dir()]
                twice = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) < len(names) else []
                if twice:
                    # zipfile would open only the last of them: reading one silently drops the others.
                    raise ParseError(f"the zip holds {len(twice)} member name(s) more than once ({', '.join(twice[:3])}); "
                                     "which copy is the export cannot be told: unzip it and give the folder or "
                                     "the file you mean", path=str(self.path))
                self._names = sorted(names)
            else:
                self._names = [self.path.name]
        return list(self._names)

    def skipped(self) -> dict[str, str]:
        """Entries of an export folder that are not members, with the reason: symbolic links (never
        followed), FIFOs, sockets, devices, unreadable entries. Empty for a zip or a single file."""
        self.names()
        return dict(self._skipped)

    def find(self, pattern: str) -> list[str]:
        """Members whose base name fully matches the regular expression ``pattern``, sorted."""
        regex = re.compile(pattern)
        return [n for n in self.names() if regex.fullmatch(n.rsplit("/", 1)[-1])]

    def open(self, name: str) -> IO[bytes]:
        """Open a member for binary reading (a context manager)."""
        try:
            if self.kind == "dir":
                if name not in self.names():
                    raise KeyError(name)   # a link or device named directly is still not a member
                handle: IO[bytes] = open(self.path / name, "rb")
            elif self.kind == "zip":
                assert self._zip is not None
                handle = self._zip.open(name)
            elif name != self.path.name:
                raise KeyError(name)
            else:
                handle = open(self.path, "rb")
            return _CountingReader(handle, self)  # type: ignore[return-value]
        except KeyError as exc:
            raise ParseError(f"no member {name!r} in the export", path=str(self.path)) from exc
        except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            # zipfile raises RuntimeError for an encrypted member, NotImplementedError for a compression
            # method it lacks: both mean "this export cannot be read", which is what ParseError says.
            raise ParseError(f"cannot open member {name!r} ({exc})", path=str(self.path)) from exc

    def size(self, name: str) -> int:
        """Uncompressed size of a member in bytes."""
        if self.kind == "zip":
            assert self._zip is not None
            return self._zip.getinfo(name).file_size
        if self.kind == "dir":
            return (self.path / name).stat().st_size
        return self.path.stat().st_size

    def display(self, name: str) -> str:
        """A human-readable location for error messages (``export.zip!conversations.json``)."""
        if self.kind == "file":
            return str(self.path)
        joiner = "!" if self.kind == "zip" else "/"
        return f"{self.path}{joiner}{name}"

    def head(self, name: str, size: int = 64 * 1024) -> bytes:
        """The first ``size`` bytes of a member."""
        with self.open(name) as handle:
            return handle.read(size)

    def sniff_json(self, name: str, max_bytes: int = 256 * 1024) -> JsonSniff:
        """:func:`sniff_json` on a member."""
        with self.open(name) as handle:
            return sniff_json(handle, max_bytes)

    def iter_json(self, name: str, prefix: str = "item") -> Iterator[Any]:
        """Stream the values at ``prefix`` of a JSON member (see :func:`iter_json_items`)."""
        with self.open(name) as handle:
            yield from iter_json_items(handle, prefix, path=self.display(name))

    def iter_jsonl(self, name: str) -> Iterator[tuple[int, Any, str | None]]:
        """Stream the lines of a JSONL member (see :func:`iter_jsonl`)."""
        with self.open(name) as handle:
            yield from iter_jsonl(handle)

    def load_json(self, name: str, max_bytes: int = 64 * 1024 * 1024) -> Any:
        """Load a small JSON member whole (side files); refuses members over ``max_bytes``."""
        import json

        if self.size(name) > max_bytes:
            raise ParseError(f"{name} is too large to load whole ({self.size(name)} bytes)", path=str(self.path))
        with self.open(name) as handle:
            try:
                return json.loads(handle.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise ParseError(f"invalid JSON ({exc})", path=self.display(name)) from exc
            except _DAMAGED as exc:
                raise ParseError(f"damaged or truncated data ({type(exc).__name__}: {exc})",
                                 path=self.display(name)) from exc

    def nested(self, name: str) -> "ExportSource":
        """An :class:`ExportSource` over a member that is itself a zip (batch or per-category zips)."""
        if self.kind == "dir":
            return ExportSource(self.path / name)
        if self.kind != "zip":
            raise ParseError(f"{name} is not a nested archive", path=str(self.path))
        inner = _NestedZipSource(self, name)
        return inner

    # -- identity ---------------------------------------------------------------
    def sha256(self) -> str:
        """The export's hash: of the file for a zip or single file, the folder hash for a folder."""
        if self.kind == "dir":
            return folder_sha256(self.path)
        return file_sha256(self.path)

    def total_size(self) -> int:
        """Bytes on disk: the file's size, or the sum of a folder's files."""
        if self.kind == "dir":
            return sum((self.path / n).stat().st_size for n in self.names())
        return self.path.stat().st_size

    def uncompressed_size(self) -> int:
        """Sum of every member's uncompressed size (what :attr:`bytes_read` counts towards)."""
        return sum(self.size(n) for n in self.names())

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> "ExportSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ExportSource({str(self.path)!r}, kind={self.kind!r})"


class _NestedZipSource(ExportSource):
    """A zip inside a zip, read through the outer archive without extracting to disk."""

    def __init__(self, outer: ExportSource, name: str):
        assert outer._zip is not None
        self.path = Path(f"{outer.path}!{name}")
        self.kind = "zip"
        self._names = None
        self.bytes_read = 0
        try:
            self._handle = outer._zip.open(name)
            self._zip = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise ParseError(f"unreadable nested zip {name!r} ({exc})", path=str(outer.path)) from exc

    def size(self, name: str) -> int:
        assert self._zip is not None
        return self._zip.getinfo(name).file_size

    def sha256(self) -> str:
        raise ParseError("a nested archive has no hash of its own; hash the outer export", path=str(self.path))

    def total_size(self) -> int:
        assert self._zip is not None
        return sum(i.compress_size for i in self._zip.infolist())
