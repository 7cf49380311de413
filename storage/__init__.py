"""Storage: the only package with SQL in it."""

from storage.db import Database, DatabaseTooNewError, Tx

__all__ = ["Database", "DatabaseTooNewError", "Tx"]
