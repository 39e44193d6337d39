"""Writes of the usage app, one module per sub-domain: `logs` (a batch of usage records
becomes logs with their bodies), `daily` (the totals the dashboard reads) and `sessions`
(work sessions: started, ended, joined by calls)."""
