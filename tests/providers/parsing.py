"""Counting what a meter JSON-parses: the hot path parses only the events that matter."""


def json_parses(monkeypatch, meter_module) -> list[bytes]:
    """Every document `meter_module` parses with orjson from now on, in order."""
    parsed = []
    real = meter_module.orjson

    class CountingOrjson:
        JSONDecodeError = real.JSONDecodeError

        @staticmethod
        def loads(data):
            parsed.append(bytes(data))
            return real.loads(data)

    monkeypatch.setattr(meter_module, "orjson", CountingOrjson)
    return parsed
