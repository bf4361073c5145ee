"""The one error a store raises for a problem the user must fix (path, version, engine missing)."""


class StoreError(RuntimeError):
    """A store that cannot be used as asked; the message names the store and the problem."""
