#!/usr/bin/env python3
"""clawless cost model: measured durations, memory sizes and AWS call counts -> dollars.

Prints the platform's cost per 1 M messages (one inbound message and its answer) by service,
the fixed monthly cost at zero traffic, what passes through (model tokens, AgentCore), and the
seeds' published costs beside them. Python 3 standard library only.

Inputs: flags (defaults below are the figures we have), and the JSON figures the benchmarks
write (`target/bench-figures*.json`, read when present; `--figures FILE` names others,
`--no-figures` ignores them). Keys read from a figures file, all optional:
  dispatcher.batch_wall_ms_p50 / dispatcher.batch_size_avg   -> dispatcher ms per message
  reply.batch_wall_ms_p50 / reply.batch_size_avg             -> reply ms per message
  webhook.duration_ms_p50 (or webhook.warm_ms_p50)           -> webhook ms per request
Measured local durations run against an emulator on the same machine; they stand in for Lambda's
billed duration, and the model never goes below --min-ms (default 50 ms) for the SQS-driven
functions unless told to.

Prices: ONE table, PRICES below, us-east-1 list prices, no free tiers applied unless stated.
"""

import argparse
import glob
import json
import math
import os
import sys

# ---------------------------------------------------------------------------------------------
# The price table: us-east-1 list prices. Read 2026-11-21 from the pages named in SOURCES (the
# AWS pricing pages are the authority; where the search corpus held only third-party summaries
# of them, those are named too and agree with each other). Re-check before publishing.
PRICES_READ_ON = "2026-11-21"
PRICES = {
    # API Gateway HTTP API: per million requests, first 300 M per month (then $0.90, $0.80).
    "apigw_http_per_million": 1.00,
    # Lambda, arm64: per million requests, and per GB-second (first 7.5 B GB-s per month).
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    # SQS: per million requests (each 64 KB chunk of a request's payload is one request).
    "sqs_fifo_per_million": 0.50,
    "sqs_standard_per_million": 0.40,
    # DynamoDB on-demand, Standard table class.
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "dynamodb_storage_per_gb_month": 0.25,  # first 25 GB per month free
    "dynamodb_pitr_per_gb_month": 0.20,  # continuous backups, on the table's size
    # EventBridge Scheduler: per million invocations after 14 M free per month.
    "scheduler_per_million": 1.00,
    # CloudWatch Logs ingestion: Standard class, and Infrequent Access (the functions' log groups,
    # template parameter FunctionLogClass; Lambda logs are priced as vended logs, first 10 TB).
    "logs_ingest_per_gb": 0.50,
    "logs_ingest_ia_per_gb": 0.25,
    "logs_storage_per_gb_month": 0.03,
    # Data transfer out to the internet (first 100 GB per month free across the account).
    "data_out_per_gb": 0.09,
    # Bedrock AgentCore Runtime (consumption: active CPU and peak memory, per second).
    "agentcore_per_vcpu_hour": 0.0895,
    "agentcore_per_gb_hour": 0.00945,
    # S3 Standard: GET requests (the agent's memory layers, read once per run).
    "s3_get_per_million": 0.40,
    # ECR private repository storage (the agent image).
    "ecr_storage_per_gb_month": 0.10,
}
SOURCES = {
    "API Gateway": [
        "https://aws.amazon.com/api-gateway/pricing/",
        "https://www.apigatewaycost.com/aws (HTTP API $1.00/M first 300M)",
    ],
    "Lambda": [
        "https://aws.amazon.com/lambda/pricing/",
        "https://cloudchipr.com/blog/aws-lambda-pricing (arm64 $0.0000133334/GB-s first 7.5B GB-s)",
    ],
    "SQS": [
        "https://aws.amazon.com/sqs/pricing/",
        "https://cloudburn.io/blog/amazon-sqs-pricing (March 2026: standard $0.40/M, FIFO $0.50/M, 64 KB chunks)",
    ],
    "DynamoDB": [
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing (WRU $0.625/M, RRU $0.125/M)",
        "https://finops.com.py/services/dynamodb/backups (PITR $0.20/GB-month)",
    ],
    "EventBridge Scheduler": [
        "https://aws.amazon.com/eventbridge/pricing/",
        "https://cloudburn.io/blog/amazon-eventbridge-pricing (Scheduler $1.00/M after 14M free)",
    ],
    "CloudWatch Logs": [
        "https://aws.amazon.com/cloudwatch/pricing/",
        "https://c3x.dev/blog/cloudwatch-logs-cost-optimization (ingest $0.50/GB, storage $0.03/GB-month)",
        "Infrequent Access ingestion $0.25/GB (us-east-1): the CloudWatch pricing page, Logs tab",
    ],
    "S3": [
        "https://aws.amazon.com/s3/pricing/ (S3 Standard GET $0.0004 per 1,000 requests)",
    ],
    "AgentCore": [
        "https://aws.amazon.com/bedrock/agentcore/pricing/",
        "https://elliot-digital.co.uk/cloud/bedrock-agentcore (third-party: $0.0895/vCPU-h, $0.00945/GB-h)",
    ],
}
# The seeds' published costs, for comparison (per month, one user, always on).
SEEDS = [
    ("seed on Fargate + ALB", 53.0, 53.0),
    ("seed on EC2", 40.0, 60.0),
]
# ---------------------------------------------------------------------------------------------

