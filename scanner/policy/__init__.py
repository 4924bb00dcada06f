"""Policies: the YAML language (schema), loading (one strict path), evaluation (pure), and the
CI gate (waivers, baselines). See policies/README.md for the language."""
