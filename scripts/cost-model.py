#!/usr/bin/env python3
"""clawless cost model: measured durations, memory sizes and AWS call counts -> dollars.

Prints the cost per 1 M answered messages (one inbound message and its answer) by service, the
AWS calls behind it by hop, AgentCore Runtime's cost per message by session shape and idle
timeout, the all-in figure (platform + AgentCore; model tokens pass through) at batches of 1 and
10, the next lever when that is above $10, the fixed monthly cost at zero traffic, and the
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

`--self-test` checks the model against figures computed by hand and exits non-zero on a mismatch.

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
# of them, those are named too and agree with each other); the keys in PRICES_READ_LATER were
# added or read again on PRICES_READ_LATER_ON. Re-check before publishing.
PRICES_READ_ON = "2026-11-21"
PRICES_READ_LATER_ON = "2026-12-02"
PRICES = {
    # API Gateway HTTP API: per million requests, first 300 M per month (then $0.90, $0.80).
    "apigw_http_per_million": 1.00,
    # Lambda, arm64: per million requests, and per GB-second (first 7.5 B GB-s per month).
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    # SQS: per million requests (each 64 KB chunk of a request's payload is one request).
    "sqs_fifo_per_million": 0.50,
    "sqs_standard_per_million": 0.40,
    # DynamoDB on-demand, Standard table class. A conditional write that fails still consumes
    # its write units.
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
    # Bedrock AgentCore Runtime, consumption: active CPU (I/O wait is not billed) and memory at
    # the session's peak so far (128 MB minimum), per second from the microVM's start until the
    # session ends. Platform version V1, the create-time default (template.yaml sets none).
    "agentcore_per_vcpu_hour": 0.0895,
    "agentcore_per_gb_hour": 0.00945,
    # The same for platform version V2 (snapshot-backed fast starts); only with --agentcore-v2.
    "agentcore_v2_per_vcpu_hour": 0.1276,
    "agentcore_v2_per_gb_hour": 0.0169,
    # S3 Standard requests (the agent's memory layers): GET, and PUT/COPY/POST/LIST.
    "s3_get_per_million": 0.40,
    "s3_put_per_million": 5.00,
    # KMS: per million requests ($0.03 per 10,000; first 20,000 per month free). An AWS managed
    # key (aws/ssm, aws/dynamodb) has no monthly fee; its requests are billed like any other.
    "kms_per_million_requests": 3.00,
    # SSM Parameter Store: standard parameters and standard-throughput API calls are free.
    "ssm_standard_per_million": 0.00,
    # ECR private repository storage (the agent image).
    "ecr_storage_per_gb_month": 0.10,
}
PRICES_READ_LATER = (
    "agentcore_per_vcpu_hour",
    "agentcore_per_gb_hour",
    "agentcore_v2_per_vcpu_hour",
    "agentcore_v2_per_gb_hour",
    "s3_put_per_million",
    "kms_per_million_requests",
    "ssm_standard_per_million",
)
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
        "https://aws.amazon.com/s3/pricing/ (S3 Standard GET $0.0004 per 1,000; PUT, COPY, POST, LIST $0.005 per 1,000)",
        "https://www.cloudkaramchari.com/blog/understanding-per-1000-put-copy-post-or-list-requests-in-amazon-s3-pricing/ "
        "(third-party: PUT $0.005 per 1,000)",
    ],
    "KMS": [
        "https://aws.amazon.com/kms/pricing/ ($0.03 per 10,000 requests; no monthly fee for AWS managed keys)",
        "https://gist.github.com/dasgoll/b88d5be05dcc0deb052ad40446c2fb40 (third-party: $0.03 per 10,000 requests, "
        "20,000 free per month)",
        "https://repost.aws/questions/QUpHAqLvwcQkqZSA6bjVSeLw/aws-systems-manager-parameter-store-charges-for-decryption "
        "(reading a SecureString: no Parameter Store charge, KMS request charges apply)",
    ],
    "SSM": [
        "https://aws.amazon.com/systems-manager/pricing/ (Parameter Store: standard parameters and standard "
        "throughput, no charge)",
    ],
    "AgentCore": [
        "https://aws.amazon.com/bedrock/agentcore/pricing/ (read 2026-12-02 in its zh-CN, ja and zh-TW copies: "
        "per second, 1 s minimum, from microVM start through idle until the session ends; CPU only while "
        "consumed; memory at the peak so far, 128 MB minimum; system overhead included)",
        "https://elliot-digital.co.uk/cloud/bedrock-agentcore (third-party: $0.0895/vCPU-h, $0.00945/GB-h)",
        "https://github.com/quattro004/Agent004/wiki/Source-AgentCore-Pricing (third-party snapshot of the pricing "
        "page, 2026-09-29: V1 $0.0895/vCPU-h, $0.00945/GB-h; V2 $0.1276/vCPU-h, $0.0169/GB-h)",
        "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_bedrockagentcore.PlatformVersion.html "
        "(V1 is the create-time default)",
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
# AgentCore bills memory at no less than this.
AGENTCORE_MIN_MB = 128
# The template's AgentIdleTimeoutSeconds default, and AgentCore's own default idle timeout
# (LifecycleConfiguration.IdleRuntimeSessionTimeout): the two columns of the AgentCore table.
IDLE_TEMPLATE_S = 120
IDLE_AGENTCORE_DEFAULT_S = 900
SESSION_SHAPES = (1, 5, 20)


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
    p.add_argument("--messages", type=float, default=1e6, help="answered messages to price (default 1 M)")
    p.add_argument("--self-test", action="store_true",
                   help="check the model against hand-computed figures; exit non-zero on a mismatch")
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
    # Traffic shape.
    p.add_argument("--context-per-message", type=float, default=0.0,
                   help="group lines kept only as context (stored, not answered) per answered message: each is "
                        "one API Gateway request, one webhook invocation and one conditional PutItem")
    p.add_argument("--cache-miss-share", type=float, default=0.5,
                   help="share of bot lookups that miss a function's cache (CLAWLESS_CACHE_SECONDS=60, per "
                        "execution environment); a miss reads the bot record (webhook, dispatcher, reply) and "
                        "the channel secrets (webhook, reply). Default 0.5: 0 for one busy bot on one warm "
                        "environment, 1 for bots whose messages are more than a minute apart or land on "
                        "another environment; live chat sits between")
    p.add_argument("--retry-share", type=float, default=0.01,
                   help="share of messages whose SQS-driven hop (dispatcher, reply: each) runs twice: another "
                        "receive and invocation, the hop's reads and writes again")
    # Sizes.
    p.add_argument("--message-bytes", type=int, default=500, help="stored inbound message item")
    p.add_argument("--reply-bytes", type=int, default=1500, help="answer text per message")
    p.add_argument("--item-overhead-bytes", type=int, default=300, help="keys and attributes of an item")
    p.add_argument("--access-reads", type=float, default=1.0,
                   help="access-check reads per answered message: 1 under DM pairing (a new bot's default) "
                        "or allowlist, 0 for a bot open to anyone")
    p.add_argument("--rate-counters", type=float, default=0.0,
                   help="message-rate counters per answered message: 1 or 2 when the tenant sets "
                        "--messages-per-minute and/or --bot-messages-per-minute (one UpdateItem each), 0 without")
    p.add_argument("--run-cap", type=float, default=0.0,
                   help="1 when the tenant caps its concurrent runs: the dispatcher reads and writes the "
                        "tenant's run slots once per message and the reply function frees the slot; 0 without")
    p.add_argument("--conversation-notes", type=float, default=0.05,
                   help="conversation-index writes per answered message: the dispatcher notes a conversation "
                        "for the console's history at most once an hour per warm container (default 0.05: "
                        "one per 20 messages)")
    p.add_argument("--budget-reads", type=float, default=0.0,
                   help="budget-check reads per answered message: 1 when the tenant has a monthly token "
                        "budget (the month's use, read strongly consistent), 0 without one")
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
    p.add_argument("--webhook-log-bytes", type=int, default=500,
                   help="the webhook's log lines per request (estimated; part of --log-bytes-per-message), "
                        "counted again for each context-only request")
    p.add_argument("--agent-log-bytes-per-message", type=int, default=790,
                   help="the agent's log lines per message (measured, as above); AgentCore's log group, "
                        "Standard class")
    p.add_argument("--access-log-bytes", type=int, default=280,
                   help="the HTTP API's access log record per request (template format, Standard class)")
    # The agent's own AWS calls (platform cost, unlike its tokens).
    p.add_argument("--agent-marks-per-message", type=float, default=0.0,
                   help="answered marks written per message: 0 when each run answers one message "
                        "(its reply line marks it); the other messages of a batched run, and runs that end "
                        "without a reply, are marked (1 each)")
    p.add_argument("--memory-layers", type=int, default=3,
                   help="S3 GETs when the agent's memory cache misses (tenant, bot, conversation layers)")
    p.add_argument("--memory-writes-per-message", type=float, default=0.1,
                   help="S3 PUTs per message: the agent saving a memory layer (most answers save none)")
    p.add_argument("--no-agent-calls", action="store_true",
                   help="leave the agent's S3 calls and its run summary's writes out (the scope of the figures "
                        "before 2026-11-21)")
    # AgentCore Runtime.
    # Measured by the end-to-end bench (scripts/bench-e2e.sh): 25.1 MiB after 280 runs in one
    # process, and 2.90 ms of the agent process's CPU per message under load with the offline
    # model (one model turn, no tools; a run with tool calls costs more, but AgentCore's CPU part
    # is under 1 % of its bill at either figure).
    p.add_argument("--agent-peak-rss-mb", type=float, default=26.3,
                   help="the agent's peak RSS in a session; AgentCore bills max(128 MB, this)")
    p.add_argument("--agent-cpu-ms", type=float, default=2.9, help="active agent CPU ms per message")
    p.add_argument("--run-s", type=float, default=5.0,
                   help="wall seconds of one run (mostly waiting on the model: memory billed, CPU not)")
    p.add_argument("--cold-start-s", type=float, default=1.0,
                   help="seconds from the microVM's start until the agent answers (billed once per session)")
    p.add_argument("--messages-per-session", type=int, default=1,
                   help="a conversation's messages that share one AgentCore session")
    p.add_argument("--message-gap-s", type=float, default=30.0,
                   help="seconds between the end of one run and the next message of the same session")
    p.add_argument("--idle-timeout-s", type=float, default=float(IDLE_TEMPLATE_S),
                   help="AgentCore idle timeout (template AgentIdleTimeoutSeconds: 120; AgentCore's default 900)")
    p.add_argument("--memory-cache-s", type=float, default=30.0,
                   help="the agent's memory-layer cache (CLAWLESS_MEMORY_CACHE_SECONDS): a later run of a "
                        "session reads no layer when the gap since the previous run is shorter than this")
    p.add_argument("--agentcore-v2", action="store_true",
                   help="price AgentCore at platform version V2's rates (the template uses V1, the default)")
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
    p.add_argument("--tokens-in", type=float, default=None, help="model input tokens per message")
    p.add_argument("--tokens-out", type=float, default=None, help="model output tokens per message")
    p.add_argument("--price-in", type=float, default=None, help="$ per million input tokens (your model)")
    p.add_argument("--price-out", type=float, default=None, help="$ per million output tokens (your model)")
    p.add_argument("--progress-per-message", type=float, default=1.0,
                   help="agent progress reports per answered message (typing and status messages): none before "
                        "a run has lasted 1.5 s, then one per ProgressSeconds (4 s) and per tool start a second "
                        "or more after the last; default 1 for the default 5 s run; 0 with ProgressSeconds 0")
    p.add_argument("--progress-ms", type=float, default=100.0,
                   help="reply-function billed ms per progress report (one channel call, one status read)")
    p.add_argument("--status-writes-per-message", type=float, default=0.4,
                   help="run status item writes per answered message: a long run with tools (default: a fifth "
                        "of runs) posts its status message (1) and closes it (1); its edits add one each")
    p.add_argument("--json", action="store_true", help="print the result as JSON as well")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# AgentCore Runtime.

def agentcore_rates(a):
    if a.agentcore_v2:
        return PRICES["agentcore_v2_per_vcpu_hour"], PRICES["agentcore_v2_per_gb_hour"]
    return PRICES["agentcore_per_vcpu_hour"], PRICES["agentcore_per_gb_hour"]


def agentcore_per_message(a, per_session, idle_s, stop_after_answer=False):
    """AgentCore Runtime dollars per message for sessions of `per_session` messages.

    Memory is billed for every second of a session, from the microVM's start (the cold start)
    through each run and each gap between runs, until the idle timeout after the last run ends
    it; CPU only while the agent computes. With `stop_after_answer` the session is stopped once
    the conversation's queue is empty: each message pays its own cold start and run, no gaps and
    no idle time."""
    cpu_rate, mem_rate = agentcore_rates(a)
    gb = max(AGENTCORE_MIN_MB, a.agent_peak_rss_mb) / 1024
    if stop_after_answer:
        n = 1
        session_s = a.cold_start_s + a.run_s
    else:
        n = max(1, int(per_session))
        session_s = a.cold_start_s + n * a.run_s + (n - 1) * a.message_gap_s + idle_s
    memory = session_s / 3600 * gb * mem_rate / n
    cpu = a.agent_cpu_ms / 1000 / 3600 * cpu_rate
    return {"dollars": memory + cpu, "memory": memory, "cpu": cpu, "session_s": session_s,
            "billed_mb": gb * 1024, "messages_per_session": n}


def memory_miss_share(a, per_session, stop_after_answer=False):
    """Share of runs that read the memory layers from S3: a session's first run always does;
    a later one only when the gap since the previous run reached the cache's lifetime."""
    if stop_after_answer:
        return 1.0
    n = max(1, int(per_session))
    later_hit = a.memory_cache_s > 0 and a.message_gap_s < a.memory_cache_s
    return (1 + (n - 1) * (0 if later_hit else 1)) / n


