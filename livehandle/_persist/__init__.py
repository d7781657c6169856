"""Persistence: session snapshots, the stores that keep them, and one owner at a time."""
