"""TLS_CERT_FILE and TLS_KEY_FILE read again when they change, without a restart.

Used by `deadline.DeadlineH11Protocol` on each new connection. uvicorn loads the
certificate once per worker; a Secret mounted by the kubelet is replaced when
cert-manager renews it (docs/admission.md), so the files' identity is checked as
each connection opens and, when it has changed, loaded into the same SSL context:
the handshakes after that one present the renewed certificate.
"""

from __future__ import annotations

import logging
import os
import ssl

log = logging.getLogger(__name__)


class ServingCertificate:
    def __init__(self, context: ssl.SSLContext, certfile: str, keyfile: str | None) -> None:
        self.context = context
        self.certfile = certfile
        self.keyfile = keyfile
        self._seen = self._identity()

    def refresh(self) -> None:
        """Load the files into the context again if they are not the ones last loaded."""
        identity = self._identity()
        if identity == self._seen:
            return
        try:
            self.context.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError) as error:
            # Half-written during an update, most likely: the old certificate serves
            # on, and the next connection tries again.
            log.warning("TLS certificate %s not reloaded: %s", self.certfile, error)
            return
        self._seen = identity
        log.info("TLS certificate %s reloaded", self.certfile)

    def _identity(self) -> tuple[tuple[int, int, int], ...]:
        # The kubelet swaps a symlink, so the inode changes even when the times do not.
        found = []
        for path in (self.certfile, self.keyfile or self.certfile):
            try:
                stat = os.stat(path)
            except OSError:
                found.append((0, 0, 0))
            else:
                found.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(found)
