"""Adapters to the world outside the database: mail."""
