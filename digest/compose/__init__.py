"""Composing, pure: picks to MIME bytes (the builder, templates, rendering, one-line summaries,
signed link tokens, the message)."""
