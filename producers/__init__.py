"""Producer SDK: typed order/inventory events, Avro single-object encoded, keyed, spooled on outage."""
