"""The sink's PostgreSQL schema (versioned migrations) and database connection settings."""
