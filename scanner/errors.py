"""The library's errors: every exception faceaudit raises derives from FaceauditError, so a
caller can catch them all (`except FaceauditError`) without catching its own bugs. A leaf:
it imports nothing."""

from __future__ import annotations


class FaceauditError(Exception):
    """Base of every error the library raises."""


class ConfigError(FaceauditError, ValueError):
    """A configuration that cannot be used (a limit that is not positive, an unknown
    detector, a bad include/exclude pattern); the message names the setting."""
