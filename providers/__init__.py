"""What Codecosts knows of each provider's wire format, in one place per provider.

A library, not a Django app: `proxy` (the hot path) and `usage` (the worker and the read
path) both import it, and it imports neither. Each provider is one folder:

    providers/<name>/__init__.py    SPEC: routes, upstream setting, meters, rate-limit
                                    groups, reassemblers and error shape, as one
                                    `ProviderSpec`
    providers/<name>/meter.py       usage read from response bytes as they pass (hot path)
    providers/<name>/reassemble.py  a stream rebuilt into the final object (read path)
    providers/<name>/errors.py      the provider's error body and stream error event

`providers.registry` maps each `Provider` to its SPEC; adding a provider is one folder
and one line there. Shared parts: `spec` (the `Provider` enum and `ProviderSpec`), `base`
(the meter base class and JSON helpers), `sse` (the event splitter), `tokens`
(`TokenUsage`, the one vocabulary of token classes) and `requests` (request inspection).
"""
