"""Config helpers shared by the tests."""


def reversed_keys(value):
    """The value with every mapping's keys in reverse order, at every level (lists keep their order)."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value
