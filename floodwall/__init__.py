"""Floodwall: a Kafka-buffered ingestion pipeline for e-commerce events into PostgreSQL."""

__version__ = "0.1.0"
