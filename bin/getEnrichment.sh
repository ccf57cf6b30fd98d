#!/usr/bin/env bash
# Prints the status of an enrichment request: GET $API_URL/enrichment/<requestId>.
# Usage: ./bin/getEnrichment.sh <requestId>   (API_URL defaults to the local stack, http://localhost:3000)
set -euo pipefail

source "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: [API_URL=...] [API_KEY=...] $0 <requestId>    prints the status JSON of an enrichment request" >&2
}

if [[ $# -ne 1 || -z "$1" ]]; then
  usage
  exit 2
fi
if [[ "$1" == "-h" || "$1" == "--help" ]]; then
  usage
  exit 0
fi
request_id="$1"
if [[ ! "$request_id" =~ ^[A-Za-z0-9-]+$ ]]; then
  echo "error: \"$request_id\" is not a request id (a UUID such as 4b92560e-5c60-4d90-9bdd-195f39f8a91d)" >&2
  exit 2
fi

request "$API_URL/enrichment/$request_id"
