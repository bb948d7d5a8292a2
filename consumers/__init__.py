"""Consumer fleet: batch → decode → validate → rate-limit → one Postgres transaction (rows + offsets)."""
