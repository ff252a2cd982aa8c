"""Database: tables, engine/session factory and migrations."""
