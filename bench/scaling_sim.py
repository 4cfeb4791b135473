"""EC2 at scale, by simulation with a fake clock: our policy + a warm pool against the original design.

The model (issues 3 and 7): a new instance boots in 40 s, a stopped one restarts in 12 s (the warm
pool), the cap is 19. One of our instances classifies ``--rate`` images per second (default 40, the
ONNX Runtime worker's assumed figure on an EC2 instance; 2 is the torch worker's 0.5 s per image); the
original's instance takes 7 s per image (a new process, model load and all, per image). Billing runs
from launch (or restart) to stop; a stopped instance in the warm pool costs no instance-seconds.

* **ours**: every tick the daemon observes the queue and the fleet, calls the same
  :func:`cloud.scaler.policy.decide` that the real daemon calls with the EC2 fleet's settings
  (:func:`cloud.scaler.defaults.settings_for`: drain within ``target_drain_seconds``, boot 40 s), and acts
  as ``fleet_ec2`` does: restart stopped instances first, then launch; stop only idle running
  instances. Until an instance has finished an image the policy plans with ``default_worker_rate``
  (40 images/s); from then on with the measured rate, as the workers' status objects report it.
* **original**: every tick, one instance per visible message up to the cap (booting and running
  ones count), always a new launch; each instance stops itself the moment it finds the queue empty.

Workloads: bursts of 20, 100, 1,000 and 10,000 images at t = 0, and a trickle of one image per
second for 10 minutes. "cold" starts with no stopped instances (the first job ever); "warm"
starts with 19 stopped instances left by earlier jobs (the steady state of a running service).

Prints a markdown table, then, as its last line, JSON with the ratios ours / original per rate.
Usage: python bench/scaling_sim.py [--rate R [R ...]] [--target-drain S] [--tick S] [--scale-in-delay S]
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.scaler import defaults  # noqa: E402
from cloud.scaler.policy import Observation, Settings, decide  # noqa: E402
from shared.config import load_config  # noqa: E402

BOOT_NEW = defaults.EC2_LAUNCH_SECONDS
BOOT_WARM = defaults.EC2_RESTART_SECONDS
ORIGINAL_SECONDS_PER_IMAGE = 7.0  # the original app tier: a new process (model load) per image
DEFAULT_RATE = 40.0  # images/s of one of our instances (ONNX Runtime worker), until measured on EC2
CAP = 19
STEP = 0.1  # the clock advances in steps; work within a step is chained exactly
TRICKLE_SECONDS = 600
TRICKLE_PHASE = 0.25


@dataclass
class Instance:
    ident: int
    billed_since: float
    ready_at: float
    free_at: float = 0.0  # when its current image is done (or when it became idle)
    holding: float | None = None  # arrival time of the image in hand
    running: bool = False
    billed: float = 0.0

    def stop(self, now: float) -> None:
        self.billed += now - self.billed_since


@dataclass
class World:
    arrivals: list[float]
    self_stop: bool  # the original: an instance that finds the queue empty stops itself
    per_image: float  # seconds one instance takes per image
    next_msg: int = 0  # index of the oldest message not yet taken (FIFO)
    live: list[Instance] = field(default_factory=list)
    stopped: list[Instance] = field(default_factory=list)  # warm pool
    gone: list[Instance] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    done_at: float = 0.0
    launched: int = 0
    most: int = 0  # the most instances live (booting or running) at once

    def visible(self, now: float) -> int:
        return bisect.bisect_right(self.arrivals, now) - self.next_msg

    def in_flight(self) -> int:
        return sum(1 for i in self.live if i.holding is not None)

    def add(self, now: float, warm: bool) -> None:
        if warm and self.stopped:
            inst = self.stopped.pop()
            inst.billed_since, inst.ready_at = now, now + BOOT_WARM
        else:
            self.launched += 1
            inst = Instance(ident=self.launched, billed_since=now, ready_at=now + BOOT_NEW)
        inst.running, inst.holding = False, None
        self.live.append(inst)
        self.most = max(self.most, len(self.live))

    def remove(self, inst: Instance, now: float, keep: bool) -> None:
        inst.stop(now)
        self.live.remove(inst)
        (self.stopped if keep else self.gone).append(inst)

    def advance(self, now: float) -> None:
        """Runs every instance up to ``now``: boots finish, images complete, idle ones take work."""
        heap = []
        for inst in self.live:
            if not inst.running and inst.ready_at <= now:
                inst.running, inst.free_at = True, inst.ready_at
            if inst.running:
                heapq.heappush(heap, (inst.free_at, inst.ident, inst))
        while heap:
            free_at, _, inst = heapq.heappop(heap)
            if inst.holding is not None:
                if free_at > now:
                    continue
                self.latencies.append(free_at - inst.holding)
                self.done_at = max(self.done_at, free_at)
                inst.holding = None
            # Poll at free_at (or, when idle, as soon as a message arrives before now).
            if self.next_msg < len(self.arrivals) and self.arrivals[self.next_msg] <= now:
                arrival = self.arrivals[self.next_msg]
                if self.self_stop and arrival > free_at:
                    self.remove(inst, free_at, keep=False)
                    continue
                start = max(free_at, arrival)
                self.next_msg += 1
                inst.holding, inst.free_at = arrival, start + self.per_image
                heapq.heappush(heap, (inst.free_at, inst.ident, inst))
            elif self.self_stop:
                self.remove(inst, free_at, keep=False)

    def finished(self) -> bool:
        return self.next_msg == len(self.arrivals) and not any(i.holding is not None for i in self.live)


def run_original(arrivals: list[float], tick: float) -> World:
    world = World(arrivals=arrivals, self_stop=True, per_image=ORIGINAL_SECONDS_PER_IMAGE)
    now = 0.0
    next_tick = 0.0
    while not (world.finished() and not world.live):
        world.advance(now)
        if now >= next_tick - 1e-9:
            want = min(world.visible(now), CAP)
            for _ in range(want - len(world.live)):
                world.add(now, warm=False)
            next_tick += tick
        now = round(now + STEP, 6)
    return world


def run_ours(arrivals: list[float], tick: float, settings: Settings, warm_pool: int, rate: float,
             log=None) -> World:
    world = World(arrivals=arrivals, self_stop=False, per_image=1.0 / rate)
    world.stopped = [Instance(ident=-(n + 1), billed_since=0.0, ready_at=0.0) for n in range(warm_pool)]
    now = 0.0
    next_tick = 0.0
    last_work = 0.0  # the daemon's record: the last tick that saw work, or the last busy moment
    while not (world.finished() and not world.live):
        world.advance(now)
        if now >= next_tick - 1e-9:
            running = [i for i in world.live if i.running]
            idle = [i for i in running if i.holding is None]
            if world.visible(now) + world.in_flight() > 0:
                last_work = now
            # Heartbeats say when each worker was last busy.
            last_work = max([last_work] + [i.free_at for i in idle])
            obs = Observation(
                visible=world.visible(now),
                in_flight=world.in_flight(),
                running=len(running),
                booting=len(world.live) - len(running),
                idle=len(idle),
                empty_for=now - last_work,
                rate=rate if world.latencies else None,  # measured once an instance has finished an image
            )
            decision = decide(obs, settings)
            if log is not None:
                log.append((now, obs, decision))
            if decision.desired > obs.active:
                for _ in range(decision.desired - obs.active):
                    world.add(now, warm=True)
            elif decision.desired < obs.active:
                for inst in idle[: obs.active - decision.desired]:
                    world.remove(inst, now, keep=True)
            next_tick += tick
        now = round(now + STEP, 6)
        if now > 10 * 24 * 3600:
            raise RuntimeError("simulation did not settle")
    return world


def instance_seconds(world: World) -> float:
    return sum(i.billed for i in world.stopped + world.gone + world.live)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


WORKLOADS = {
    "burst 20": [0.0] * 20,
    "burst 100": [0.0] * 100,
    "burst 1000": [0.0] * 1000,
    "burst 10000": [0.0] * 10_000,
    # Offset from the tick so that every tick sees the worker idle between two images: the worst
    # case for a scaler that decides on snapshots.
    "trickle 1/s x 10 min": [s + TRICKLE_PHASE for s in range(TRICKLE_SECONDS)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, nargs="+", default=[DEFAULT_RATE],
                        help="images/s of one of our instances (several: one set of rows each)")
    parser.add_argument("--tick", type=float, default=defaults.EC2_TICK)
    parser.add_argument("--target-drain", type=float, help="target_drain_seconds (default: the config's)")
    parser.add_argument("--scale-in-delay", type=float, default=defaults.EC2_SCALE_IN_DELAY)
    args = parser.parse_args(argv)
    cfg = load_config(env={}).replace(max_workers=CAP, scale_in_delay=args.scale_in_delay,
                                      **({"target_drain_seconds": args.target_drain} if args.target_drain else {}))
    settings = defaults.settings_for(cfg, "ec2")

    print(f"Simulated EC2: boot {BOOT_NEW:g} s new / {BOOT_WARM:g} s from the warm pool, cap {CAP}, "
          f"tick {args.tick:g} s; original {ORIGINAL_SECONDS_PER_IMAGE:g} s per image; ours "
          f"{' or '.join(f'{r:g}' for r in args.rate)} images/s per instance, target_drain_seconds "
          f"{settings.target_drain_seconds:g}, boot_seconds {settings.boot_seconds:g}, default rate "
          f"{settings.default_rate:g} images/s until measured, scale_in_delay {settings.scale_in_delay:g} s\n")
    print("| workload | design | done (s) | p50 (s) | p95 (s) | instance-s | launches | most instances "
          "| vs original (inst-s, done) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    ratios: dict[str, dict[str, dict[str, float]]] = {f"{r:g}": {} for r in args.rate}
    for name, arrivals in WORKLOADS.items():
        orig = run_original(arrivals, args.tick)
        rows = [("original", None, orig)]
        for rate in args.rate:
            for pool in ("cold", "warm"):
                world = run_ours(arrivals, args.tick, settings, CAP if pool == "warm" else 0, rate)
                rows.append((f"ours {rate:g}/s, {pool}", rate, world))
        base_is, base_done = instance_seconds(orig), orig.done_at
        for design, rate, world in rows:
            inst_s = instance_seconds(world)
            vs = "" if rate is None else f"{inst_s / base_is:.3f}, {world.done_at / base_done:.3f}"
            print(f"| {name} | {design} | {world.done_at:.1f} | {percentile(world.latencies, 0.5):.2f} "
                  f"| {percentile(world.latencies, 0.95):.2f} | {inst_s:.0f} | {world.launched} "
                  f"| {world.most} | {vs} |")
            if rate is not None:
                key = f"{name} ({design.split(', ')[1]})"
                entry = {"instance_seconds": round(inst_s / base_is, 4),
                         "completion": round(world.done_at / base_done, 4)}
                if name.startswith("trickle"):
                    entry["p50"] = round(percentile(world.latencies, 0.5) / percentile(orig.latencies, 0.5), 4)
                    entry["p95"] = round(percentile(world.latencies, 0.95) / percentile(orig.latencies, 0.95), 4)
                ratios[f"{rate:g}"][key] = entry

    def goals(mine_all: dict[str, dict[str, float]], pool: str) -> dict[str, bool]:
        mine = {k.rsplit(" (", 1)[0]: r for k, r in mine_all.items() if k.endswith(f"({pool})")}
        return {
            "never_more_instance_seconds": all(r["instance_seconds"] <= 1.0 for r in mine.values()),
            "half_on_burst_20_and_trickle": all(
                r["instance_seconds"] <= 0.5 for k, r in mine.items() if k == "burst 20" or k.startswith("trickle")),
            "large_bursts_within_10pct": all(
                mine[k]["completion"] <= 1.10 for k in ("burst 1000", "burst 10000")),
        }

    # The goals are judged on the design as it runs (its warm pool filled by earlier jobs); the very
    # first job, with an empty pool, is reported beside them.
    result = {"ratios": ratios, "goals": {r: goals(m, "warm") for r, m in ratios.items()},
              "goals_first_job": {r: goals(m, "cold") for r, m in ratios.items()}}
    print()
    print(json.dumps(result))
    return 0 if all(all(g.values()) for g in result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
