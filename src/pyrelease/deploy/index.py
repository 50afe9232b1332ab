"""The per-release ``NAME/index.json`` of a store: which versions exist, for which triples.

```json
{"name": "demo", "versions": [
  {"version": "1.2.3", "triple": "x86_64-unknown-linux-gnu",
   "file": "demo/1.2.3/demo-1.2.3-x86_64-unknown-linux-gnu.tar.gz",
   "sha256": "…", "size": 40213, "time": "2026-12-01T23:00:00Z", "signed": true}
]}
```
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from packaging.version import InvalidVersion, Version

from pyrelease.deploy.errors import DeployError
from pyrelease.deploy.store import NotFound, Store

MAX_INDEX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One artifact: a version of the release built for one triple."""

    version: str
    triple: str
    file: str
    sha256: str
    size: int
    time: str
    signed: bool = False

    @property
    def sha256_file(self) -> str:
        return self.file + ".sha256"

    @property
    def sig_file(self) -> str:
        return self.file + ".sig"


#: The suffixes of the two tarball formats a release can be shipped in.
TARBALL_SUFFIXES = (".tar.xz", ".tar.gz")


def tarball_suffix(filename: str) -> str | None:
    """``.tar.xz`` or ``.tar.gz``, whichever ``filename`` ends with; None for neither."""
    return next((s for s in TARBALL_SUFFIXES if filename.endswith(s)), None)


def artifact_name(name: str, version: str, triple: str, suffix: str = ".tar.gz") -> str:
    """The object name of an artifact: ``NAME/VSN/NAME-VSN-TRIPLE.tar.gz``."""
    return f"{name}/{version}/{name}-{version}-{triple}{suffix}"


def index_name(name: str) -> str:
    return f"{name}/index.json"


def parse_version(text: str) -> Version:
    """A PEP 440 version; :class:`DeployError` otherwise."""
    try:
        return Version(text)
    except InvalidVersion:
        raise DeployError(f"{text!r} is not a PEP 440 version: give one like 1.2.3") from None


def _version_key(text: str) -> Version:
    """PEP 440 order; a malformed version (from a broken store) sorts first."""
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0.dev0")


def _key(entry: Entry) -> Version:
    return _version_key(entry.version)


@dataclass
class Index:
    """The versions of one release in a store."""

    name: str
    entries: list[Entry] = field(default_factory=list)

    def find(self, version: str, triple: str) -> Entry | None:
        wanted = parse_version(version)
        for entry in self.entries:
            if entry.triple == triple and _key(entry) == wanted:
                return entry
        return None

    def add(self, entry: Entry) -> None:
        self.entries = [
            e for e in self.entries if not (e.triple == entry.triple and e.version == entry.version)
        ]
        self.entries.append(entry)
        self.entries.sort(key=lambda e: (_key(e), e.triple))

    def choose(self, triple: str, version: str | None, where: str) -> Entry:
        """The entry to pull: ``version`` for ``triple``, or the newest for ``triple``."""
        if not self.entries:
            raise DeployError(f"{where} has no versions of {self.name}: push one first")
        versions = sorted({e.version for e in self.entries}, key=_version_key)
        if version is not None:
            wanted = parse_version(version)
            same = [e for e in self.entries if _key(e) == wanted]
            if not same:
                raise DeployError(
                    f"{self.name} {version} is not in {where}; the versions there are "
                    f"{', '.join(versions)}"
                )
            for_triple = [e for e in same if e.triple == triple]
            if not for_triple:
                raise DeployError(
                    f"{where} has {self.name} {version} only for "
                    f"{', '.join(sorted(e.triple for e in same))}, not for this host's "
                    f"{triple}: build and push it for {triple}"
                )
            return for_triple[0]
        for_triple = [e for e in self.entries if e.triple == triple]
        if not for_triple:
            triples = sorted({e.triple for e in self.entries})
            raise DeployError(
                f"{where} has no {self.name} for this host's {triple}, only for "
                f"{', '.join(triples)}: build and push it for {triple}"
            )
        return max(for_triple, key=_key)

    def to_json(self) -> bytes:
        data = {"name": self.name, "versions": [asdict(e) for e in self.entries]}
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def read_index(store: Store, name: str) -> Index:
    """The release's index in ``store``; an empty one when there is none yet."""
    try:
        raw = b""
        for chunk in store.get(index_name(name)):
            raw += chunk
            if len(raw) > MAX_INDEX_BYTES:
                raise DeployError(f"{index_name(name)} in {store.url} is larger than 16 MiB")
    except NotFound:
        return Index(name)
    try:
        data = json.loads(raw)
        known = {f.name for f in fields(Entry)}
        entries = [Entry(**{k: v for k, v in e.items() if k in known}) for e in data["versions"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DeployError(
            f"{index_name(name)} in {store.url} is not a valid index ({type(exc).__name__}): "
            "restore it from a backup or delete it and push the releases again"
        ) from None
    return Index(str(data.get("name", name)), entries)
