"""Flash-sale load generator: replays traffic through the SDK and verifies the outcome in Postgres."""
