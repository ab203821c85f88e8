"""An upload handler that stops reading a request once a file passes the size cap.

Django's default handlers would first spool the whole body to disk; this one sits
in front of them and aborts while the bytes are still arriving, so a 10 GB upload
costs the server at most the cap.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler

from common.problems import Problem
from podium.errors import TooLarge


class UploadTooLarge(TooLarge):
    """Raised while the request body is read, so the API's one handler answers it: 413, the field named."""

    def __init__(self, *, field: str, cap: int):
        self.field = field
        self.cap = cap
        super().__init__(
            f"The upload is larger than the limit of {cap:,} bytes; nothing was stored.",
            problems=[Problem(path=field, message=f"larger than {cap:,} bytes")],
        )


class CappedUploadHandler(FileUploadHandler):
    """Counts every uploaded file's bytes; raises UploadTooLarge past `cap`."""

    def __init__(self, request=None, *, cap: int):
        super().__init__(request)
        self.cap = cap
        self._seen = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Multipart overhead and small text fields fit comfortably in 64 KiB beyond the cap.
        if content_length and content_length > self.cap + 64 * 1024:
            raise UploadTooLarge(field="file", cap=self.cap)
        return None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._seen = 0

    def receive_data_chunk(self, raw_data, start):
        self._seen += len(raw_data)
        if self._seen > self.cap:
            raise UploadTooLarge(field=self.field_name, cap=self.cap)
        return raw_data

    def file_complete(self, file_size):
        return None
