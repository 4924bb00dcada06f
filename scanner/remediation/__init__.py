"""Remediation: acting on reviewed findings through a journal, and proving it (the audit log)."""