KB = 1024
GB = 1024**3


# The services the cost target lists: API Gateway HTTP API, Lambda, SQS, DynamoDB, Scheduler.
CORE_SERVICES = ("API Gateway", "Lambda", "SQS", "DynamoDB", "EventBridge Scheduler")


def wru(item_bytes):
    """Write request units for one standard write of an item (1 KB units)."""
    return max(1, math.ceil(item_bytes / KB))


def rru_strong(read_bytes):
    """Read request units for one strongly consistent read/query returning `read_bytes` (4 KB units)."""
    return max(1, math.ceil(read_bytes / (4 * KB)))


def sqs_chunks(payload_bytes):
    return max(1, math.ceil(payload_bytes / (64 * KB)))


def load_figures(paths):
    merged = {}
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"note: could not read {path}: {e}", file=sys.stderr)
            continue
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
    return merged


def per_message_ms(section):
    """ms per message from a bench section: batch wall time / messages per batch."""
    if not isinstance(section, dict):
        return None
    ms, batch = section.get("batch_wall_ms_p50"), section.get("batch_size_avg")
    if isinstance(ms, (int, float)) and isinstance(batch, (int, float)) and batch > 0 and ms == ms:
        return ms / batch
    return None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--figures", action="append", default=[], help="benchmark figures JSON (repeatable)")
    p.add_argument("--no-figures", action="store_true", help="ignore target/bench-figures*.json")
    p.add_argument("--messages", type=float, default=1e6, help="messages to price (default 1 M)")
    # Durations and memory.
    p.add_argument("--webhook-ms", type=float, default=None, help="webhook billed ms per request (default 6, warm)")
    p.add_argument("--dispatcher-ms", type=float, default=None, help="dispatcher billed ms per message")
    p.add_argument("--reply-ms", type=float, default=None, help="reply billed ms per message")
    p.add_argument("--min-ms", type=float, default=50.0, help="floor for dispatcher/reply ms (default 50)")
    p.add_argument("--memory-mb", type=float, default=128.0, help="memory of every function (template: 128)")
    p.add_argument("--cold-start-share", type=float, default=0.01, help="share of invocations that are cold")
    p.add_argument("--init-ms", type=float, default=3.0, help="init ms of a cold start (README: 2-3 ms on the host)")
    # Batching.
    p.add_argument("--batch-size", type=float, default=1.0,
                   help="messages per SQS-triggered invocation (1 = live chat traffic; up to 10 under load)")
    # Sizes.
    p.add_argument("--message-bytes", type=int, default=500, help="stored inbound message item")
    p.add_argument("--reply-bytes", type=int, default=1500, help="answer text per message")
    p.add_argument("--item-overhead-bytes", type=int, default=300, help="keys and attributes of an item")
    p.add_argument("--history-lines", type=int, default=21, help="lines the dispatcher reads (limit 20 + 1)")
    p.add_argument("--pieces-per-reply", type=float, default=1.0, help="channel sends per answer (split)")
    p.add_argument("--envelope-bytes", type=int, default=1500, help="inbound queue message body")
    # Logs.
    p.add_argument("--system-log-level", choices=["INFO", "WARN"], default="WARN",
                   help="the functions' Lambda system log level (template parameter SystemLogLevel, default "
                        "WARN: no per-invocation start/report records)")
    p.add_argument("--log-bytes-per-invocation", type=int, default=700,
                   help="Lambda platform log records (start, report) in JSON format per invocation, "
                        "sent only at system log level INFO")
    p.add_argument("--log-class", choices=["STANDARD", "INFREQUENT_ACCESS"], default="INFREQUENT_ACCESS",
                   help="class of the functions' log groups (template parameter FunctionLogClass)")
    p.add_argument("--log-bytes-per-message", type=int, default=1510,
                   help="the functions' own log lines per message: dispatcher ~555 B and reply ~450 B measured "
                        "in the local run's output (cli/benches/paths.rs), webhook ~500 B estimated")
    p.add_argument("--agent-log-bytes-per-message", type=int, default=790,
                   help="the agent's log lines per message (measured, as above); AgentCore's log group, "
                        "Standard class")
    p.add_argument("--access-log-bytes", type=int, default=280,
                   help="the HTTP API's access log record per request (template format, Standard class)")
    # The agent's own AWS calls (platform cost, unlike its tokens and AgentCore compute).
    p.add_argument("--agent-marks-per-message", type=float, default=0.0,
                   help="answered marks the agent writes per message: 0 when each run answers one message "
                        "(its reply line marks it); the other messages of a batched run, and runs that end "
                        "without a reply, are marked (1 each)")
    p.add_argument("--memory-layers", type=int, default=3,
                   help="S3 GETs per run for the agent's memory layers (tenant, bot, conversation)")
    p.add_argument("--no-agent-calls", action="store_true",
                   help="leave the agent's DynamoDB and S3 calls out (the scope of the figures before 2026-11-21)")
    # Scheduler.
    p.add_argument("--scheduled-per-message", type=float, default=0.0,
                   help="EventBridge Scheduler invocations per message (scheduled tasks: not built)")
    # Idle.
    p.add_argument("--idle-receives-per-queue", type=float, default=648_000,
                   help="empty long-poll receives per month per SQS-triggered queue at zero traffic "
                        "(5 pollers x one 20 s poll = 15 a minute)")
    p.add_argument("--table-gb", type=float, default=0.01, help="DynamoDB table size at idle, GB")
    p.add_argument("--image-gb", type=float, default=0.05, help="agent image in ECR, GB")
    # Pass-through (optional).
    p.add_argument("--agentcore-cpu-s", type=float, default=None,
                   help="AgentCore active vCPU-seconds per message (pass-through; not computed unless given)")
    p.add_argument("--agentcore-gb", type=float, default=1.0, help="AgentCore session memory, GB")
    p.add_argument("--agentcore-session-s", type=float, default=None,
                   help="AgentCore billed session seconds per message (memory is billed for these)")
    p.add_argument("--tokens-in", type=float, default=None, help="model input tokens per message")
    p.add_argument("--tokens-out", type=float, default=None, help="model output tokens per message")
    p.add_argument("--price-in", type=float, default=None, help="$ per million input tokens (your model)")
    p.add_argument("--price-out", type=float, default=None, help="$ per million output tokens (your model)")
    p.add_argument("--json", action="store_true", help="print the result as JSON as well")
    return p.parse_args(argv)


