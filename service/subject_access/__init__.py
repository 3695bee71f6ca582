"""Subject access export: one child's whole record as a zip, streamed, with a redaction sheet."""
