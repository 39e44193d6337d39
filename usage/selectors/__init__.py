"""Reads of the usage app, one module per sub-domain: `logs` (lists and what a stored log
was priced from), `bodies` (a log's request and response for reading), `summary` (totals
grouped by endpoint, model, day or session) and `sessions`.

Time ranges are half-open, `since <= started_at < until`, in UTC (`usage.time_range`).
"""
