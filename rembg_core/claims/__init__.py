"""The source article's claims, checked by measurement on this machine.

catalog   each claim: its words, its test, its criterion     records   trials, figures, results, saved runs
child     child modes (sessions, stream, pillow, cache)       probes    one fresh child per trial
verdicts  one function per claim: records → verdict           engine    check_claims: rounds → ClaimsRun
report    rows and text
"""

from .catalog import CLAIMS, Claim
from .engine import Plan, check_claims
from .records import ClaimResult, ClaimsRun, Figure, TrialRecord, load_run

__all__ = ["CLAIMS", "Claim", "ClaimResult", "ClaimsRun", "Figure", "Plan", "TrialRecord", "check_claims",
           "load_run"]
