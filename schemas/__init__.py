"""Avro schemas of Floodwall's events, their registry (fingerprints) and compatibility checks."""
