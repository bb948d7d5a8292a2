-- Floodwall sink schema, version 1.
-- Money is integer minor units; stock can never go negative (invariant 3); every event is recorded
-- once by its event id (invariant 1), applied or rejected with a reason (invariant 2).

-- Next Kafka offset to consume per partition, written in the same transaction as the rows it covers.
-- A consumer advances a row only from the offset its batch started at (zombie fencing).
CREATE TABLE sink_offsets (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL CHECK (partition >= 0),
    next_offset      bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Every event the sink has taken in, exactly once. A producer-side replay of the same event id is
-- dropped by this primary key, not applied twice.
CREATE TABLE processed_events (
    event_id         uuid        PRIMARY KEY,
    event_type       text        NOT NULL,
    outcome          text        NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason           text,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL CHECK (source_partition >= 0),
    source_offset    bigint      NOT NULL CHECK (source_offset >= 0),
    occurred_at      timestamptz NOT NULL,
    committed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_reason_iff_rejected CHECK ((outcome = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX processed_events_committed_at ON processed_events (committed_at);

CREATE TABLE orders (
    order_id         uuid        PRIMARY KEY,
    customer_id      text        NOT NULL,
    region           text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('placed', 'paid', 'cancelled')),
    currency         char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor      bigint      NOT NULL CHECK (total_minor >= 0),
    placed_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    last_event_id    uuid        NOT NULL
);

CREATE TABLE order_items (
    order_id         uuid        NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no          smallint    NOT NULL CHECK (line_no >= 1),
    sku              text        NOT NULL,
    quantity         integer     NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint      NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_items_sku ON order_items (sku);

-- Current sellable stock per SKU and warehouse.
CREATE TABLE stock_levels (
    sku              text        NOT NULL,
    warehouse        text        NOT NULL,
    available        bigint      NOT NULL CONSTRAINT stock_never_negative CHECK (available >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_event_id    uuid,
    PRIMARY KEY (sku, warehouse)
);

-- Every stock adjustment, applied or rejected (a reservation that would oversell is rejected here).
CREATE TABLE inventory_ledger (
    event_id         uuid        PRIMARY KEY,
    sku              text        NOT NULL,
    warehouse        text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('restock', 'reservation', 'release', 'correction')),
    quantity_delta   bigint      NOT NULL,
    order_id         uuid,
    outcome          text        NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason           text,
    available_after  bigint      CHECK (available_after >= 0),
    occurred_at      timestamptz NOT NULL,
    committed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inventory_ledger_reason_iff_rejected CHECK ((outcome = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX inventory_ledger_sku ON inventory_ledger (sku, warehouse);
