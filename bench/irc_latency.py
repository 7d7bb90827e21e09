"""IRC benchmark: reply latency and flood-control pacing, against a real ngircd.

1. Latency, flood control off: a human says ``!echo N`` in a channel; the time until the
   bot's ``echo N`` reaches the human (IRC server -> gateways interface -> layer ->
   worker consumer -> layer -> interface -> IRC server -> human), one message at a time.
   Baseline: the same server relaying a line from one human to another (what any IRC
   bot must add to). No anchor stack speaks IRC (Channels 1 never had an IRC interface
   server), so the ratio is against that relay.
2. Pacing, flood control on: the consumer answers with many lines at once; the human
   measures the rate at which they arrive after the burst, against ``--irc-flood-rate``.

    .venv/bin/python bench/irc_latency.py [--count 300] [--rate 4 --burst 3 --lines 30]
                                          [--quick] [--json FILE]

The machine is shared (2 cores, other engineers' jobs): figures are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report_json import add_report_arguments, ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402
from tests.fixtures.ircd import Ircd, IrcUser  # noqa: E402

CHANNEL = "#bench"


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p90 and p99 of samples in seconds, in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    return {f"p{p}": ms[min(len(ms) - 1, int(p / 100 * len(ms)))] for p in (50, 90, 99)}


def summary(samples: list[float]) -> str:
    shown = " ".join(f"{k}={v:.2f}ms" for k, v in percentiles(samples).items())
    return f"n={len(samples)} mean={statistics.fmean(samples) * 1000:.2f}ms {shown}"


def start_bot(server: Ircd, *extra: str) -> GatewaysProcess:
    env = {"PYTHONPATH": str(ROOT / "tests" / "apps"), "PYTHONUNBUFFERED": "1"}
    args = ["serve", "irc_app:routes", "--plugin", "irc", "--irc-server", server.address]
    args += ["--irc-network", "bench", "--irc-nick", "bot", "--irc-channel", CHANNEL]
    return GatewaysProcess([*args, *extra], env=env, cwd=str(ROOT))


def joined(user: IrcUser, nick: str = "bot") -> None:
    user.wait_until(
        lambda x: (
            (x.command == "JOIN" and x.nick == nick) or (x.command == "353" and nick in x.text)
        ),
        20.0,
        0,
        f"{nick} in {CHANNEL}",
    )


def relay_baseline(server: Ircd, count: int) -> list[float]:
    """Human to human through ngircd: the floor any bot's reply sits on."""
    alice = IrcUser(server.address, "alice")
    bob = IrcUser(server.address, "bob")
    alice.join(CHANNEL)
    bob.join(CHANNEL)
    samples = []
    for index in range(count):
        mark = bob.mark()
        sent = time.monotonic()
        alice.say(CHANNEL, f"ping {index}")
        line = bob.wait_for(rf"PRIVMSG {CHANNEL} :ping {index}$", 10.0, mark)
        samples.append(line.at - sent)
    alice.quit()
    bob.quit()
    return samples


def reply_latency(server: Ircd, count: int) -> list[float]:
    human = IrcUser(server.address, "human")
    human.join(CHANNEL)
    with start_bot(server, "--irc-flood-rate", "0") as bot:
        joined(human)
        for warm in range(20):
            human.say(CHANNEL, f"!echo warm{warm}")
            human.wait_for(rf":echo warm{warm}$", 10.0)
        samples = []
        for index in range(count):
            mark = human.mark()
            sent = time.monotonic()
            human.say(CHANNEL, f"!echo {index}")
            line = human.wait_for(rf"PRIVMSG {CHANNEL} :echo {index}$", 10.0, mark)
            samples.append(line.at - sent)
        bot.stop()
    human.quit()
    return samples


def pacing(server: Ircd, rate: float, burst: int, lines: int) -> tuple[float, float]:
    """(measured lines/s after the burst, seconds for all lines)."""
    human = IrcUser(server.address, "pacer")
    human.join(CHANNEL)
    flags = ["--irc-flood-rate", str(rate), "--irc-flood-burst", str(burst)]
    with start_bot(server, *flags) as bot:
        joined(human)
        mark = human.mark()
        sent = time.monotonic()
        human.say(CHANNEL, f"!repeat {lines} 40")
        got = human.wait_messages("bot", lines, timeout=lines / rate + 30, start=mark)
        bot.stop()
    human.quit()
    paced = got[burst - 1 :]  # the last burst line starts the paced stretch
    measured = (len(paced) - 1) / (paced[-1].at - paced[0].at)
    return measured, got[-1].at - sent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="round trips per latency run")
    parser.add_argument("--rate", type=float, default=4.0, help="--irc-flood-rate to check")
    parser.add_argument("--burst", type=int, default=3, help="--irc-flood-burst to check")
    parser.add_argument("--lines", type=int, default=30, help="lines the consumer sends at once")
    add_report_arguments(parser, quick="50 round trips, 10 paced lines")
    args = parser.parse_args()
    if args.quick:
        args.count, args.lines = 50, 10
    return args


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="irc-bench-"))
    os.chmod(folder, 0o755)
    server = Ircd(folder).start()
    try:
        base = relay_baseline(server, args.count)
        print(f"ngircd relay human->human   {summary(base)}")
        reply = reply_latency(server, args.count)
        print(f"gateways irc reply (flood off) {summary(reply)}")
        ratio = statistics.median(reply) / statistics.median(base)
        print(f"ratio reply/relay (p50)       {ratio:.1f}x")
        measured, total = pacing(server, args.rate, args.burst, args.lines)
        print(
            f"flood control: configured {args.rate:.2f} lines/s burst {args.burst}; "
            f"measured {measured:.2f} lines/s after the burst "
            f"({measured / args.rate:.3f} of configured); {args.lines} lines in {total:.2f}s"
        )
    finally:
        server.stop()
    if args.json:
        write_json(args.json, payload(base, reply, measured, total, args))


def payload(
    base: list[float],
    reply: list[float],
    measured: float,
    total: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Round trips in milliseconds; the pacing as a ratio to the configured rate."""
    rows = {"ngircd relay": base, "gateways": reply}
    results = [
        result_row(
            stack,
            "human to human" if stack == "ngircd relay" else "reply to !echo (flood control off)",
            percentiles(samples)["p50"],
            latency_ms=percentiles(samples),
            mean_ms=statistics.fmean(samples) * 1000,
            n=len(samples),
        )
        for stack, samples in rows.items()
    ]
    p50 = {row["stack"]: row["value"] for row in results}
    return {
        "bench": "irc_latency",
        "title": "IRC: reply latency against ngircd's own relay, flood-control pacing",
        "unit": "ms (p50 round trip)",
        "higher_is_better": False,
        "results": results,
        "ratios": [
            ratio_row(
                "ngircd relay / gateways reply (p50 round trip)",
                "round trip",
                p50["ngircd relay"],
                p50["gateways"],
            ),
            ratio_row("paced rate / --irc-flood-rate", "flood control", measured, args.rate),
        ],
        "distributions": {stack: [s * 1000 for s in samples] for stack, samples in rows.items()},
        "notes": (
            f"{args.count} round trips each, one at a time, after 20 warm-up ones; ngircd "
            "relaying a line between two humans is the floor under any bot (no anchor stack "
            f"speaks IRC). Flood control: --irc-flood-rate {args.rate:g} --irc-flood-burst "
            f"{args.burst}, {args.lines} lines at once: {measured:.2f} lines/s after the "
            f"burst, all in {total:.2f} s."
        ),
    }


if __name__ == "__main__":
    main()
