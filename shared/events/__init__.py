"""The event backbone: envelope, schemas, topology, outbox relay, publisher, consumer."""
