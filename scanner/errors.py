"""The library's errors: every exception faceaudit raises derives from FaceauditError, so a
caller can catch them all (`except FaceauditError`) without catching its own bugs. A leaf:
it imports nothing."""

from __future__ import annotations


class FaceauditError(Exception):
    """Base of every error the library raises."""


class ConfigError(FaceauditError, ValueError):
    """A configuration that cannot be used (a limit that is not positive, an unknown
    detector, a bad include/exclude pattern); the message names the setting."""


class ExecutorError(FaceauditError):
    """The executor named (`--executor`) cannot be used: its extra is not installed, its
    scheduler cannot be reached, or a worker runs other versions than the caller (the state
    key depends on them). Raised before any item is examined."""


class ExecutorLost(ExecutorError):
    """The executor went away during a scan (a Dask scheduler that stopped): the engine ends
    the scan with a partial result, as an interrupt does."""