# ---------------------------------------------------------------------------------------------
# AWS calls per answered message, by hop.

# What one unit of each meter costs, in dollars.
def meter_prices():
    P = PRICES
    return {
        "sqs": P["sqs_fifo_per_million"] / 1e6,
        "wru": P["dynamodb_per_million_wru"] / 1e6,
        "rru": P["dynamodb_per_million_rru"] / 1e6,
        "s3_get": P["s3_get_per_million"] / 1e6,
        "s3_put": P["s3_put_per_million"] / 1e6,
        "kms": P["kms_per_million_requests"] / 1e6,
        "ssm": P["ssm_standard_per_million"] / 1e6,
        # InvokeAgentRuntime has no request price: AgentCore bills the session it runs in.
        "agentcore": 0.0,
    }


def aws_calls(a, batch, stop_after_answer=False):
    """Every AWS call behind one answered message: (hop, api, calls per message, meter, units per
    call, own). `own` is False for calls a service makes on a function's behalf (the event
    source mappings' receives and deletes, SSM's KMS decrypt)."""
    c = a.context_per_message
    miss = a.cache_miss_share
    retry = a.retry_share
    msg_item = a.message_bytes + a.item_overhead_bytes
    reply_item = a.reply_bytes + a.item_overhead_bytes
    avg_line = (msg_item + reply_item) / 2
    reply_envelope = a.reply_bytes + 700
    history_rru = rru_strong(a.history_lines * avg_line)
    reply_rru = rru_strong(reply_item)
    # A bot record (the bot item and its channel bindings, one strongly consistent Query of its
    # partition) is well under 4 KB: 1 RRU.
    bot_rru = 1
    agent = not a.no_agent_calls
    layers = a.memory_layers * memory_miss_share(a, a.messages_per_session, stop_after_answer) if agent else 0.0
    writes = a.memory_writes_per_message if agent else 0.0
    usage = 1.0 if agent else 0.0
    marks = a.agent_marks_per_message if agent else 0.0
    pieces = max(1.0, a.pieces_per_reply)

    rows = []

    def add(hop, api, count, meter, units=1.0, own=True):
        rows.append({"hop": hop, "api": api, "count": count, "meter": meter, "units": units, "own": own})

    # The webhook: ONE call per request (cache hit). The message to answer is only enqueued;
    # a group line kept as context is only stored.
    add("webhook", "SQS SendMessage (inbound)", 1.0, "sqs", sqs_chunks(a.envelope_bytes))
    add("webhook (context)", "DynamoDB PutItem (context line, conditional)", c, "wru", wru(msg_item))
    # Both kinds of request look the bot and its secrets up; a miss costs two calls and SSM's
    # decrypt of the SecureString with the aws/ssm key.
    add("webhook", "DynamoDB Query (bot record, cache miss)", (1 + c) * miss, "rru", bot_rru)
    add("webhook", "SSM GetParameter (secrets, cache miss)", (1 + c) * miss, "ssm")
    add("webhook", "KMS Decrypt (SSM's, cache miss)", (1 + c) * miss, "kms", own=False)
    # The inbound queue's event source mapping: one receive (its bodies in 64 KB chunks) and one
    # delete per batch.
    add("inbound mapping", "SQS ReceiveMessage", 1 / batch, "sqs", sqs_chunks(a.envelope_bytes * batch))
    add("inbound mapping", "SQS DeleteMessageBatch", 1 / batch, "sqs")
    # The dispatcher: the history (strongly consistent; it also finds the lost work it hands
    # the agent in those lines), one conditional put that stores the message and marks it
    # dispatched, and the invocation.
    add("dispatcher", "DynamoDB Query (history)", 1.0, "rru", history_rru)
    add("dispatcher", "DynamoDB PutItem (store + dispatched, conditional)", 1.0, "wru", wru(msg_item))
    add("dispatcher", "AgentCore InvokeAgentRuntime", 1.0, "agentcore")
    # The access check: under DM `pairing` (a new bot's default) or `allowlist`, one strongly
    # consistent read of the sender's allow item before anything is stored.
    add("dispatcher", "DynamoDB GetItem (sender's access item)", a.access_reads, "rru", 1)
    # The budget check: with a monthly token budget set, one strongly consistent read of the
    # month's use (the budget itself is cached with the bot records).
    add("dispatcher", "DynamoDB GetItem (month's token use)", a.budget_reads, "rru", 1)
    # Message rates: with a rate set, one counter UpdateItem per rate per message.
    add("dispatcher", "DynamoDB UpdateItem (message-rate counters)", a.rate_counters, "wru", 1)
    # The concurrent-run cap: the tenant's slots item read (strongly consistent) and written
    # back (conditional on its version) once per message at least; the reply function frees the
    # slot when the run ends. Waiting at the cap adds more of these, and is not counted here.
    add("dispatcher", "DynamoDB GetItem (run slots)", a.run_cap, "rru", 1)
    add("dispatcher", "DynamoDB PutItem (run slots, conditional)", a.run_cap, "wru", 1)
    add("reply", "DynamoDB UpdateItem (run slot freed)", a.run_cap, "wru", 1)
    # The console's history: the bot's conversation index, noted at most once an hour per
    # conversation per warm dispatcher container.
    add("dispatcher", "DynamoDB UpdateItem (conversation index)", a.conversation_notes, "wru", 1)
    add("dispatcher", "DynamoDB Query (bot record, cache miss)", miss, "rru", bot_rru)
    # The agent: memory layers when its session cache misses, memory saves, its reply.
    add("agent", "S3 GetObject (memory layers, cache miss)", layers, "s3_get")
    add("agent", "S3 PutObject (memory write)", writes, "s3_put")
    add("agent", "SQS SendMessage (reply)", 1.0, "sqs", sqs_chunks(reply_envelope))
    add("reply mapping", "SQS ReceiveMessage", 1 / batch, "sqs", sqs_chunks(reply_envelope * batch))
    add("reply mapping", "SQS DeleteMessageBatch", 1 / batch, "sqs")
    # The reply function: its line (strongly consistent), one put of the whole line after the
    # last piece (and one per earlier piece of a split answer), then the run's summary: the
    # tenant's token counter, and answered marks only for messages its reply does not cover
    # (written here since agents cannot write them).
    add("reply", "DynamoDB GetItem (reply line)", 1.0, "rru", reply_rru)
    add("reply", "DynamoDB PutItem (reply line)", pieces, "wru", wru(reply_item))
    add("reply", "DynamoDB UpdateItem (token usage)", usage, "wru", 1)
    add("reply", "DynamoDB UpdateItem (answered marks)", marks, "wru", wru(msg_item))
    add("reply", "DynamoDB Query (bot record, cache miss)", miss, "rru", bot_rru)
    add("reply", "SSM GetParameter (secrets, cache miss)", miss, "ssm")
    add("reply", "KMS Decrypt (SSM's, cache miss)", miss, "kms", own=False)
    # Retries: the hop's message comes back once (counted alone, no batch to share), its reads
    # and writes run again (a conditional put that finds the line already there still consumes
    # its units); the bot is cached by then, and the agent's run is not repeated (the dispatched
    # mark and the agent's duplicate check stop it).
    add("dispatcher retry", "SQS ReceiveMessage", retry, "sqs", sqs_chunks(a.envelope_bytes), own=False)
    add("dispatcher retry", "DynamoDB Query (history)", retry, "rru", history_rru)
    add("dispatcher retry", "DynamoDB GetItem (sender's access item)", retry * a.access_reads, "rru", 1)
    add("dispatcher retry", "DynamoDB GetItem (month's token use)", retry * a.budget_reads, "rru", 1)
    add("dispatcher retry", "DynamoDB PutItem (store + dispatched, conditional)", retry, "wru", wru(msg_item))
    # Progress reports (typing, the status message): each a queue message the agent sends and the
    # reply mapping receives and deletes, and a strongly consistent read of the run's status item
    # (under 1 KB); the final answer reads it too (to close it), and long runs write it.
    progress = a.progress_per_message if agent else 0.0
    progress_envelope = 800
    add("agent", "SQS SendMessage (progress)", progress, "sqs", sqs_chunks(progress_envelope))
    add("reply mapping", "SQS ReceiveMessage (progress)", progress / batch, "sqs",
        sqs_chunks(progress_envelope * batch))
    add("reply mapping", "SQS DeleteMessageBatch (progress)", progress / batch, "sqs")
    add("reply (progress)", "DynamoDB GetItem (run status)", progress, "rru", 1)
    add("reply (progress)", "DynamoDB GetItem (run status, at the answer)", 1.0 if progress else 0.0, "rru", 1)
    add("reply (progress)", "DynamoDB PutItem (run status)", a.status_writes_per_message if progress else 0.0,
        "wru", 1)
    add("reply retry", "SQS ReceiveMessage", retry, "sqs", sqs_chunks(reply_envelope), own=False)
    add("reply retry", "DynamoDB GetItem (reply line)", retry, "rru", reply_rru)
    add("reply retry", "DynamoDB PutItem (reply line)", retry * pieces, "wru", wru(reply_item))
    for row in rows:
        if row["hop"].endswith("mapping"):
            row["own"] = False
    return rows