def model(a, figures):
    P = PRICES
    m = a.messages
    notes = []

    # Durations: flags, else figures, else defaults; SQS-driven functions floored at --min-ms.
    def pick(flag, measured, default, floor, name):
        if flag is not None:
            return flag, "flag"
        if measured is not None:
            if floor is not None and measured < floor:
                return floor, f"measured {measured:.1f} ms, floored"
            return measured, "measured"
        return default, "default"

    webhook_fig = figures.get("webhook", {}) if isinstance(figures.get("webhook"), dict) else {}
    webhook_measured = webhook_fig.get("duration_ms_p50", webhook_fig.get("warm_ms_p50"))
    webhook_ms, webhook_src = pick(a.webhook_ms, webhook_measured, 6.0, None, "webhook")
    dispatcher_ms, dispatcher_src = pick(a.dispatcher_ms, per_message_ms(figures.get("dispatcher")), a.min_ms,
                                         a.min_ms, "dispatcher")
    reply_ms, reply_src = pick(a.reply_ms, per_message_ms(figures.get("reply")), a.min_ms, a.min_ms, "reply")

    batch = max(1.0, min(10.0, a.batch_size))
    gb = a.memory_mb / 1024
    invocations = {"webhook": 1.0, "dispatcher": 1.0 / batch, "reply": 1.0 / batch}
    ms_per_message = {"webhook": webhook_ms, "dispatcher": dispatcher_ms, "reply": reply_ms}
    cold_ms = a.cold_start_share * a.init_ms  # per invocation, on average

    lines = []  # (service, detail, dollars per `m` messages)

    # API Gateway: one request per inbound message.
    lines.append(("API Gateway HTTP API", "1 request", m * P["apigw_http_per_million"] / 1e6))

    # Lambda: requests and GB-seconds.
    req = sum(invocations.values())
    lines.append(("Lambda requests", f"{req:.2f} invocations", m * req * P["lambda_per_million_requests"] / 1e6))
    gb_s = sum(gb * (ms_per_message[f] + invocations[f] * cold_ms) / 1000 for f in invocations)
    lines.append(("Lambda duration (arm64)",
                  f"{webhook_ms:.0f}+{dispatcher_ms:.0f}+{reply_ms:.0f} ms @ {a.memory_mb:.0f} MB",
                  m * gb_s * P["lambda_arm64_per_gb_second"]))

    # SQS FIFO: per queue and message, one send, and receive + delete per batch. The reply queue's
    # send is the agent's. Receives return the batch's bodies: 64 KB chunks.
    reply_envelope = a.reply_bytes + 700
    inbound_req = (sqs_chunks(a.envelope_bytes) + sqs_chunks(a.envelope_bytes * batch) / batch + 1 / batch)
    reply_req = (sqs_chunks(reply_envelope) + sqs_chunks(reply_envelope * batch) / batch + 1 / batch)
    lines.append(("SQS FIFO", f"{inbound_req + reply_req:.2f} requests (2 queues)",
                  m * (inbound_req + reply_req) * P["sqs_fifo_per_million"] / 1e6))

    # DynamoDB: webhook put; dispatcher query (strongly consistent; it also finds the lost work it
    # hands the agent in those lines) + update; reply: one strongly consistent get of the reply's
    # line, then one put of the whole line after the last piece (+ one per earlier piece of a
    # split answer); the run's summary on that answer: the tenant's usage counter and answered
    # marks only for messages its reply does not cover (none when a run answers one message: the
    # reply line marks it), written by the reply function since agents cannot write them. Bot
    # records, secrets, the scope key and the agent's credentials are cached per container: ~0
    # calls (STS and Secrets Manager reads are per conversation per 9 minutes and per cold start).
    msg_item = a.message_bytes + a.item_overhead_bytes
    reply_item = a.reply_bytes + a.item_overhead_bytes
    avg_line = (msg_item + reply_item) / 2
    marks = 0.0 if a.no_agent_calls else a.agent_marks_per_message
    agent_w = 0 if a.no_agent_calls else marks * wru(msg_item) + 1  # marks (billed on the item's size) + usage
    reply_w = wru(reply_item) * max(1.0, a.pieces_per_reply)
    w = wru(msg_item) + wru(msg_item) + reply_w + agent_w
    r_dispatcher = rru_strong(a.history_lines * avg_line)
    r_reply = rru_strong(reply_item)
    memory_gets = 0 if a.no_agent_calls else a.memory_layers
    r = r_dispatcher + r_reply
    lines.append(("DynamoDB writes", f"{w:.1f} WRU ({agent_w:g} of them the agent's)",
                  m * w * P["dynamodb_per_million_wru"] / 1e6))
    lines.append(("DynamoDB reads", f"{r} RRU (history {r_dispatcher} + reply line {r_reply})",
                  m * r * P["dynamodb_per_million_rru"] / 1e6))
    lines.append(("S3 (agent memory)", f"{memory_gets} GETs", m * memory_gets * P["s3_get_per_million"] / 1e6))

    if a.scheduled_per_message:
        lines.append(("EventBridge Scheduler", f"{a.scheduled_per_message:.2f} invocations",
                      m * a.scheduled_per_message * P["scheduler_per_million"] / 1e6))
    else:
        lines.append(("EventBridge Scheduler", "0 (no scheduled tasks yet)", 0.0))

    platform_bytes = req * a.log_bytes_per_invocation if a.system_log_level == "INFO" else 0
    function_price = P["logs_ingest_ia_per_gb" if a.log_class == "INFREQUENT_ACCESS" else "logs_ingest_per_gb"]
    function_bytes = platform_bytes + a.log_bytes_per_message
    standard_bytes = a.agent_log_bytes_per_message + a.access_log_bytes
    log_bytes = function_bytes + standard_bytes
    class_note = "IA" if a.log_class == "INFREQUENT_ACCESS" else "Std"
    lines.append(("CloudWatch Logs ingestion",
                  f"~{log_bytes / KB:.1f} KB (functions {function_bytes / KB:.1f} {class_note}, "
                  f"agent+API {standard_bytes / KB:.1f})",
                  m * (function_bytes * function_price + standard_bytes * P["logs_ingest_per_gb"]) / GB))
    out_bytes = 300 + a.pieces_per_reply * 600 + a.reply_bytes  # webhook answer + channel send(s)
    lines.append(("Data transfer out", f"~{out_bytes / KB:.1f} KB", m * out_bytes / GB * P["data_out_per_gb"]))

    total = sum(d for _, _, d in lines)
    # The services the target names (request-priced compute, queues, table, schedules);
    # S3, logs and data transfer are counted in the total, beside it.
    core = sum(d for service, _, d in lines if service.startswith(CORE_SERVICES))

    # Fixed monthly cost at zero traffic.
    idle_polls = 2 * a.idle_receives_per_queue
    fixed = [
        ("Lambda, API Gateway, DynamoDB requests", "pay per use", 0.0, "$0"),
        ("SQS empty long polls (2 event-source mappings)", f"{idle_polls / 1e6:.2f} M requests",
         idle_polls * P["sqs_fifo_per_million"] / 1e6, "requests; inside the 1 M free tier in part"),
        ("DynamoDB storage", f"{a.table_gb} GB", max(0.0, a.table_gb - 25) * P["dynamodb_storage_per_gb_month"],
         "storage-only; first 25 GB free; messages expire after 30 days (TTL)"),
        ("DynamoDB PITR", f"{a.table_gb} GB", a.table_gb * P["dynamodb_pitr_per_gb_month"], "storage-only"),
        ("CloudWatch Logs storage", "30-day retention", 0.0, "storage-only; 0 once traffic stops for 30 days"),
        ("ECR agent image", f"{a.image_gb} GB", a.image_gb * P["ecr_storage_per_gb_month"], "storage-only"),
        ("AgentCore Runtime", "idle sessions stopped", 0.0, "$0 (consumption-based)"),
        ("SSM standard parameters", "standard tier", 0.0, "$0"),
        ("KMS AWS-managed keys", "aws/ssm, aws/dynamodb", 0.0, "$0 per key; requests are per use"),
        ("EventBridge Scheduler group", "no schedules", 0.0, "$0"),
    ]

    # Pass-through.
    passthrough = []
    if a.agentcore_cpu_s is not None or a.agentcore_session_s is not None:
        cpu = (a.agentcore_cpu_s or 0.0) / 3600 * P["agentcore_per_vcpu_hour"]
        mem = (a.agentcore_session_s or 0.0) / 3600 * a.agentcore_gb * P["agentcore_per_gb_hour"]
        passthrough.append(("AgentCore Runtime", f"{a.agentcore_cpu_s or 0} vCPU-s, {a.agentcore_session_s or 0} s x {a.agentcore_gb} GB", m * (cpu + mem)))
    else:
        passthrough.append(("AgentCore Runtime", "pass-through (give --agentcore-cpu-s/--agentcore-session-s)", None))
    if None not in (a.tokens_in, a.tokens_out, a.price_in, a.price_out):
        tok = (a.tokens_in * a.price_in + a.tokens_out * a.price_out) / 1e6
        passthrough.append(("Model tokens", f"{a.tokens_in:.0f} in / {a.tokens_out:.0f} out", m * tok))
    else:
        passthrough.append(("Model tokens", "pass-through (the tenant's model and prices)", None))

    assumptions = [
        f"{m:,.0f} messages, each with one answer of {a.reply_bytes} B in {a.pieces_per_reply:g} channel send(s)",
        f"webhook {webhook_ms:.1f} ms ({webhook_src}), dispatcher {dispatcher_ms:.1f} ms ({dispatcher_src}), "
        f"reply {reply_ms:.1f} ms ({reply_src}) per message, {a.memory_mb:.0f} MB arm64; "
        f"{a.cold_start_share:.0%} cold starts of {a.init_ms:.0f} ms",
        f"SQS-triggered batches of {batch:g} message(s): {invocations['dispatcher']:.2f} dispatcher and "
        f"{invocations['reply']:.2f} reply invocations per message",
        f"DynamoDB: webhook 1 put ({wru(msg_item)} WRU), dispatcher 1 strongly consistent query over "
        f"{a.history_lines} lines (~{a.history_lines * avg_line / KB:.1f} KB = {r_dispatcher} RRU; the lost work "
        f"it hands the agent comes from the same lines) + 1 update ({wru(msg_item)} WRU), reply 1 strongly "
        f"consistent get of its line ({r_reply} RRU) + {max(1.0, a.pieces_per_reply):g} put(s) of the whole "
        f"line ({wru(reply_item)} WRU each; no claim write); the agent's run a usage counter (1 WRU) and "
        f"{marks:g} answered mark(s) per message ({wru(msg_item)} WRU each: the message a reply answers is "
        f"marked by its reply line, so a run answering one message writes none), {a.memory_layers} S3 GETs "
        f"for memory layers; bot records and secrets cached per container (reads ~0)",
        f"logs: Lambda system log level {a.system_log_level} "
        f"({'no start/report records' if a.system_log_level == 'WARN' else f'{a.log_bytes_per_invocation} B per invocation'}), "
        f"functions' log groups {a.log_class}, the agent's (AgentCore) and the HTTP API's access log Standard",
        "SQS FIFO, both queues: 1 send + 1 receive and 1 delete batch per batch; 64 KB chunks",
        "list prices, no free tiers (Lambda 1 M requests + 400k GB-s, SQS 1 M, Scheduler 14 M are free per month)",
        "not modelled: KMS requests for SSM/DynamoDB encryption and bot-record reads (cached per container for "
        "CLAWLESS_CACHE_SECONDS=60: per message only where a bot's messages are further apart than that), "
        "the agent's memory writes (S3 PUTs, when it saves memory), CloudWatch metrics/alarms (none in the "
        "template), retries and DLQ traffic",
    ]
    return {
        "lines": lines,
        "total": total,
        "core": core,
        "fixed": fixed,
        "passthrough": passthrough,
        "assumptions": assumptions,
        "per_message_ms": ms_per_message,
    }


