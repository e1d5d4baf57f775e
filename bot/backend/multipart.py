"""The streamed multipart body of an upload: files go out chunk by chunk, never whole in memory."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.streams import ByteSource, Opened, PathSource, SourceError


@dataclass(frozen=True, slots=True)
class FileUpload:
    """One file to send: a path on disk or any :class:`ByteSource` (a URL streamed through).

    Either way it streams in chunks, so a phone-sized video never sits in memory."""

    source: Path | ByteSource
    filename: str
    content_type: str = "application/octet-stream"

    def open(self) -> contextlib.AbstractAsyncContextManager[Opened]:
        source = PathSource(self.source) if isinstance(self.source, Path) else self.source
        return source.open()


ProgressFn = Callable[[int], None]
"""Told the number of bytes moved so far, after every chunk."""


_FORM_ESCAPES = {
    '"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
}
_FORM_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _FORM_ESCAPES))


def part_head(boundary: str, upload: FileUpload) -> bytes:
    """A part's boundary line and headers, quoted the way browsers (and httpx) do."""
    name = _FORM_ESCAPE_RE.sub(lambda m: _FORM_ESCAPES[m.group(0)], upload.filename)
    content_type = upload.content_type.replace("\r", "").replace("\n", "")
    return (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


async def multipart_body(
    heads: Sequence[bytes], opened: Sequence[Opened], tail: bytes, on_progress: ProgressFn | None
) -> AsyncIterator[bytes]:
    """The multipart body, chunk by chunk; a source that delivers a different number of
    bytes than it declared fails the upload instead of corrupting it."""
    sent = 0
    for head, source in zip(heads, opened, strict=True):
        yield head
        count = 0
        async for chunk in source.chunks:
            count += len(chunk)
            if source.size is not None and count > source.size:
                raise SourceError(f"the file grew past its declared {source.size} bytes")
            yield chunk
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent)
        if source.size is not None and count != source.size:
            raise SourceError(f"the file ended at {count} of {source.size} bytes")
        yield b"\r\n"
    yield tail