def own_calls(rows, hops):
    """AWS calls the named hops make themselves, per answered message."""
    return sum(r["count"] for r in rows if r["hop"] in hops and r["own"])


def meter_total(rows, meter, api_prefix=""):
    return sum(r["count"] * r["units"] for r in rows if r["meter"] == meter and r["api"].startswith(api_prefix))


# ---------------------------------------------------------------------------------------------

def model(a, figures, batch_size=None, stop_after_answer=False):
    P = PRICES
    m = a.messages

    # Durations: flags, else figures, else defaults; SQS-driven functions floored at --min-ms.
    def pick(flag, measured, default, floor):
        if flag is not None:
            return flag, "flag"
        if measured is not None:
            if floor is not None and measured < floor:
                return floor, f"measured {measured:.1f} ms, floored"
            return measured, "measured"
        return default, "default"

    webhook_fig = figures.get("webhook", {}) if isinstance(figures.get("webhook"), dict) else {}
    webhook_measured = webhook_fig.get("duration_ms_p50", webhook_fig.get("warm_ms_p50"))
    webhook_ms, webhook_src = pick(a.webhook_ms, webhook_measured, 6.0, None)
    dispatcher_ms, dispatcher_src = pick(a.dispatcher_ms, per_message_ms(figures.get("dispatcher")), a.min_ms,
                                         a.min_ms)
    reply_ms, reply_src = pick(a.reply_ms, per_message_ms(figures.get("reply")), a.min_ms, a.min_ms)

    batch = max(1.0, min(10.0, a.batch_size if batch_size is None else batch_size))
    c = a.context_per_message
    retry = a.retry_share
    gb = a.memory_mb / 1024
    # Invocations per answered message: one webhook invocation per request (the message and its
    # context lines); one per batch on the SQS-driven functions, plus each retry alone.
    progress = 0.0 if a.no_agent_calls else a.progress_per_message
    invocations = {"webhook": 1.0 + c, "dispatcher": 1.0 / batch + retry,
                   "reply": (1.0 + progress) / batch + retry}
    ms_per_message = {"webhook": webhook_ms * (1 + c), "dispatcher": dispatcher_ms * (1 + retry),
                      "reply": reply_ms * (1 + retry) + progress * a.progress_ms}
    cold_ms = a.cold_start_share * a.init_ms  # per invocation, on average

    rows = aws_calls(a, batch, stop_after_answer)
    price = meter_prices()

    lines = []  # (service, detail, dollars per `m` messages)

    requests = 1.0 + c
    lines.append(("API Gateway HTTP API", f"{requests:g} request{'' if requests == 1 else 's'}", m * requests * P["apigw_http_per_million"] / 1e6))

    req = sum(invocations.values())
    lines.append(("Lambda requests", f"{req:.2f} invocations", m * req * P["lambda_per_million_requests"] / 1e6))
    gb_s = sum(gb * (ms_per_message[f] + invocations[f] * cold_ms) / 1000 for f in invocations)
    lines.append(("Lambda duration (arm64)",
                  f"{webhook_ms:.0f}+{dispatcher_ms:.0f}+{reply_ms:.0f} ms @ {a.memory_mb:.0f} MB",
                  m * gb_s * P["lambda_arm64_per_gb_second"]))

    sqs = meter_total(rows, "sqs")
    lines.append(("SQS FIFO", f"{sqs:.2f} requests (2 queues)", m * sqs * price["sqs"]))

    w = meter_total(rows, "wru")
    run_w = meter_total(rows, "wru", "DynamoDB UpdateItem")
    lines.append(("DynamoDB writes", f"{w:.2f} WRU ({run_w:g} for the run's summary)", m * w * price["wru"]))
    r = meter_total(rows, "rru")
    history_r = next(x["units"] for x in rows if x["hop"] == "dispatcher" and "history" in x["api"])
    reply_r = next(x["units"] for x in rows if x["hop"] == "reply" and "reply line" in x["api"])
    bot_r = sum(x["count"] * x["units"] for x in rows if "bot record" in x["api"])
    lines.append(("DynamoDB reads", f"{r:.2f} RRU (history {history_r}, reply line {reply_r}, bots {bot_r:.2f})",
                  m * r * price["rru"]))

    gets, puts = meter_total(rows, "s3_get"), meter_total(rows, "s3_put")
    lines.append(("S3 (agent memory)", f"{gets:.2f} GETs + {puts:.2f} PUTs",
                  m * (gets * price["s3_get"] + puts * price["s3_put"])))
    kms = meter_total(rows, "kms")
    lines.append(("KMS (SSM SecureString reads)", f"{kms:.2f} Decrypts (SSM's, aws/ssm key)", m * kms * price["kms"]))

    if a.scheduled_per_message:
        lines.append(("EventBridge Scheduler", f"{a.scheduled_per_message:.2f} invocations",
                      m * a.scheduled_per_message * P["scheduler_per_million"] / 1e6))
    else:
        lines.append(("EventBridge Scheduler", "0 (no scheduled tasks yet)", 0.0))

    platform_bytes = req * a.log_bytes_per_invocation if a.system_log_level == "INFO" else 0
    function_price = P["logs_ingest_ia_per_gb" if a.log_class == "INFREQUENT_ACCESS" else "logs_ingest_per_gb"]
    function_bytes = platform_bytes + a.log_bytes_per_message + c * a.webhook_log_bytes
    standard_bytes = a.agent_log_bytes_per_message + requests * a.access_log_bytes
    log_bytes = function_bytes + standard_bytes
    class_note = "IA" if a.log_class == "INFREQUENT_ACCESS" else "Std"
    lines.append(("CloudWatch Logs ingestion",
                  f"~{log_bytes / KB:.1f} KB (functions {function_bytes / KB:.1f} {class_note}, "
                  f"agent+API {standard_bytes / KB:.1f})",
                  m * (function_bytes * function_price + standard_bytes * P["logs_ingest_per_gb"]) / GB))
    # Webhook answers, the channel send(s), and a typing call per progress report.
    out_bytes = 300 * requests + a.pieces_per_reply * 600 + a.reply_bytes + progress * 400
    lines.append(("Data transfer out", f"~{out_bytes / KB:.1f} KB", m * out_bytes / GB * P["data_out_per_gb"]))

    platform = sum(d for _, _, d in lines)
    # The services the target names (request-priced compute, queues, table, schedules).
    core = sum(d for service, _, d in lines if service.startswith(CORE_SERVICES))

    agentcore = agentcore_per_message(a, a.messages_per_session, a.idle_timeout_s, stop_after_answer)
    agentcore_dollars = m * agentcore["dollars"]

    return {
        "batch": batch,
        "lines": lines,
        "platform": platform,
        "core": core,
        "agentcore": {**agentcore, "per_messages": agentcore_dollars},
        "all_in": platform + agentcore_dollars,
        "calls": rows,
        "per_message_ms": {"webhook": webhook_ms, "dispatcher": dispatcher_ms, "reply": reply_ms},
        "sources": {"webhook": webhook_src, "dispatcher": dispatcher_src, "reply": reply_src},
        "memory_miss_share": memory_miss_share(a, a.messages_per_session, stop_after_answer),
    }


