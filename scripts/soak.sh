#!/usr/bin/env bash
# The fault-injection soak (cli/tests/e2e/soak): on a fresh local stack, 1,000 messages over 50
# conversations on all five channels while channel APIs refuse sends (429, 500, hung requests),
# agents' microVMs and function processes are SIGKILLed, the model is slow, fails or runs past
# its limit, and deliveries are duplicated. Prints the faults injected and the verdict (answered
# once / in a DLQ / lost / duplicated / out of order); fails unless nothing is lost, duplicated or
# out of order. Debug binaries (the test's build).
#
#   scripts/soak.sh                          1,000 messages, 50 conversations, a random seed
#   CLAWLESS_SOAK_SEED=1234 scripts/soak.sh  replays a run's fault schedule
#   CLAWLESS_SOAK_MESSAGES / CLAWLESS_SOAK_CONVERSATIONS change the size.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh >/dev/null
export CLAWLESS_MOTO_SERVER="$root/.clawless/venv/bin/moto_server" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export CLAWLESS_SOAK_MESSAGES="${CLAWLESS_SOAK_MESSAGES:-1000}"
export CLAWLESS_SOAK_CONVERSATIONS="${CLAWLESS_SOAK_CONVERSATIONS:-50}"
# The functions and the agent run as the debug binaries the test finds next to itself.
cargo build --workspace --all-targets --locked
log="$root/target/soak.log"
echo "==> soak: $CLAWLESS_SOAK_MESSAGES messages over $CLAWLESS_SOAK_CONVERSATIONS conversations (processes' output: $log)"
# The stack's processes write to stderr (kept in the log); the report goes to stdout.
cargo test --locked -p clawless-cli --test e2e -- soak::soak_with_faults_answers_every_message_once_in_order --exact --nocapture 2>"$log"
