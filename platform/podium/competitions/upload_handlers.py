"""A size cap on uploaded files, enforced while the request body streams in.

Django would otherwise spool a 10 GB upload to a temporary file before any view
could look at its size.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class CappedUploadHandler(FileUploadHandler):
    """Skips (never stores) any file that grows past `max_bytes` and remembers which."""

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large: list[str] = []  # "field (file name)" of each skipped file
        self._received = 0

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self.too_large.append(self.field_name)
            raise SkipFile(f"{self.file_name} is larger than {self.max_bytes} bytes")
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file object


def install_capped_handler(request, *, max_bytes: int) -> CappedUploadHandler:
    """Put the cap in front of Django's handlers; call before the body is read."""
    handler = CappedUploadHandler(request, max_bytes=max_bytes)
    request.upload_handlers.insert(0, handler)
    return handler
