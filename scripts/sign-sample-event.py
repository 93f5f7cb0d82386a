#!/usr/bin/env python3
"""Signs a sample webhook event again, with the current time, and prints it.

Slack, Discord and Feishu requests are refused when their signed timestamp is more than 5 minutes
from now, so the signed samples in events/ go stale at once; this writes a fresh copy to stdout:

    .clawless/venv/bin/python scripts/sign-sample-event.py events/webhook-slack.json > /tmp/slack.json
    .clawless/venv/bin/python scripts/sign-sample-event.py events/webhook-discord.json > /tmp/discord.json
    .clawless/venv/bin/python scripts/sign-sample-event.py events/webhook-feishu.json > /tmp/feishu.json
    .clawless/venv/bin/python scripts/sign-sample-event.py events/webhook-discord.json --timestamp 1763740800

It signs with the documented TEST credentials only (never use them for a real bot):
  Slack:   signing secret `test-slack-signing-secret-not-for-production` (slack-sdk's SignatureVerifier)
  Discord: the Ed25519 key whose seed is RFC 8032 section 7.1 test 1's secret key (PyNaCl); its
           public key d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a is the
           bot's `public_key`.
  Feishu:  encrypt key `test-feishu-encrypt-key-not-for-production` (SHA-256 of timestamp, nonce,
           key and body; the stored nonce is kept).
The libraries are in the venv that scripts/bootstrap.sh installs.
"""

import argparse
import hashlib
import json
import sys
import time

SLACK_SIGNING_SECRET = "test-slack-signing-secret-not-for-production"
FEISHU_ENCRYPT_KEY = "test-feishu-encrypt-key-not-for-production"
DISCORD_TEST_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def sign_slack(headers, body, timestamp):
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(timestamp=str(timestamp), body=body)
    headers["x-slack-request-timestamp"] = str(timestamp)
    headers["x-slack-signature"] = signature


def sign_discord(headers, body, timestamp):
    from nacl.signing import SigningKey

    message = str(timestamp).encode() + body.encode()
    headers["x-signature-timestamp"] = str(timestamp)
    headers["x-signature-ed25519"] = SigningKey(DISCORD_TEST_SEED).sign(message).signature.hex()


def sign_feishu(headers, body, timestamp):
    nonce = headers.get("x-lark-request-nonce") or "1c3f2a9b7e5d"
    digest = hashlib.sha256((str(timestamp) + nonce + FEISHU_ENCRYPT_KEY + body).encode()).hexdigest()
    headers["x-lark-request-timestamp"] = str(timestamp)
    headers["x-lark-request-nonce"] = nonce
    headers["x-lark-signature"] = digest


SIGNERS = {"slack": sign_slack, "discord": sign_discord, "feishu": sign_feishu}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", help="an API Gateway HTTP API (v2) event from events/")
    parser.add_argument("--timestamp", type=int, default=None, help="Unix seconds to sign with (default: now)")
    args = parser.parse_args()

    with open(args.event, encoding="utf-8") as f:
        event = json.load(f)
    channel = (event.get("pathParameters") or {}).get("channel")
    if channel not in SIGNERS:
        sys.exit(f"{args.event}: channel {channel!r} is not one this script signs ({', '.join(SIGNERS)})")
    if event.get("isBase64Encoded"):
        sys.exit(f"{args.event}: base64 bodies are not supported")
    timestamp = args.timestamp if args.timestamp is not None else int(time.time())
    body = event["body"]
    headers = event.setdefault("headers", {})
    try:
        SIGNERS[channel](headers, body, timestamp)
    except ImportError as e:
        sys.exit(f"{e}: run this with .clawless/venv/bin/python (scripts/bootstrap.sh installs slack-sdk and PyNaCl)")
    headers["content-length"] = str(len(body.encode()))
    context = event.setdefault("requestContext", {})
    context["timeEpoch"] = timestamp * 1000
    context["time"] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(timestamp))
    sys.stdout.write(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    main()
