#!/usr/bin/env python3
"""Drains an SQS queue (the webhook load benchmark's inbound FIFO queue) in a process of its own.

Receives 10 messages at a time with all system attributes, deletes them, and records
(MessageDeduplicationId, the body's message.message_id) for each. Stops after --idle seconds
without a message and prints one JSON object: received, unique_message_ids, duplicates,
unique_dedup_ids, seconds, message_ids (sorted). With --bodies FILE it also writes every body
received, one per line, in the order received (the benchmark hands them on as the dispatcher would
get them).

    drain-queue.py --endpoint http://127.0.0.1:5000 --region us-east-1 --queue-url URL [--idle 10] [--bodies FILE]
"""

import argparse
import json
import sys
import time
from collections import Counter

import boto3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--idle", type=float, default=10.0, help="stop after this many seconds without a message")
    parser.add_argument("--bodies", help="write every body received to this file, one per line")
    args = parser.parse_args()

    sqs = boto3.client(
        "sqs",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    started = time.monotonic()
    last_message = started
    records = []  # (MessageDeduplicationId, message_id)
    bodies = []
    while time.monotonic() - last_message < args.idle:
        out = sqs.receive_message(
            QueueUrl=args.queue_url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        messages = out.get("Messages", [])
        if not messages:
            continue
        last_message = time.monotonic()
        for m in messages:
            dedup = m.get("Attributes", {}).get("MessageDeduplicationId", "")
            try:
                message_id = str(json.loads(m["Body"])["message"]["message_id"])
            except (ValueError, KeyError, TypeError):
                message_id = ""
            records.append((dedup, message_id))
            bodies.append(m["Body"])
        sqs.delete_message_batch(
            QueueUrl=args.queue_url,
            Entries=[{"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )

    if args.bodies:
        with open(args.bodies, "w", encoding="utf-8") as out:
            for body in bodies:
                out.write(body.replace("\n", " ") + "\n")

    ids = Counter(message_id for _, message_id in records)
    summary = {
        "received": len(records),
        "unique_message_ids": len(ids),
        "duplicates": sum(n - 1 for n in ids.values()),
        "unique_dedup_ids": len({dedup for dedup, _ in records}),
        "seconds": round(last_message - started, 3),
        "message_ids": sorted(ids),
    }
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
