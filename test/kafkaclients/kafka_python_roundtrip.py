"""Produce records with kafka-python and consume them back, checking keys,
values, headers and offsets. Run by test/kafkaclients_test.go:

    python3 kafka_python_roundtrip.py BOOTSTRAP TOPIC COUNT

It prints one line per record consumed ("offset key value h=v,...") and
exits non-zero on any difference. Consumption assigns the partition itself:
LogBroker's Kafka listener has no consumer groups yet.
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The idempotent producer (InitProducerId) is not served yet.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                             enable_idempotence=False, linger_ms=5)
    sent = []
    for i in range(count):
        key = ("key-%d" % i).encode()
        value = ("value-%d" % i).encode() * (1 + i % 3)
        headers = [("n", str(i).encode()), ("src", b"kafka-python")]
        meta = producer.send(topic, key=key, value=value, headers=headers,
                             partition=0).get(timeout=30)
        sent.append((meta.offset, key, value, headers))
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=10000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    for rec in consumer:
        got.append((rec.offset, rec.key, rec.value, list(rec.headers)))
        print("%d %s %s %s" % (rec.offset, rec.key.decode(), rec.value.decode(),
                               ",".join("%s=%s" % (k, v.decode()) for k, v in rec.headers)))
        if len(got) == len(sent):
            break
    consumer.close()
    if got != sent:
        print("MISMATCH: sent %d records, consumed %d" % (len(sent), len(got)), file=sys.stderr)
        for s, g in zip(sent, got):
            if s != g:
                print("first difference: sent %r, got %r" % (s, g), file=sys.stderr)
                break
        sys.exit(1)
    print("OK %d records" % len(got))


if __name__ == "__main__":
    main()
