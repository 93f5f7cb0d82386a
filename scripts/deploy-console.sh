#!/usr/bin/env bash
# Builds the admin console and publishes it to the stack's console bucket behind CloudFront, after
# `sam deploy` (the bucket, distribution, user pool and API come from the stack's outputs):
#
#   scripts/deploy-console.sh [stack-name]        # default: clawless, or $CLAWLESS_STACK
#
# 1. reads the outputs UserPoolId, UserPoolClientId, ApiUrl, ConsoleBucketName,
#    ConsoleDistributionId and ConsoleUrl (aws cloudformation describe-stacks);
# 2. builds the console (npm ci && npm run build in console/, output in console/dist);
# 3. writes console/dist/config.json: {"region", "user_pool_id", "client_id", "cognito_endpoint",
#    "api_url"} (docs/admin-api.md);
# 4. uploads console/dist with `aws s3 sync --delete` (config.json and index.html marked no-cache,
#    so a new deploy shows at once; hashed assets cached) and invalidates the distribution.
#
# Needs the AWS CLI v2 with credentials for the stack's account and region (AWS_REGION or the
# profile's region), Node.js and npm. Not run by the test suite: it cannot run without an AWS
# account, so only `bash -n` and shellcheck check it here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

stack="${1:-${CLAWLESS_STACK:-clawless}}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
if [ -z "$region" ]; then
  echo "deploy-console: no region (set AWS_REGION)" >&2
  exit 1
fi

output() {
  local value
  value="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text)"
  if [ -z "$value" ] || [ "$value" = "None" ]; then
    echo "deploy-console: stack $stack has no output $1 (deploy the template first: sam deploy)" >&2
    exit 1
  fi
  printf '%s' "$value"
}

user_pool_id="$(output UserPoolId)"
client_id="$(output UserPoolClientId)"
api_url="$(output ApiUrl)"
bucket="$(output ConsoleBucketName)"
distribution="$(output ConsoleDistributionId)"
console_url="$(output ConsoleUrl)"

if [ ! -f console/package.json ]; then
  echo "deploy-console: console/package.json not found" >&2
  exit 1
fi
(cd console && npm ci --no-audit --no-fund && npm run build)
if [ ! -f console/dist/index.html ]; then
  echo "deploy-console: the build left no console/dist/index.html" >&2
  exit 1
fi

# The values are AWS ids and URLs (no quotes or backslashes), so plain printf makes valid JSON.
printf '{"region":"%s","user_pool_id":"%s","client_id":"%s","cognito_endpoint":"%s","api_url":"%s"}\n' \
  "$region" "$user_pool_id" "$client_id" "https://cognito-idp.$region.amazonaws.com/" "${api_url%/}" \
  >console/dist/config.json

# Everything but the entry points may be cached; index.html and config.json must not be, or a
# browser keeps an old build or an old pool after a deploy.
aws s3 sync console/dist "s3://$bucket" --region "$region" --delete \
  --exclude index.html --exclude config.json
for entry in index.html config.json; do
  aws s3 cp "console/dist/$entry" "s3://$bucket/$entry" --region "$region" \
    --cache-control "no-cache, no-store, must-revalidate"
done

invalidation="$(aws cloudfront create-invalidation --distribution-id "$distribution" --paths '/*' \
  --query 'Invalidation.Id' --output text)"
echo "deploy-console: uploaded to s3://$bucket; CloudFront invalidation $invalidation is running"
echo "deploy-console: the console is at $console_url"

# CORS: the HTTP API answers the origin the ConsoleOrigin parameter names (default: any HTTPS
# origin, because the template cannot name its own distribution there). Pin it to the console.
origin="${console_url%/}"
current="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Parameters[?ParameterKey=='ConsoleOrigin'].ParameterValue | [0]" --output text)"
if [ "$current" != "$origin" ]; then
  echo "deploy-console: to limit the API's CORS to the console, deploy once more with" \
    "--parameter-overrides ConsoleOrigin=$origin (now: $current)"
fi