def main(argv):
    a = parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = list(a.figures)
    if not a.no_figures and not paths:
        paths = sorted(glob.glob(os.path.join(root, "target", "bench-figures*.json")))
    figures = load_figures(paths)
    result = model(a, figures)
    m = a.messages

    print(f"clawless platform cost per {m / 1e6:g} M messages (us-east-1 list prices read {PRICES_READ_ON})")
    if paths:
        print("figures: " + ", ".join(os.path.relpath(p, root) for p in paths))
    print()
    print(f"| {'service':<28} | {'per message':<44} | {'$':>8} |")
    print(f"|{'-' * 30}|{'-' * 46}|{'-' * 10}|")
    for service, detail, dollars in result["lines"]:
        print(f"| {service:<28} | {detail:<44} | {dollars:>8.2f} |")
    print(f"| {'total':<28} | {'everything above':<44} | {result['total']:>8.2f} |")
    print(f"| {'core (target <= $10)':<28} | {'API GW, Lambda, SQS, DynamoDB, Scheduler':<44} | {result['core']:>8.2f} |")
    print()
    # Sensitivity to batching, the biggest lever besides DynamoDB item sizes.
    for b in (1, 10):
        if b != a.batch_size:
            alt = model(argparse.Namespace(**{**vars(a), "batch_size": b}), figures)
            print(f"with batches of {b}: ${alt['total']:.2f} per {m / 1e6:g} M messages (core ${alt['core']:.2f})")
    print()
    print("Fixed monthly cost at zero traffic:")
    print(f"| {'item':<46} | {'quantity':<24} | {'$/month':>8} | {'kind':<68} |")
    print(f"|{'-' * 48}|{'-' * 26}|{'-' * 10}|{'-' * 70}|")
    for item, qty, dollars, kind in result["fixed"]:
        print(f"| {item:<46} | {qty:<24} | {dollars:>8.2f} | {kind:<68} |")
    fixed_total = sum(d for _, _, d, _ in result["fixed"])
    print(f"| {'total':<46} | {'':<24} | {fixed_total:>8.2f} | {'compute: $0.00':<68} |")
    print()
    print("Pass-through (not platform cost):")
    for item, detail, dollars in result["passthrough"]:
        print(f"  {item}: {detail}" + (f": ${dollars:.2f} per {m / 1e6:g} M messages" if dollars is not None else ""))
    print()
    print("Seeds' published costs (always-on, one user):")
    for name, low, high in SEEDS:
        span = f"${low:.0f}" if low == high else f"${low:.0f}-{high:.0f}"
        breakeven = low / (result["total"] / m) if result["total"] else float("inf")
        print(f"  {name}: {span}/month; clawless spends ${low:.0f} at ~{breakeven / 1e6:.1f} M messages/month "
              f"(plus ${fixed_total:.2f} fixed)")
    print()
    print("Assumptions:")
    for line in result["assumptions"]:
        print(f"  - {line}")
    print()
    print(f"Prices used (us-east-1, read {PRICES_READ_ON}):")
    for key, value in PRICES.items():
        print(f"  {key} = {value}")
    print("Sources:")
    for service, urls in SOURCES.items():
        for url in urls:
            print(f"  {service}: {url}")
    if a.json:
        print(json.dumps({k: v for k, v in result.items()}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
