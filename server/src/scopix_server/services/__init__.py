"""Business logic as plain functions over a database session (no HTTP types here)."""
