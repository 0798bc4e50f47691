"""Docker HEALTHCHECK: exit 0 when this container's dashboard answers /_stcore/health.

Reads the same OPTLAB_PORT (and OPTLAB_ADDRESS) as scripts/serve.sh, so a container
started with `-e OPTLAB_PORT=8530` is probed on 8530. Standard library only.
"""

import os
import sys
import urllib.request

address = os.environ.get("OPTLAB_ADDRESS", "").strip()
host = "127.0.0.1" if address in ("", "0.0.0.0", "::", "localhost") else address
if ":" in host:  # an IPv6 address
    host = f"[{host}]"
port = os.environ.get("OPTLAB_PORT", "").strip() or "8501"
url = f"http://{host}:{port}/_stcore/health"
try:
    with urllib.request.urlopen(url, timeout=4) as resp:
        ok = resp.status == 200 and resp.read().strip() == b"ok"
except OSError as exc:
    sys.exit(f"{url}: {exc}")
sys.exit(0 if ok else f"{url}: not ok")
