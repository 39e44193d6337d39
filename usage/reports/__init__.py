"""Reads behind the usage pages: `dashboard` aggregates UsageDaily for a period, `lists`
pages logs and sessions by keyset, `log_detail` renders one call's request and response.
"""
