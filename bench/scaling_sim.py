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

Then the same fleet under what real EC2 does and moto does not (issue 10; the fleet's own tests put each
on the real code through a fault layer, ``tests/cloud/scaler/test_fleet_faults.py``), at ``--fault-rate``
images/s on the 1,000- and 10,000-image bursts:

* **describe lags**: DescribeInstances misses a new instance, or still shows a started one stopped, for
  ``LAG_SECONDS``;
* **no capacity**: the first subnet and instance type (the warm pool's zone) hold ``PRIMARY_CAPACITY``
  instances; beyond that StartInstances and RunInstances there answer InsufficientInstanceCapacity;
* **an instance never comes up**: the first instance's worker never starts (it bills, silent);
* **spot**: ``market = spot`` (no warm pool) and half the running instances interrupted at
  ``INTERRUPT_AT``: each finishes its image in hand and goes.

Each fault is run with the fleet as it is and, except spot, as it was before issue 10 ("before": no
grace for a lagging view, all-or-nothing restarts, one subnet and type, a silent instance kept for
ever). The fleet's behaviour is modelled here with the fleet's own constants (grace, backoff, boot grace).

Prints two markdown tables, then, as its last line, JSON with the ratios ours / original per rate and the
rows under faults. Exits 1 when a goal is missed, or when under a fault our fleet passed the cap or left
a job undone.
Usage: python bench/scaling_sim.py [--rate R [R ...]] [--target-drain S] [--tick S] [--scale-in-delay S]
       [--fault-rate R]
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
from cloud.scaler.fleet_ec2 import FAILED_START_BACKOFF, VISIBILITY_GRACE_SECONDS  # noqa: E402
from cloud.scaler.heartbeats import BOOT_GRACE_SECONDS  # noqa: E402
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
FAULT_HORIZON = 3600.0  # a run under a fault that has not settled by then is cut, billed up to here
FAULT_RATE = 10.0  # images/s per instance in the fault rows: 12 MP originals, so bursts need many instances
LAG_SECONDS = 6.0  # DescribeInstances lags launches and starts by three ticks
PRIMARY_CAPACITY = 10  # the first subnet and type run out of capacity at 10 instances (the cap is 19)
INTERRUPT_AT = 60.0  # seconds: a spot interruption of half the running instances, once they all work
SPOT_SHUTDOWN_SECONDS = 10.0  # a drained spot worker's instance: power-off to terminated


@dataclass(frozen=True)
class Faults:
    """What real EC2 does and moto does not (tests/cloud/scaler/test_fleet_faults.py has each on a real fleet)."""

    lag: float = 0.0  # seconds DescribeInstances misses a launch, or still shows a started instance stopped
    primary_capacity: int | None = None  # instances the first subnet and type (the warm pool's zone) can hold
    silent: int = 0  # how many of the first instances up never start their worker
    interrupt_at: float | None = None  # a spot interruption of half the running instances at this time
    spot: bool = False  # market = spot: no warm pool, scale-in terminates


NO_FAULTS = Faults()


@dataclass
class Instance:
    ident: int
    billed_since: float
    ready_at: float
    free_at: float = 0.0  # when its current image is done (or when it became idle)
    holding: float | None = None  # arrival time of the image in hand
    running: bool = False
    billed: float = 0.0
    visible_at: float = 0.0  # when DescribeInstances first shows it since its launch or start
    restarted: bool = False  # started from the warm pool (a lagging view shows it stopped, not missing)
    primary: bool = True  # in the first subnet and type, where the warm pool lives
    silent: bool = False  # its worker never comes up
    draining: bool = False  # a spot interruption notice came: it takes no more work and goes

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
    faults: Faults = field(default_factory=lambda: NO_FAULTS)
    silent_left: int = 0  # instances still to be added whose worker never comes up
    cut: float | None = None  # the simulation gave up here with instances still billing

    def visible(self, now: float) -> int:
        return bisect.bisect_right(self.arrivals, now) - self.next_msg

    def in_flight(self) -> int:
        return sum(1 for i in self.live if i.holding is not None)

    def add(self, now: float, warm: bool, primary: bool = True) -> Instance:
        if warm and self.stopped:
            inst = self.stopped.pop()
            inst.billed_since, inst.ready_at, inst.restarted = now, now + BOOT_WARM, True
        else:
            self.launched += 1
            inst = Instance(ident=self.launched, billed_since=now, ready_at=now + BOOT_NEW, primary=primary)
        inst.running, inst.holding, inst.visible_at = False, None, now + self.faults.lag
        if self.silent_left > 0:
            self.silent_left -= 1
            inst.silent, inst.ready_at = True, math.inf
        self.live.append(inst)
        self.most = max(self.most, len(self.live))
        return inst

    def primary_room(self) -> float:
        """Instances the first subnet and type can still take (EC2's capacity there)."""
        if self.faults.primary_capacity is None:
            return math.inf
        return self.faults.primary_capacity - sum(1 for i in self.live if i.primary)

    def interrupt(self, now: float) -> None:
        """A spot interruption notice for half the running instances: each finishes the image in hand and
        goes (its worker drains, the boot script powers off, EC2 terminates it)."""
        running = [i for i in self.live if i.running and not i.draining]
        for inst in running[: math.ceil(len(running) / 2)]:
            inst.draining = True

    def remove(self, inst: Instance, now: float, keep: bool) -> None:
        inst.stop(now)
        self.live.remove(inst)
        (self.stopped if keep else self.gone).append(inst)

    def advance(self, now: float) -> None:
        """Runs every instance up to ``now``: boots finish, images complete, idle ones take work."""
        heap = []
        for inst in list(self.live):
            if not inst.running and inst.ready_at <= now:
                inst.running, inst.free_at = True, inst.ready_at
            if inst.draining and inst.holding is None:
                if now >= inst.free_at + SPOT_SHUTDOWN_SECONDS:
                    self.remove(inst, inst.free_at + SPOT_SHUTDOWN_SECONDS, keep=False)
                continue
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
            if inst.draining:
                continue
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


class SimFleet:
    """The EC2 fleet as the scaler sees and drives it. ``tolerant``: as ``cloud/scaler/fleet_ec2.py`` is now
    (issue 10): launches and starts it cannot see yet count as booting for VISIBILITY_GRACE_SECONDS; a
    refused StartInstances is retried one instance at a time, then new instances go to the next subnet
    or type; an instance with no report after the boot grace is terminated and launches wait out the
    failed-start backoff. Not tolerant: as it was before, with one subnet and one type."""

    def __init__(self, world: World, tolerant: bool):
        self.world, self.tolerant = world, tolerant
        self.failed = 0
        self.hold_until = 0.0

    def view(self, now: float) -> tuple[list[Instance], int, int]:
        """(running instances, booting count, draining count) as DescribeInstances and the reports show them."""
        if self.tolerant:
            for inst in [i for i in self.world.live if i.silent and now - i.billed_since >= BOOT_GRACE_SECONDS]:
                self.world.remove(inst, now, keep=False)  # terminated: its worker never came up
                self.failed += 1
                self.hold_until = now + FAILED_START_BACKOFF.ceiling(self.failed)
        running, booting, draining = [], 0, 0
        for inst in self.world.live:
            if inst.draining:
                draining += 1
            elif inst.visible_at > now:  # not described yet, or still shown stopped
                booting += self.tolerant and now - inst.billed_since < VISIBILITY_GRACE_SECONDS
            elif inst.running or (inst.silent and now - inst.billed_since >= BOOT_GRACE_SECONDS):
                running.append(inst)  # a silent one past the boot grace: running, state unknown, never idle
            else:
                booting += 1
        return running, booting, draining

    def launch(self, now: float, count: int) -> None:
        world = self.world
        if now < self.hold_until:
            return
        if not self.tolerant:
            # The warm pool as the view shows it (a started instance the view still shows stopped is
            # started again: a no-op); all or nothing; then new launches only for what the pool lacks.
            shown = [i for i in world.live if i.restarted and i.visible_at > now]
            restart = (shown + world.stopped[::-1])[:count]
            real = [i for i in restart if i not in world.live]
            if real and world.primary_room() >= len(real):
                for _ in real:
                    world.add(now, warm=True)
            for _ in range(count - len(restart)):
                if world.primary_room() < 1:
                    break  # InsufficientInstanceCapacity: reported, tried again next tick
                world.add(now, warm=False)
            return
        for _ in range(count):
            if world.stopped and world.primary_room() >= 1:
                world.add(now, warm=True)  # one at a time once the group start is refused
            elif world.primary_room() >= 1:
                world.add(now, warm=False)
            else:
                world.add(now, warm=False, primary=False)  # the next subnet or instance type

    def remove(self, now: float, idle: list[Instance]) -> None:
        for inst in idle:
            self.world.remove(inst, now, keep=not self.world.faults.spot)


def run_ours(arrivals: list[float], tick: float, settings: Settings, warm_pool: int, rate: float,
             log=None, faults: Faults = NO_FAULTS, tolerant: bool = True, horizon: float | None = None) -> World:
    world = World(arrivals=arrivals, self_stop=False, per_image=1.0 / rate, faults=faults, silent_left=faults.silent)
    world.stopped = [Instance(ident=-(n + 1), billed_since=0.0, ready_at=0.0) for n in range(warm_pool)]
    fleet = SimFleet(world, tolerant)
    interrupted = False
    now = 0.0
    next_tick = 0.0
    last_work = 0.0  # the daemon's record: the last tick that saw work, or the last busy moment
    while not (world.finished() and not world.live):
        world.advance(now)
        if faults.interrupt_at is not None and not interrupted and now >= faults.interrupt_at:
            world.interrupt(now)
            interrupted = True
        if now >= next_tick - 1e-9:
            running, booting, _draining = fleet.view(now)
            idle = [i for i in running if i.holding is None and not i.silent]
            if world.visible(now) + world.in_flight() > 0:
                last_work = now
            # Heartbeats say when each worker was last busy.
            last_work = max([last_work] + [i.free_at for i in idle])
            obs = Observation(
                visible=world.visible(now),
                in_flight=world.in_flight(),
                running=len(running),
                booting=booting,
                idle=len(idle),
                empty_for=now - last_work,
                rate=rate if world.latencies else None,  # measured once an instance has finished an image
            )
            decision = decide(obs, settings)
            if log is not None:
                log.append((now, obs, decision))
            if decision.desired > obs.active:
                fleet.launch(now, min(decision.desired, settings.max_workers) - obs.active)
            elif decision.desired < obs.active:
                fleet.remove(now, idle[: obs.active - decision.desired])
            next_tick += tick
        now = round(now + STEP, 6)
        if horizon is not None and now > horizon:  # still billing: cut, and billed up to here
            for inst in list(world.live):
                world.remove(inst, now, keep=False)
            world.cut = now
            break
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


# name -> (faults, fleets compared, warm pools): "before" is the EC2 fleet before issue 10.
FAULTS = {
    "none": (NO_FAULTS, ("ours",), ("cold", "warm")),
    f"describe lags {LAG_SECONDS:g} s": (Faults(lag=LAG_SECONDS), ("ours", "before"), ("cold", "warm")),
    f"no capacity past {PRIMARY_CAPACITY} in the first subnet": (
        Faults(primary_capacity=PRIMARY_CAPACITY), ("ours", "before"), ("cold", "warm")),
    "an instance never comes up": (Faults(silent=1), ("ours", "before"), ("cold",)),
    f"spot, half interrupted at {INTERRUPT_AT:g} s": (
        Faults(spot=True, interrupt_at=INTERRUPT_AT), ("ours",), ("cold",)),
}
FAULT_WORKLOADS = ("burst 1000", "burst 10000")


def fault_table(tick: float, settings: Settings, rate: float) -> dict:
    """Prints the rows under faults; returns them for the JSON line."""
    print(f"\nUnder faults, {rate:g} images/s per instance; \"before\" is the EC2 fleet before issue 10 (no grace "
          f"for a lagging view, all-or-nothing restarts, one subnet and type, a silent instance kept); a run "
          f"that has not settled at {FAULT_HORIZON:g} s is cut there (†):\n")
    print("| fault | workload | fleet | done (s) | instance-s | launches | most instances |")
    print("|---|---|---|---:|---:|---:|---:|")
    found: dict = {}
    for fault, (faults, fleets, pools) in FAULTS.items():
        for name in FAULT_WORKLOADS:
            for pool in pools:
                for fleet in fleets:
                    world = run_ours(WORKLOADS[name], tick, settings, 0 if pool == "cold" or faults.spot else CAP,
                                     rate, faults=faults, tolerant=fleet == "ours", horizon=FAULT_HORIZON)
                    done = len(world.latencies) == len(WORKLOADS[name])
                    inst_s = instance_seconds(world)
                    cut = "†" if world.cut is not None else ""
                    print(f"| {fault} | {name}, {pool} | {fleet} | {f'{world.done_at:.1f}' if done else 'never'} "
                          f"| {inst_s:.0f}{cut} | {world.launched} | {world.most} |")
                    found.setdefault(fault, {})[f"{name}, {pool}, {fleet}"] = {
                        "done": round(world.done_at, 1) if done else None, "instance_seconds": round(inst_s),
                        "most": world.most, "settled": world.cut is None}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, nargs="+", default=[DEFAULT_RATE],
                        help="images/s of one of our instances (several: one set of rows each)")
    parser.add_argument("--tick", type=float, default=defaults.EC2_TICK)
    parser.add_argument("--target-drain", type=float, help="target_drain_seconds (default: the config's)")
    parser.add_argument("--scale-in-delay", type=float, default=defaults.EC2_SCALE_IN_DELAY)
    parser.add_argument("--fault-rate", type=float, default=FAULT_RATE,
                        help="images/s of one of our instances in the rows under faults")
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
    faults = fault_table(args.tick, settings, args.fault_rate)
    ours = [row for rows in faults.values() for key, row in rows.items() if key.endswith(", ours")]
    result["faults"] = faults
    result["fault_goals"] = {"never_past_the_cap": all(r["most"] <= CAP for r in ours),
                             "every_job_done_and_settled": all(r["done"] is not None and r["settled"] for r in ours)}
    print()
    print(json.dumps(result))
    ok = all(all(g.values()) for g in result["goals"].values()) and all(result["fault_goals"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
