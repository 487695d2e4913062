"""A group member that consumes until killed (used to test session timeouts)."""
import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 2000,
              "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest"})
c.subscribe([topic])
deadline = time.time() + 60
while time.time() < deadline:
    c.consume(100, 0.2)
