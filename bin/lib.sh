# Shared by the bin/ scripts: the API base URL and one JSON request with a readable answer.
API_URL="${API_URL:-http://localhost:3000}"
API_URL="${API_URL%/}"

# Pretty-prints JSON with jq or python3 when available; anything else is printed as it is.
pretty() {
  local body="$1"
  if command -v jq >/dev/null 2>&1 && printf '%s' "$body" | jq . 2>/dev/null; then return; fi
  if command -v python3 >/dev/null 2>&1 && printf '%s' "$body" | python3 -m json.tool 2>/dev/null; then return; fi
  printf '%s\n' "$body"
}

# The API key (README: Authentication): npm start prints one on its ready line, a deployed stage has its own.
API_KEY="${API_KEY:-}"

# request <curl args...>: prints the answer; exits 1 when the API is unreachable or answers non-2xx.
request() {
  local body_file code
  local key_header=()
  [[ -n "$API_KEY" ]] && key_header=(-H "x-api-key: $API_KEY")
  body_file="$(mktemp)"
  if ! code="$(curl -sS -o "$body_file" -w '%{http_code}' "${key_header[@]}" "$@")"; then
    rm -f "$body_file"
    echo "error: cannot reach $API_URL (is the stack running? npm start, or set API_URL)" >&2
    exit 1
  fi
  pretty "$(cat "$body_file")"
  rm -f "$body_file"
  if [[ "$code" == 403 && -z "$API_KEY" ]]; then
    echo "error: HTTP 403: set API_KEY (npm start prints one on its ready line)" >&2
    exit 1
  fi
  if [[ "$code" -lt 200 || "$code" -ge 300 ]]; then
    echo "error: HTTP $code" >&2
    exit 1
  fi
}
