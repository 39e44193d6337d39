"""Reads behind the usage pages: money formatting, the dashboard, and the log and session lists.

`money` formats costs, `dashboard` aggregates UsageDaily for a period, `lists` pages logs
and sessions by keyset, `log_detail` renders one call's request and response.
"""
