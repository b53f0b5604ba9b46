"""Readers: what a subscriber entry may say and its status rules, when each one is due, and the
days an issue covers."""
