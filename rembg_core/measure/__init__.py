"""Measuring memory and speed: sampling RSS, fresh-process runs, sweeps, analysis and reports.

sampling  RSS, RssSampler, MemoryTrace, trim      configs  ProbeConfig, config_set
records   ProbeRecord, IdleRecord                  runner   fresh children, results on a pipe
child     the child side                           sweep    interleaved rounds, SweepResult
analysis  intervals, Pareto, recommendation         report   rows, table, CSV
"""
