"""Autoscaler: measure (lag, rates, DB health) → decide (pure policy) → act (local or Kubernetes)."""
