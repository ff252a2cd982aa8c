"""Every default of the SDK, in one place.

Resolution order everywhere: an explicit argument wins, then the environment (``Scopix.from_env``),
then the values below.
"""

from __future__ import annotations

import re

__all__: list[str] = []  # private module: nothing here is part of the public surface

# --- The ten basic settings (seed: Configuration) ------------------------------------------------
DEFAULT_BASE_URL = "https://api.scopix.ai/api/v2"
DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_POLLING_INTERVAL = 2.0
DEFAULT_POLLING_TIMEOUT = 360.0

# --- Advanced settings (ClientConfig only) -------------------------------------------------------
DEFAULT_CIRCUIT_BREAKER_FAILURE_THRESHOLD = 5
DEFAULT_CIRCUIT_BREAKER_SUCCESS_THRESHOLD = 2
DEFAULT_CIRCUIT_BREAKER_TIMEOUT = 30.0
DEFAULT_TRACING_SERVICE_NAME = "scopix-sdk"

# --- Retry policy details (documented in README "Retries") ---------------------------------------
# Exponential backoff: retry_delay * 2**n, never more than this (or retry_delay, if that is larger).
MAX_RETRY_DELAY = 30.0
# Each delay is stretched by a random factor in [1, 1 + RETRY_JITTER] so that many clients that
# failed together do not come back together.
RETRY_JITTER = 0.1
# A server may ask for a longer pause with Retry-After; beyond this we do not sleep inside a call
# but raise at once (the error carries ``retry_after`` so the caller can schedule the work).
MAX_RETRY_AFTER = 120.0

# --- API keys ------------------------------------------------------------------------------------
API_KEY_PREFIX = "scopix_"
# ``scopix_`` followed by at least 20 URL-safe characters (the server issues
# ``scopix_<8 alnum>_<32+ chars>``; the check is looser so that every issued key passes).
API_KEY_PATTERN = re.compile(r"^scopix_[A-Za-z0-9_-]{20,}$")
API_KEY_MIN_SUFFIX = 20

# --- Environment variables read by Scopix.from_env() ---------------------------------------------
ENV_API_KEY = "SCOPIX_API_KEY"
ENV_BASE_URL = "SCOPIX_BASE_URL"
ENV_TIMEOUT = "SCOPIX_TIMEOUT"
ENV_MAX_RETRIES = "SCOPIX_MAX_RETRIES"
ENV_RETRY_DELAY = "SCOPIX_RETRY_DELAY"
ENV_POLLING_INTERVAL = "SCOPIX_POLLING_INTERVAL"
ENV_POLLING_TIMEOUT = "SCOPIX_POLLING_TIMEOUT"
ENV_TENANT_ID = "SCOPIX_TENANT_ID"
ENV_PROXY_URL = "SCOPIX_PROXY_URL"
ENV_ENABLE_TRACING = "SCOPIX_ENABLE_TRACING"

# --- HTTP headers --------------------------------------------------------------------------------
HEADER_AUTHORIZATION = "Authorization"
HEADER_TENANT_ID = "X-Tenant-ID"
HEADER_REQUEST_ID = "X-Request-ID"
HEADER_CORRELATION_ID = "X-Correlation-ID"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_RETRY_AFTER = "Retry-After"
HEADER_SHOULD_RETRY = "X-Should-Retry"  # "false": the server says a retry would fail alike

LOGGER_NAME = "scopix"
