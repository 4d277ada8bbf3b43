"""A claims run as rows (for the dashboard's table) and as text (for the CLI)."""

from __future__ import annotations

import textwrap

from .catalog import BY_ID
from .records import ClaimsRun

MARK = {"holds": "✓", "partly": "~", "does not hold": "✗", "could not tell": "?"}


def rows(run: ClaimsRun) -> list[dict]:
    out = []
    for r in run.results:
        claim = BY_ID.get(r.claim)
        out.append({"claim": claim.title if claim else r.claim, "verdict": r.verdict, "because": r.because,
                    "figures": "; ".join(f.text for f in r.figures),
                    "runs": sum(rec.ok for rec in r.records), "failed": sum(not rec.ok for rec in r.records)})
    return out


def table(run: ClaimsRun, width: int = 100) -> str:
    lines = [run.provenance, ""]
    for row in rows(run):
        lines.append(f"{MARK[row['verdict']]} {row['claim']}: {row['verdict'].upper()}")
        for text in (row["because"], *(row["figures"].split("; ") if row["figures"] else ())):
            lines += textwrap.wrap(text, width, initial_indent="    ", subsequent_indent="      ")
        if row["failed"]:
            lines.append(f"    ({row['failed']} run(s) failed)")
    return "\n".join(lines)
