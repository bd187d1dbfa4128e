"""The one error model of the project (STYLE.md, practice 2).

`UserError` is a problem with the job or its circuit: it ends the job Failed (or
the event `job.rejected`) with a message that says what to change.
`TransientError` is a problem with infrastructure: it is retried with backoff.
Anything else is a bug, logged with its trace id.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error this package raises on purpose."""


class UserError(OperatorError, ValueError):
    """The job or its circuit is wrong; `message` says what to change.

    `line` points into the circuit source when the problem has a place there.
    """

    def __init__(self, message: str, *, reason: str = "InvalidJob", line: int | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.line = line


class TransientError(OperatorError):
    """Infrastructure failed; the same work may succeed later."""

    def __init__(self, message: str, *, delay: float | None = None):
        super().__init__(message)
        self.message = message
        self.delay = delay


class NoClusterError(TransientError):
    """No Kubernetes cluster is configured at all (a function served on one machine):
    there is nothing to ask, so what only a cluster has (prices, budgets) is absent."""
