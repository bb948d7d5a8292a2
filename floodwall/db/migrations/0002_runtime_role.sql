-- Floodwall sink schema, version 2: a runtime role with only the DML the sink needs (floodwall/db/roles.py).
-- The role running the migrations owns the schema and its tables. Consumers connect as a login role that
-- is a member of the NOLOGIN group role floodwall_runtime, granted here: USAGE on the schema, SELECT,
-- INSERT, UPDATE on the sink tables (the sink never deletes; FOR UPDATE locks need UPDATE), SELECT on the
-- migration history, no CREATE. Default privileges cover the tables and sequences of later migrations
-- run by the same owner (SELECT, INSERT, UPDATE; a migration that needs DELETE grants it itself).
-- A database with no floodwall_runtime role whose migrating role may not create one (one role for
-- everything, as before this migration) keeps working: the grants are skipped with a notice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'floodwall_runtime') THEN
        BEGIN
            CREATE ROLE floodwall_runtime NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'role floodwall_runtime is missing and % may not create it: grants skipped (docs/deploy.md)',
                current_user;
            RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO floodwall_runtime', current_schema());
    GRANT SELECT, INSERT, UPDATE
        ON sink_offsets, processed_events, orders, order_items, stock_levels, inventory_ledger
        TO floodwall_runtime;
    GRANT SELECT ON floodwall_schema_migrations TO floodwall_runtime;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE ON TABLES '
                   'TO floodwall_runtime', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES '
                   'TO floodwall_runtime', current_schema());
END
$$;