def fixed_costs(a):
    P = PRICES
    idle_polls = 2 * a.idle_receives_per_queue
    return [
        ("Lambda, API Gateway, DynamoDB requests", "pay per use", 0.0, "$0"),
        ("SQS empty long polls (2 event-source mappings)", f"{idle_polls / 1e6:.2f} M requests",
         idle_polls * P["sqs_fifo_per_million"] / 1e6, "requests; inside the 1 M free tier in part"),
        ("DynamoDB storage", f"{a.table_gb} GB", max(0.0, a.table_gb - 25) * P["dynamodb_storage_per_gb_month"],
         "storage-only; first 25 GB free; messages expire after 30 days (TTL)"),
        ("DynamoDB PITR", f"{a.table_gb} GB", a.table_gb * P["dynamodb_pitr_per_gb_month"], "storage-only"),
        ("CloudWatch Logs storage", "30-day retention", 0.0, "storage-only; 0 once traffic stops for 30 days"),
        ("ECR agent image", f"{a.image_gb} GB", a.image_gb * P["ecr_storage_per_gb_month"], "storage-only"),
        ("AgentCore Runtime", "no sessions", 0.0, "$0 (consumption; a session ends at its idle timeout)"),
        ("SSM standard parameters", "standard tier", 0.0, "$0"),
        ("KMS AWS-managed keys", "aws/ssm, aws/dynamodb", 0.0, "$0 per key; requests are per use (above)"),
        ("EventBridge Scheduler group", "no schedules", 0.0, "$0"),
    ]


