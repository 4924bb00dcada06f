"""Dependency vulnerability audit: `make audit` (also run by `make lint`).

Runs pip-audit over the project's environment (the editable faceaudit itself is skipped) and
says plainly which of three things happened:

- vulnerabilities found: they are listed and the exit status is 1;
- every distribution audited, or most: "no known vulnerabilities", with the ones that could
  not be audited named, exit 0;
- no verdict at all (pip-audit missing, the vulnerability service unreachable, or it answered
  for none of the distributions): "SKIPPED" and why, exit 0 -- or 1 with
  FACEAUDIT_AUDIT_STRICT=1, for a CI that must have a verdict. Never a silent pass.

    .venv/bin/python tools/audit.py                  # PyPI's JSON API (the default here)
    .venv/bin/python tools/audit.py --service osv    # the OSV database instead
    .venv/bin/python tools/audit.py --ignore-vuln GHSA-xxxx-xxxx-xxxx   # reviewed, with a note
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from typing import Any


def skipped(why: str) -> int:
    strict = os.environ.get("FACEAUDIT_AUDIT_STRICT") == "1"
    print(f"audit {'FAILED' if strict else 'SKIPPED'}: {why}", file=sys.stderr)
    print("  no vulnerability verdict was reached for the dependencies.", file=sys.stderr)
    return 1 if strict else 0


def run(service: str, ignored: list[str], timeout: int) -> tuple[int, str, str]:
    cmd = [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off"]
    cmd += ["--format", "json", "--vulnerability-service", service, "--desc", "off"]
    cmd += ["--timeout", str(timeout)]
    for vuln in ignored:
        cmd += ["--ignore-vuln", vuln]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    return proc.returncode, proc.stdout, proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request")
    args = parser.parse_args()
    if importlib.util.find_spec("pip_audit") is None:
        return skipped("pip-audit is not installed (it is in the dev extra: make dev)")
    code, out, err = run(args.service, args.ignore_vuln, args.timeout)
    try:
        report: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return skipped(f"pip-audit could not query {args.service} ({last})")
    return verdict(report.get("dependencies", []), args.service, code)


def verdict(deps: list[dict[str, Any]], service: str, code: int = 0) -> int:
    """Print what pip-audit's JSON says; the exit status."""
    audited = [d for d in deps if "skip_reason" not in d]
    unaudited = [d for d in deps if "skip_reason" in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    if vulnerable:
        print(f"audit: {len(vulnerable)} vulnerable distributions ({service}):")
        for d in vulnerable:
            for v in d["vulns"]:
                fix = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
                print(f"  {d['name']} {d['version']}: {v['id']} (fixed in: {fix})")
        return 1
    if not audited:
        reason = unaudited[0]["skip_reason"] if unaudited else "no distributions found"
        return skipped(
            f"the {service} vulnerability service answered for none of the {len(deps)} "
            f"installed distributions (first: {reason})"
        )
    print(
        f"audit: {len(audited)} distributions audited against {service}: no known vulnerabilities"
    )
    if unaudited:
        names = ", ".join(f"{d['name']} {d['version']}" for d in unaudited)
        print(f"  not audited ({len(unaudited)}): {names}")
    return 1 if code not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
