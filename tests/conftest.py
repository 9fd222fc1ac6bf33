"""Shared pytest fixtures. Keep this to fixture imports/registration only."""

from tests.support.postgres import postgres_cluster  # noqa: F401  (session fixture)