def assumptions(a, result):
    m = a.messages
    ms = result["per_message_ms"]
    src = result["sources"]
    ac = result["agentcore"]
    msg_item = a.message_bytes + a.item_overhead_bytes
    reply_item = a.reply_bytes + a.item_overhead_bytes
    cpu_rate, mem_rate = agentcore_rates(a)
    return [
        f"{m:,.0f} answered messages, each with one answer of {a.reply_bytes} B in {a.pieces_per_reply:g} channel "
        f"send(s); {a.context_per_message:g} context-only group line(s) per answered message",
        f"webhook {ms['webhook']:.1f} ms ({src['webhook']}), dispatcher {ms['dispatcher']:.1f} ms "
        f"({src['dispatcher']}), reply {ms['reply']:.1f} ms ({src['reply']}) per message, {a.memory_mb:.0f} MB "
        f"arm64; {a.cold_start_share:.0%} cold starts of {a.init_ms:.0f} ms",
        "webhook: ONE AWS call per request when the bot is cached: a message to answer is only enqueued "
        "(SQS FIFO SendMessage), a context-only group line only stored (one conditional PutItem, "
        f"{wru(msg_item)} WRU)",
        f"dispatcher: 1 strongly consistent history query over {a.history_lines} lines (the lost work it hands "
        f"the agent comes from the same lines), 1 conditional PutItem that stores the message and marks it "
        f"dispatched ({wru(msg_item)} WRU), 1 InvokeAgentRuntime",
        f"reply: 1 strongly consistent get of its line + {max(1.0, a.pieces_per_reply):g} put(s) of the whole "
        f"line ({wru(reply_item)} WRU each), the run's token counter (1 WRU) and {a.agent_marks_per_message:g} "
        f"answered mark(s) per message (the message a reply answers is marked by its reply line)",
        f"bot records and channel secrets cached per execution environment for CLAWLESS_CACHE_SECONDS=60; "
        f"{a.cache_miss_share:.0%} of lookups miss: webhook and reply read the bot record (1 RRU) and the "
        f"secrets (SSM GetParameter, free at standard throughput; its SecureString decrypt is one KMS request "
        f"on the aws/ssm key), the dispatcher the bot record",
        f"agent memory: {a.memory_layers} S3 GETs when its session cache (CLAWLESS_MEMORY_CACHE_SECONDS="
        f"{a.memory_cache_s:g}) misses: the first run of a session, and later runs {a.message_gap_s:g} s after "
        f"the previous one {'hit' if 0 < a.memory_cache_s and a.message_gap_s < a.memory_cache_s else 'miss'} "
        f"({result['memory_miss_share']:.0%} of runs read); {a.memory_writes_per_message:g} S3 PUTs per message",
        f"retries: {a.retry_share:.0%} of messages run each SQS-driven hop twice (another receive and invocation, "
        "the hop's reads and writes; not the agent's run)",
        f"AgentCore Runtime ({'V2' if a.agentcore_v2 else 'V1'} rates ${cpu_rate}/vCPU-h, ${mem_rate}/GB-h): "
        f"{a.messages_per_session} message(s) per session, a session billed from the microVM's start "
        f"({a.cold_start_s:g} s cold start) through {a.run_s:g} s per run, {a.message_gap_s:g} s between runs "
        f"and the {a.idle_timeout_s:g} s idle timeout after the last ({ac['session_s']:.0f} s), memory at "
        f"max(128 MB, the agent's {a.agent_peak_rss_mb:g} MB peak RSS) = {ac['billed_mb']:.0f} MB (any microVM "
        f"overhead above that is not known), {a.agent_cpu_ms:g} ms of active CPU per message",
        f"logs: Lambda system log level {a.system_log_level} "
        f"({'no start/report records' if a.system_log_level == 'WARN' else f'{a.log_bytes_per_invocation} B per invocation'}), "
        f"functions' log groups {a.log_class}, the agent's (AgentCore) and the HTTP API's access log Standard",
        "SQS FIFO, both queues: 1 send + 1 receive and 1 delete batch per batch; 64 KB chunks",
        "list prices, no free tiers (Lambda 1 M requests + 400k GB-s, SQS 1 M, KMS 20k, Scheduler 14 M are free "
        "per month)",
        "KMS for the table (SSE with aws/dynamodb): DynamoDB caches the table key and asks KMS again only when "
        "that cache expires, not per request: negligible, not counted; S3 (SSE-S3) and SQS (SSE-SQS) use no KMS",
        "not counted: CloudWatch metrics/alarms (none per message), DLQ traffic, the STS AssumeRole per "
        "conversation every 9 minutes and Secrets Manager reads per cold start (the dispatcher's), model tokens "
        "(pass-through)",
    ]


