"""The local embedded stack: process supervision, generated configs and readiness checks."""
