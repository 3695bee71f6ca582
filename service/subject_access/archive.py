"""The export as a zip, streamed: members are produced one after another and the zip is written
as they go (``stream-zip``), so neither the zip nor any evidence file is ever held whole.

The text members (README, JSON, HTML, the redaction sheet) are rendered before the first byte is
sent, from the record gathered beforehand; the evidence is read from the store chunk by chunk
while the zip streams. ``manifest.json`` is the last member: the size and SHA-256 of every
other member, computed as they streamed, so a zip cut short (the store failing mid-stream, a
dropped connection) has no manifest, or a manifest that does not match, and is seen to be
incomplete.

Before the first byte, each evidence file is looked up in the store (a stat on the local folder,
a HEAD on S3). One the store reports as *not found* is exported as missing: listed in
``evidence.json``, ``README.txt`` and ``record.html`` with its recorded size and SHA-256, with
no file in the zip, and logged (ids only). Any other answer from the store (unreachable,
refused) stops the export before it starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import stat
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from stream_zip import ZIP_64, stream_zip

from service.columns import utcnow
from service.subject_access import documents
from service.subject_access.gather import ChildRecord
from service.subject_access.redaction import RedactionSheet
from storage import EvidenceStore, StorageError

log = logging.getLogger(__name__)

MODE = stat.S_IFREG | 0o600
MANIFEST = "manifest.json"
# Evidence is mostly photos, audio and video, already compressed: a light deflate is enough.
COMPRESSION_LEVEL = 6
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("service", "templates/subject_access"),
    autoescape=jinja2.select_autoescape(["html"]),
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Member:
    """One file of the zip: its name, its size, and how to produce its bytes when its turn comes.

    ``label`` names it in logs: an id or a fixed name, never a file name a worker chose.
    """

    name: str
    size: int
    chunks: Callable[[], Iterable[bytes]]
    label: str


@dataclass(frozen=True)
class Export:
    """A prepared export: every member but the manifest, in the order they are written, and
    the ids of the files that are missing from the store (listed, not in the zip).
    """

    child_id: uuid.UUID
    generated_at: datetime
    members: list[Member]
    missing: list[uuid.UUID]

    @property
    def total_bytes(self) -> int:
        """The bytes of all members before compression (what a progress bar counts)."""
        return sum(member.size for member in self.members)

    @property
    def filename(self) -> str:
        """A name for the zip."""
        return f"subject-access-{self.child_id}-{self.generated_at:%Y%m%dT%H%M%SZ}.zip"


def _text(name: str, body: bytes) -> Member:
    return Member(name, len(body), lambda: [body], name)


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def missing_from_store(
    gathered: ChildRecord, store: EvidenceStore, request_id: str | None = None
) -> set[uuid.UUID]:
    """The ids of the files to export that the store says it does not have (a stat or HEAD per
    object, before the first byte). Each is logged, by id only.

    Only the store's "not found" (``FileNotFoundError``, as both stores report it) counts as
    missing; any other failure is raised as :class:`StorageError`, and the export stops there.
    """
    missing: set[uuid.UUID] = set()
    for attachment in documents.exported_files(gathered):
        try:
            store.size(attachment.store_key)
        except FileNotFoundError:
            missing.add(attachment.id)
            log.warning(
                "subject access export of child %s (request %s): evidence %s is missing from the "
                "evidence store; exported as missing, without its file",
                gathered.child.id,
                request_id or "-",
                attachment.id,
            )
        except OSError as error:  # the local folder unreadable: not "missing", a failure
            raise StorageError(
                f"evidence {attachment.id}: {error.strerror or type(error).__name__}"
            ) from None
    return missing


def prepare(
    gathered: ChildRecord, store: EvidenceStore, *, request_id: str | None = None
) -> Export:
    """Check the evidence is in the store, render the text members from the gathered record,
    and line up the evidence to stream.
    """
    generated_at = utcnow()
    missing = missing_from_store(gathered, store, request_id)
    sheet = RedactionSheet()
    texts: list[tuple[str, dict[str, Any]]] = [
        ("child.json", documents.child_document(gathered, sheet))
    ]
    visits: list[dict[str, Any]] = []
    for item in gathered.visits:
        versions = [
            documents.version_document(gathered, item, version, sheet) for version in item.versions
        ]
        texts += [(documents.version_path(item, doc["version"]), doc) for doc in versions]
        draft = documents.draft_document(gathered, item, sheet)
        if draft is not None:
            texts.append((documents.draft_path(item), draft))
        visits.append({"visit": item.visit, "versions": versions, "draft": draft})
    reviews = documents.reviews_document(gathered, sheet)
    evidence = documents.evidence_document(gathered, sheet, missing)
    texts += [("reviews.json", reviews), ("evidence.json", evidence)]
    files = [
        attachment
        for attachment in documents.exported_files(gathered)
        if attachment.id not in missing
    ]
    context = {
        "child": texts[0][1],
        "visits": visits,
        "reviews": reviews["reviews"],
        "evidence": evidence["evidence"],
        "generated_at": generated_at,
        "draft_count": sum(1 for visit in visits if visit["draft"] is not None),
        "version_count": sum(len(visit["versions"]) for visit in visits),
        "file_count": len(files),
        "missing": [item for item in evidence["evidence"] if item["status"] == documents.MISSING],
        "sheet_rows": len(sheet.occurrences),
        "manifest": MANIFEST,
    }
    html = TEMPLATES.get_template("record.html").render(context).encode()
    readme = TEMPLATES.get_template("README.txt").render(context).encode()
    members = [_text("README.txt", readme)]
    members += [_text(name, _json(document)) for name, document in texts]
    members.append(_text("record.html", html))
    members += [
        Member(
            documents.evidence_path(attachment),
            attachment.stored_size,
            _opener(store, attachment.store_key),
            f"evidence {attachment.id}",
        )
        for attachment in files
    ]
    members.append(_text("redaction-sheet.csv", sheet.as_csv()))
    return Export(gathered.child.id, generated_at, members, sorted(missing))


def _opener(store: EvidenceStore, key: str) -> Callable[[], Iterable[bytes]]:
    return lambda: store.open(key)


def stream(
    export: Export,
    *,
    progress: Callable[[int], None] | None = None,
    request_id: str | None = None,
) -> Iterator[bytes]:
    """Yield the zip, chunk by chunk; ``progress(n)`` hears of each ``n`` bytes of members read.

    A failure while streaming (the store unreachable, an object gone since it was checked) is
    logged with the request id and the member's label, and raised: the zip stops there, without
    its manifest.
    """
    written: list[dict[str, Any]] = []
    current = {"label": "start"}

    def hashed(member: Member) -> Iterator[bytes]:
        current["label"] = member.label
        digest = hashlib.sha256()
        size = 0
        for chunk in member.chunks():
            digest.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk
        written.append({"name": member.name, "size": size, "sha256": digest.hexdigest()})

    def manifest() -> Iterator[bytes]:
        current["label"] = MANIFEST
        yield _json(
            {
                "format": documents.FORMAT,
                "child_id": str(export.child_id),
                "generated_at": export.generated_at.isoformat(),
                "note": "Every other file in this zip, with its size and SHA-256. "
                "This file is written last: without it, the export is incomplete.",
                "files": written,
            }
        )

    members: list[Any] = [
        (member.name, export.generated_at, MODE, ZIP_64, hashed(member))
        for member in export.members
    ]
    members.append((MANIFEST, export.generated_at, MODE, ZIP_64, manifest()))
    try:
        yield from stream_zip(members, get_compressobj=_compressor)
    except Exception as error:
        log.error(
            "subject access export of child %s stopped at %s (request %s): %s; the zip is "
            "incomplete and has no manifest",
            export.child_id,
            current["label"],
            request_id or "-",
            type(error).__name__,
        )
        raise


def _compressor() -> Any:
    return zlib.compressobj(level=COMPRESSION_LEVEL, wbits=-zlib.MAX_WBITS)
