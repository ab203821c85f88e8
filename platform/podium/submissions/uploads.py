"""The submission upload's size cap: an API client's upload stops being read at the cap.

Django's default handlers would first spool the whole body to disk; this cap sits in
front of them and refuses while the bytes are still arriving, so a 10 GB upload costs
the server at most the cap. A page (the Submit tab) uses the skipping cap it builds on,
so that a browser still sending gets a readable page.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler

from common.problems import Problem
from podium.competitions.upload_handlers import CappedUploadHandler
from podium.errors import TooLarge

# Multipart boundaries, headers and the small text fields beside the file.
MULTIPART_ALLOWANCE = 64 * 1024


class UploadTooLarge(TooLarge):
    """Raised while the request body is read, so the API's one handler answers it: 413, the field named."""

    def __init__(self, *, field: str, cap: int):
        self.field = field
        self.cap = cap
        super().__init__(
            f"The upload is larger than the limit of {cap:,} bytes; nothing was stored.",
            problems=[Problem(path=field, message=f"larger than {cap:,} bytes")],
            extra={"limit": cap},
        )


class RefusingUploadHandler(CappedUploadHandler):
    """Raises UploadTooLarge at the chunk that passes the cap, or before reading when the
    declared length is already past it."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.max_bytes + MULTIPART_ALLOWANCE:
            raise UploadTooLarge(field="file", cap=self.max_bytes)
        return None

    def over_the_cap(self) -> None:
        raise UploadTooLarge(field=self.field_name, cap=self.max_bytes)


def submission_upload_handlers(request) -> list:
    """The API's handlers for an entry's upload; set them before anything reads the body."""
    return [
        RefusingUploadHandler(request, max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES),
        # Small files stay in memory (a temporary file costs more than parsing them);
        # large ones spool to disk, as Django's defaults do.
        MemoryFileUploadHandler(request),
        TemporaryFileUploadHandler(request),
    ]
