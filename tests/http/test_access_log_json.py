"""``--access-log`` with ``--log-format json``: the combined log's fields as JSON keys."""

from __future__ import annotations

import json
from datetime import datetime, timedelta


def test_access_log_lines_are_json_with_the_request_fields(http_server, tmp_path):
    path = tmp_path / "access.jsonl"
    server = http_server("--access-log", str(path), "--log-format", "json")
    client = server.connect()
    client.request("GET", "/hello?x=1", {"Referer": "http://ref/", "User-Agent": "probe/1"})
    client.request("GET", "/nowhere")
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert datetime.fromisoformat(first["timestamp"]).utcoffset() == timedelta(0)
    assert (first["level"], first["logger"]) == ("INFO", "gateways.http.access")
    assert first["message"].startswith("127.0.0.1 - - [")
    assert '"GET /hello?x=1 HTTP/1.1" 200 5 "http://ref/" "probe/1"' in first["message"]
    assert first["client"] == "127.0.0.1"
    assert (first["method"], first["path"], first["protocol"]) == ("GET", "/hello?x=1", "HTTP/1.1")
    assert (first["status"], first["size"]) == (200, 5)
    assert (first["referer"], first["user_agent"]) == ("http://ref/", "probe/1")
    assert (second["status"], second["referer"], second["user_agent"]) == (404, None, None)