# ---------------------------------------------------------------------------------------------

def print_report(a, figures, paths, root):
    m = a.messages
    per = f"per {m / 1e6:g} M messages"
    result = model(a, figures)

    print(f"clawless cost {per} (us-east-1 list prices read {PRICES_READ_ON}, some {PRICES_READ_LATER_ON})")
    if paths:
        print("figures: " + ", ".join(os.path.relpath(p, root) for p in paths))
    print()
    print(f"| {'service':<28} | {'per message':<52} | {'$':>8} |")
    print(f"|{'-' * 30}|{'-' * 54}|{'-' * 10}|")
    for service, detail, dollars in result["lines"]:
        print(f"| {service:<28} | {detail:<52} | {dollars:>8.2f} |")
    print(f"| {'platform':<28} | {'everything above':<52} | {result['platform']:>8.2f} |")
    print(f"| {'core (target <= $10)':<28} | {'API GW, Lambda, SQS, DynamoDB, Scheduler':<52} | {result['core']:>8.2f} |")
    ac = result["agentcore"]
    detail = (f"{ac['session_s']:.0f} s session / {ac['messages_per_session']} msg @ {ac['billed_mb']:.0f} MB "
              f"+ {a.agent_cpu_ms:g} ms CPU")
    print(f"| {'AgentCore Runtime':<28} | {detail:<52} | {ac['per_messages']:>8.2f} |")
    print(f"| {'all-in':<28} | {'platform + AgentCore (model tokens: pass-through)':<52} | {result['all_in']:>8.2f} |")
    print()

    print(f"AWS calls per answered message, by hop (batches of {result['batch']:g}; a service's own calls "
          "on a function's behalf in parentheses):")
    hops = []
    for row in result["calls"]:
        if row["hop"] not in hops:
            hops.append(row["hop"])
    for hop in hops:
        parts = []
        for row in result["calls"]:
            if row["hop"] == hop and row["count"] > 0:
                text = f"{row['api']} {row['count']:.3g}"
                parts.append(text if row["own"] else f"({text})")
        if parts:
            print(f"  {hop}: " + "; ".join(parts))
    print(f"  webhook: {own_calls(result['calls'], ('webhook', 'webhook (context)')) / (1 + a.context_per_message):.2f} "
          f"calls per request on average ({a.cache_miss_share:.0%} cache misses); 1 when the bot is cached")
    print()

    print(f"AgentCore Runtime {per} ({'V2' if a.agentcore_v2 else 'V1'} rates; billed {ac['billed_mb']:.0f} MB: "
          f"max(128 MB, {a.agent_peak_rss_mb:g} MB peak RSS); {a.agent_cpu_ms:g} ms CPU and {a.run_s:g} s per run, "
          f"{a.message_gap_s:g} s between runs, {a.cold_start_s:g} s cold start):")
    print(f"| {'messages per session':<20} | {f'idle {IDLE_TEMPLATE_S} s (template)':>24} | "
          f"{f'idle {IDLE_AGENTCORE_DEFAULT_S} s (AgentCore default)':>34} |")
    print(f"|{'-' * 22}|{'-' * 26}|{'-' * 36}|")
    table = []
    for n in SESSION_SHAPES:
        low = m * agentcore_per_message(a, n, IDLE_TEMPLATE_S)["dollars"]
        high = m * agentcore_per_message(a, n, IDLE_AGENTCORE_DEFAULT_S)["dollars"]
        table.append({"messages_per_session": n, f"idle_{IDLE_TEMPLATE_S}": low, f"idle_{IDLE_AGENTCORE_DEFAULT_S}": high})
        print(f"| {n:<20} | {low:>24.2f} | {high:>34.2f} |")
    one = agentcore_per_message(a, 1, IDLE_AGENTCORE_DEFAULT_S)
    print(f"(one single-message session at {IDLE_AGENTCORE_DEFAULT_S} s idle: ${one['dollars']:.6f}; "
          f"at {IDLE_TEMPLATE_S} s: ${agentcore_per_message(a, 1, IDLE_TEMPLATE_S)['dollars']:.6f})")
    print()

    print(f"All-in {per} (platform + AgentCore at {a.messages_per_session} message(s) per session, idle "
          f"{a.idle_timeout_s:g} s; model tokens pass-through):")
    print(f"| {'batch':>5} | {'platform':>9} | {'of it core':>10} | {'AgentCore':>9} | {'all-in':>8} |")
    print(f"|{'-' * 7}|{'-' * 11}|{'-' * 12}|{'-' * 11}|{'-' * 10}|")
    by_batch = {}
    for b in (1, 10):
        alt = model(a, figures, batch_size=b)
        by_batch[b] = alt
        print(f"| {b:>5} | {alt['platform']:>9.2f} | {alt['core']:>10.2f} | {alt['agentcore']['per_messages']:>9.2f} | "
              f"{alt['all_in']:>8.2f} |")
    what_if = None
    if result["all_in"] > 10:
        stop = {b: model(a, figures, batch_size=b, stop_after_answer=True) for b in (1, 10)}
        s_ac = stop[1]["agentcore"]
        what_if = {"agentcore": s_ac["per_messages"], "all_in_batch_1": stop[1]["all_in"],
                   "all_in_batch_10": stop[10]["all_in"]}
        print(f"Next lever (all-in above $10): stop the session after each answer (StopRuntimeSession once the "
              f"conversation's queue is empty; not built): {s_ac['session_s']:g} s billed per message "
              f"({a.cold_start_s:g} s cold start + {a.run_s:g} s run), AgentCore ${s_ac['per_messages']:.2f} instead "
              f"of ${ac['per_messages']:.2f}, every run reading its memory layers; all-in "
              f"${stop[1]['all_in']:.2f} at batch 1, ${stop[10]['all_in']:.2f} at batch 10 {per}. Costs a cold "
              f"start on every message; the StopRuntimeSession call itself is not priced.")
    print()

    fixed = fixed_costs(a)
    print("Fixed monthly cost at zero traffic:")
    print(f"| {'item':<46} | {'quantity':<24} | {'$/month':>8} | {'kind':<68} |")
    print(f"|{'-' * 48}|{'-' * 26}|{'-' * 10}|{'-' * 70}|")
    for item, qty, dollars, kind in fixed:
        print(f"| {item:<46} | {qty:<24} | {dollars:>8.2f} | {kind:<68} |")
    fixed_total = sum(d for _, _, d, _ in fixed)
    print(f"| {'total':<46} | {'':<24} | {fixed_total:>8.2f} | {'compute: $0.00':<68} |")
    print()

    print("Pass-through (not platform cost):")
    if None not in (a.tokens_in, a.tokens_out, a.price_in, a.price_out):
        tok = (a.tokens_in * a.price_in + a.tokens_out * a.price_out) / 1e6
        print(f"  Model tokens: {a.tokens_in:.0f} in / {a.tokens_out:.0f} out: ${m * tok:.2f} {per}")
    else:
        print("  Model tokens: the tenant's model and prices (give --tokens-in/--tokens-out/--price-in/--price-out)")
    print()

    print("Seeds' published costs (always-on, one user; they run the agent too, so against the all-in figure):")
    for name, low, high in SEEDS:
        span = f"${low:.0f}" if low == high else f"${low:.0f}-{high:.0f}"
        breakeven = low / (result["all_in"] / m) if result["all_in"] else float("inf")
        print(f"  {name}: {span}/month; clawless spends ${low:.0f} at ~{breakeven / 1e6:.2f} M messages/month "
              f"(plus ${fixed_total:.2f} fixed)")
    print()

    print("Assumptions:")
    for line in assumptions(a, result):
        print(f"  - {line}")
    print()
    print(f"Prices used (us-east-1; read {PRICES_READ_ON}, * read {PRICES_READ_LATER_ON}):")
    for key, value in PRICES.items():
        print(f"  {key} = {value}{' *' if key in PRICES_READ_LATER else ''}")
    print("Sources:")
    for service, urls in SOURCES.items():
        for url in urls:
            print(f"  {service}: {url}")
    if a.json:
        out = {
            "messages": m,
            "lines": result["lines"],
            "platform": result["platform"],
            "core": result["core"],
            "agentcore": result["agentcore"],
            "all_in": result["all_in"],
            "all_in_by_batch": {str(b): r["all_in"] for b, r in by_batch.items()},
            "agentcore_table": table,
            "stop_after_answer": what_if,
            "calls": result["calls"],
            "fixed": fixed,
            "assumptions": assumptions(a, result),
            "per_message_ms": result["per_message_ms"],
        }
        print(json.dumps(out, indent=2, default=str))


