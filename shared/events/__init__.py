"""The event backbone: CloudEvents envelope, schemas, topology, outbox relay, publisher, consumer."""
