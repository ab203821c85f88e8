"""kombu transports both Celery apps load by name (`common.broker.broker_transport`).

The one module of `common` that imports kombu: both tiers run Celery, and both must read
and write the broker the same way, so the transport is defined once, here, beside the
broker options. Nothing else in `common` may import it.

Filesystem (`make run`'s embedded broker). kombu's own filesystem channel writes a message
by `open(name, "wb")`, then `flock`, then `write`: the file is visible, empty, before the
lock is taken, and its reader neither locks nor retries, so a consumer polling under a
burst of messages moves an empty file away and dies on `json.loads("")` (JSONDecodeError
inside `_get`, which stops the whole worker); an exchange's binding table is created the
same way and read by every publish. Here a message is written under a name no
consumer matches and renamed into place, so a consumer only ever sees whole files; a
consumer claims a file by an atomic rename, so two consumers never read the same one;
and a file that still cannot be parsed (left by a writer on kombu's own channel, or cut
short by a full disk) is waited for under a shared lock, then set aside with an error
in the log instead of killing the consumer.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from contextlib import suppress
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# A name a consumer never matches: kombu selects `<stamp>.<queue>.msg` by what follows the first dot.
PARTIAL_SUFFIX = ".part"
UNREADABLE_SUFFIX = ".unreadable"
# How long a consumer waits for a foreign (non-atomic) writer to finish a file it claimed.
UNREADABLE_GRACE_S = 2.0


class FilesystemChannel(filesystem.Channel):
    def _queue_bind(self, exchange, routing_key, pattern, queue):
        # kombu creates an exchange's table with open("wb") before locking it: a publisher
        # reading the table then sees it empty. A new table appears whole, by a link that
        # refuses to replace one another process made; an existing one is updated by kombu
        # under its lock (it only grows there).
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        if not table.exists():
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            partial = table.with_name(f"{table.name}.{uuid.uuid4()}{PARTIAL_SUFFIX}")
            partial.write_bytes(str_to_bytes(dumps([binding])))
            try:
                os.link(partial, table)
                return
            except FileExistsError:
                pass
            finally:
                partial.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)

    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(self.processed_folder, filename)
            try:
                # Atomic on one filesystem (the folders share var/broker): exactly one consumer wins.
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim {filename!r} from the queue folder") from exc
            payload = self._read_claimed(claimed)
            if payload is not None:
                return payload
        raise Empty()

    def _read_claimed(self, path: str):
        """The message in a claimed file, or None when it is not a whole message (set aside)."""
        deadline = time.monotonic() + UNREADABLE_GRACE_S
        while True:
            try:
                with open(path, "rb") as handle:
                    # A writer on kombu's own channel holds an exclusive lock while it writes.
                    filesystem.lock(handle, filesystem.LOCK_SH)
                    try:
                        raw = handle.read()
                    finally:
                        filesystem.unlock(handle)
                payload = loads(bytes_to_str(raw))
            except OSError as exc:
                raise ChannelError(f"Cannot read file {path!r} from queue.") from exc
            except ValueError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                with suppress(OSError):
                    os.replace(path, path + UNREADABLE_SUFFIX)
                logger.error(
                    "broker message file %s is not a whole message (%d bytes) after %.0f s; "
                    "set aside as %s and skipped",
                    path,
                    len(raw),
                    UNREADABLE_GRACE_S,
                    path + UNREADABLE_SUFFIX,
                )
                return None
            if not self.store_processed:
                with suppress(FileNotFoundError):
                    os.remove(path)
            return payload

    @property
    def processed_folder(self):
        # Claimed files go here even when they are not kept: the rename must stay on one filesystem.
        return self.transport_options.get("processed_folder", "processed")


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel

    @property
    def default_connection_params(self):
        # Folders, no host: kombu's virtual default ("localhost") only made every
        # connection log "No hostname was supplied" at start-up.
        return {"port": self.default_port}
