"""A size cap on uploaded files, enforced while the request body streams in.

Django would otherwise spool a 10 GB upload to a temporary file before any view
could look at its size. The cap here skips the file that passes it: the rest of the
body is read and dropped, never stored, so a browser that is still sending gets the
page that says why (a server that stops reading mid-body makes browsers show a reset
connection instead). The API's stricter cap, which stops reading at once, builds on
this one (`podium.submissions.uploads`).
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class CappedUploadHandler(FileUploadHandler):
    """Counts each uploaded file's bytes; a file past `max_bytes` is skipped and its field remembered."""

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large: list[str] = []  # the field of each skipped file
        self._received = 0

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self.over_the_cap()
        return raw_data

    def over_the_cap(self) -> None:
        self.too_large.append(self.field_name)
        raise SkipFile(f"{self.file_name} is larger than {self.max_bytes} bytes")

    def file_complete(self, file_size):
        return None  # the next handler builds the file object


def install_capped_handler(request, *, max_bytes: int) -> CappedUploadHandler:
    """Put the cap in front of Django's handlers; call before the body is read."""
    handler = CappedUploadHandler(request, max_bytes=max_bytes)
    request.upload_handlers.insert(0, handler)
    return handler