# ---------------------------------------------------------------------------------------------
# Self-test: the model against figures worked out by hand from the prices and the rules above.

def self_test():
    failures = []

    def check(name, got, want, tol):
        ok = abs(got - want) <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: got {got:.10g}, want {want:.10g} (+/- {tol:g})",
              file=sys.stdout if ok else sys.stderr)
        if not ok:
            failures.append(name)

    # Every input the checks depend on is given, so a change of defaults does not move them.
    base = ["--no-figures", "--agent-peak-rss-mb", "32", "--agent-cpu-ms", "15", "--run-s", "5",
            "--cold-start-s", "1", "--message-gap-s", "30", "--memory-cache-s", "30", "--messages-per-session", "1",
            "--idle-timeout-s", "120", "--cache-miss-share", "0", "--retry-share", "0", "--context-per-message", "0",
            "--memory-writes-per-message", "0", "--memory-layers", "3", "--batch-size", "1",
            "--message-bytes", "500", "--reply-bytes", "1500", "--item-overhead-bytes", "300",
            "--history-lines", "21", "--pieces-per-reply", "1", "--agent-marks-per-message", "0",
            "--envelope-bytes", "1500", "--access-reads", "0", "--progress-per-message", "0",
            "--conversation-notes", "0"]

    def args(*extra):
        return parse_args(base + list(extra))

    a = args()
    # 128 MB billed (32 MB RSS is under the minimum) = 0.125 GB. CPU per message:
    # 0.015 s / 3600 x $0.0895 = $0.000000372917.
    cpu = 0.015 / 3600 * 0.0895
    # One message, 900 s idle: 1 + 5 + 900 = 906 s x 0.125 GB x $0.00945 / 3600 = $0.00029728125.
    one_900 = agentcore_per_message(a, 1, 900)["dollars"]
    check("AgentCore, one-message session, 900 s idle ($)", one_900, 906 * 0.125 * 0.00945 / 3600 + cpu, 1e-12)
    check("AgentCore, one-message session, 900 s idle ~ $0.0003", one_900, 0.0003, 0.000015)
    # Twenty messages, 120 s idle: 1 + 20 x 5 + 19 x 30 + 120 = 791 s; / 20 = 39.55 s per message.
    check("AgentCore, 20 messages per session, 120 s idle ($ per message)",
          agentcore_per_message(a, 20, 120)["dollars"], 39.55 * 0.125 * 0.00945 / 3600 + cpu, 1e-12)
    # Stopped after each answer: 1 s cold start + 5 s run = 6 s.
    check("AgentCore, session stopped after the answer ($ per message)",
          agentcore_per_message(a, 1, 900, stop_after_answer=True)["dollars"], 6 * 0.125 * 0.00945 / 3600 + cpu,
          1e-12)
    check("AgentCore, V2 rates, one message, 120 s idle",
          agentcore_per_message(args("--agentcore-v2"), 1, 120)["dollars"],
          126 * 0.125 * 0.0169 / 3600 + 0.015 / 3600 * 0.1276, 1e-12)
    # A peak RSS above the minimum is what is billed.
    check("AgentCore, 256 MB peak RSS doubles the memory part",
          agentcore_per_message(args("--agent-peak-rss-mb", "256"), 1, 120)["memory"],
          2 * agentcore_per_message(a, 1, 120)["memory"], 1e-15)

    rows = aws_calls(a, 1.0)
    check("webhook: AWS calls per request to answer, bot cached", own_calls(rows, ("webhook",)), 1.0, 0)
    ctx = aws_calls(args("--context-per-message", "3"), 1.0)
    check("webhook: AWS calls per context-only request, bot cached",
          own_calls(ctx, ("webhook (context)",)) / 3, 1.0, 0)
    missed = aws_calls(args("--cache-miss-share", "1"), 1.0)
    check("webhook: AWS calls per request on a cache miss (+ bot Query, + GetParameter)",
          own_calls(missed, ("webhook",)), 3.0, 0)
    check("dispatcher: AWS calls per message (Query, PutItem, InvokeAgentRuntime)",
          own_calls(rows, ("dispatcher",)), 3.0, 0)
    # Under DM pairing or allowlist the access check adds one GetItem of 1 RRU.
    paired = aws_calls(args("--access-reads", "1"), 1.0)
    check("dispatcher under DM pairing: AWS calls per message (+ GetItem of the allow item)",
          own_calls(paired, ("dispatcher",)), 4.0, 0)
    check("DynamoDB RRU under DM pairing: one more than open",
          meter_total(paired, "rru") - meter_total(rows, "rru"), 1.0, 1e-12)
    # WRU: dispatcher put of an 800 B item 1 + reply line of 1,800 B 2 + token counter 1.
    check("DynamoDB WRU per answered message", meter_total(rows, "wru"), 4.0, 0)
    check("DynamoDB WRU with 2 context lines (+1 each)", meter_total(aws_calls(args("--context-per-message", "2"), 1.0),
                                                                      "wru"), 6.0, 0)
    # RRU: 21 lines x 1,300 B average = 27,300 B -> 7; reply line 1; half the lookups miss: 3 x 0.5.
    check("DynamoDB RRU, half the bot lookups missing",
          meter_total(aws_calls(args("--cache-miss-share", "0.5"), 1.0), "rru"), 7 + 1 + 1.5, 1e-12)
    # KMS: webhook and reply each decrypt on a miss: 2 x 0.5 = 1 per message = $3.00 per 1 M.
    half = model(args("--cache-miss-share", "0.5"), {})
    check("KMS $ per 1 M messages at half the lookups missing",
          dict((s, d) for s, _, d in half["lines"])["KMS (SSM SecureString reads)"], 3.00, 1e-9)
    # Memory cache: 5 messages 10 s apart with a 30 s cache: 1 run in 5 reads (0.6 GETs); 30 s apart
    # (not shorter than the cache's life): every run reads.
    check("S3 GETs per message, 5 per session, 10 s gaps",
          meter_total(aws_calls(args("--messages-per-session", "5", "--message-gap-s", "10"), 1.0), "s3_get"), 0.6,
          1e-12)
    check("S3 GETs per message, 5 per session, 30 s gaps",
          meter_total(aws_calls(args("--messages-per-session", "5"), 1.0), "s3_get"), 3.0, 1e-12)
    # Batches of 10: receive and delete once per batch on each queue (+ 2 sends) = 2 + 4/10.
    check("SQS requests per message at batches of 10", meter_total(aws_calls(a, 10.0), "sqs"), 2.4, 1e-12)
    # Retries: 10 % -> per hop another receive; dispatcher 7 RRU + 1 WRU, reply 1 RRU + 2 WRU.
    retried = aws_calls(args("--retry-share", "0.1"), 1.0)
    check("SQS requests per message with 10 % retries", meter_total(retried, "sqs"), 6.2, 1e-12)
    check("DynamoDB WRU per message with 10 % retries", meter_total(retried, "wru"), 4.3, 1e-12)
    # Context lines: each is an API Gateway request and a webhook invocation.
    two = model(args("--context-per-message", "2"), {})
    lines = dict((s, d) for s, _, d in two["lines"])
    check("API Gateway $ per 1 M with 2 context lines", lines["API Gateway HTTP API"], 3.00, 1e-9)
    check("Lambda requests $ per 1 M with 2 context lines (5 invocations)", lines["Lambda requests"], 1.00, 1e-9)
    # Progress: 2 reports, batches of 1 -> 3 SQS requests each; 2 + 1 RRU; 0.4 WRU; 2 more reply invocations.
    reports = aws_calls(args("--progress-per-message", "2"), 1.0)
    check("SQS requests per message with 2 progress reports (+6)", meter_total(reports, "sqs") - meter_total(rows, "sqs"),
          6.0, 1e-12)
    check("DynamoDB RRU with 2 progress reports (+3: each, and the answer's)",
          meter_total(reports, "rru") - meter_total(rows, "rru"), 3.0, 1e-12)
    check("DynamoDB WRU with progress (status writes)", meter_total(reports, "wru") - meter_total(rows, "wru"), 0.4,
          1e-12)
    with_reports = dict((s, d) for s, _, d in model(args("--progress-per-message", "2"), {})["lines"])
    check("Lambda requests $ per 1 M with 2 progress reports (5 invocations)", with_reports["Lambda requests"], 1.00,
          1e-9)
    # The all-in figure is the platform's plus AgentCore's.
    full = model(a, {})
    check("all-in = platform + AgentCore", full["all_in"], full["platform"] + full["agentcore"]["per_messages"], 1e-9)
    check("AgentCore $ per 1 M, one message per session, 120 s idle", full["agentcore"]["per_messages"],
          1e6 * (126 * 0.125 * 0.00945 / 3600 + cpu), 1e-6)

    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


def main(argv):
    a = parse_args(argv)
    if a.self_test:
        return self_test()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = list(a.figures)
    if not a.no_figures and not paths:
        paths = sorted(glob.glob(os.path.join(root, "target", "bench-figures*.json")))
    figures = load_figures(paths)
    print_report(a, figures, paths, root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
