"""Marshmallow schemas for the HTTP API: one module per feature, separate load and dump shapes."""
