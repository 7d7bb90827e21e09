"""HTTP over Redis: gateways against the Channels 1 stack it descends from, same workload.

    .venv/bin/python bench/http_redis.py [--rounds 3] [--duration 5] [--connections 50]
        [--app hello|realistic]

Both stacks run an interface process and a separate worker process on one redis-server
(from bench/anchors/launch.py), each in its own database:

- **gateways**: ``gateways serve --plugin http --layer redis://...`` (interfaces only)
  plus ``gateways worker http_hello:routes --layer redis://...``, the hello route of
  ``http_hello.py`` (``--app realistic``: ``realistic_app:routes``, which also reads the
  websocket, durable email and irc-client channels, as a real app's worker does);
- **Channels 1**: Daphne 1.4.2 + one ``manage.py runworker`` (Channels 1.1.8,
  asgi_redis 1.4.3), answering ``hello`` from a raw consumer (``start_channels1``).

Each round runs ``wrk`` (Debian package ``wrk``) against each stack in turn; the median
per stack and the ratio are printed.
"""

from __future__ import annotations

import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.anchors.launch import free_port, start_channels1, start_redis  # noqa: E402
from bench.http_hello import alternate, report, wrk_parser  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402


def start_gateways(
    stack: ExitStack, port: int, layer: str, extra: list[str], app: str = "http_hello"
) -> str:
    """Interface and worker as two processes; returns the URL once a request went through."""
    env = {"PYTHONPATH": str(HERE)}
    for args in (
        ["serve", "--plugin", "http", "--http-port", str(port), "--layer", layer, *extra],
        ["worker", f"{app}:routes", "--layer", layer],
    ):
        process = GatewaysProcess(args, env=env)
        stack.callback(process.stop)
    url = f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"hello", "gateways did not answer hello"
    return url


def main() -> None:
    parser = wrk_parser(__doc__)
    parser.add_argument("--app", choices=["hello", "realistic"], default="hello")
    args = parser.parse_args()
    app = {"hello": "http_hello", "realistic": "realistic_app"}[args.app]

    with ExitStack() as stack:
        redis = stack.enter_context(start_redis(free_port()))
        urls = {"gateways": start_gateways(stack, free_port(), redis.url, args.gateways_arg, app)}
        channels1 = stack.enter_context(
            start_channels1(free_port(), redis.url.rsplit("/", 1)[0] + "/1", flush=True)
        )
        urls["channels1"] = channels1.url
        results = alternate(urls, args)
        report(results, "hello, interface + worker over Redis", ("channels1",))


if __name__ == "__main__":
    main()
