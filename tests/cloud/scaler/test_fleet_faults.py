"""The EC2 fleet under what moto cannot show: a lagging DescribeInstances, no capacity, failing calls, workers
that die at boot, spot interruptions (the fault layer in ec2_faults.py; stand-in workers in instance_workers.py).

Under each, the scaler never has more than ``max_workers`` instances up (EC2's truth, not the fleet's
view), restarts a crash-looping instance no more often than the backoff allows, and still drains a
100-image job. The scaler's clock is the test's: minutes of backoff take no real time.
"""

from __future__ import annotations

import logging
import time

import boto3
import pytest

from cloud.scaler.fleet_ec2 import FAILED_START_BACKOFF, FAILED_STARTS_TO_HOLD, Ec2Fleet
from cloud.scaler.heartbeats import BOOT_GRACE_SECONDS
from cloud.scaler.loop import ERROR, Scaler
from cloud.scaler.policy import Settings
from shared.layout import worker_status_key
from shared.s3 import S3Service
from shared.sqs import SQSService
from tests.cloud.scaler.ec2_faults import Ec2Faults, any_of, refuse_when
from tests.cloud.scaler.instance_workers import InstanceWorkers

JOB = 100  # images
MAX_WORKERS = 4  # aws_cfg's
# Before any report, 100 images at 0.5 images/s want 100 / (0.5 * 60) = 4 workers: the cap.
SETTINGS = Settings(max_workers=MAX_WORKERS, target_drain_seconds=60, boot_seconds=40, default_rate=0.5,
                    scale_in_delay=4.0)
BOOT_LOG = """[  OK  ] Started cron.service
2026-12-01T10:00:03Z imgrec-worker: the worker exited on its own with status 1 after 2 s
2026-12-01T10:00:03Z imgrec-worker: worker.log: botocore.exceptions.NoCredentialsError: Unable to locate credentials
2026-12-01T10:00:03Z imgrec-worker: powering off
"""


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ec2():
    """The truth: a client without faults."""
    return boto3.client("ec2", region_name="us-east-1")


def faulty(clock, **faults) -> tuple[object, Ec2Faults]:
    client = boto3.client("ec2", region_name="us-east-1")
    return client, Ec2Faults(client, clock=clock, **faults)


def up(workers: InstanceWorkers) -> int:
    return len(workers.instances())


def drive(cfg, fleet, workers, clock, *, images=JOB, max_ticks=150, step=2.0, settings=SETTINGS, during=None):
    """Sends ``images`` requests and runs the scaler (one tick, then one step of every worker, per ``step``
    seconds) until the job is answered and no instance is up, or ``max_ticks`` have run. Returns the ticks and
    the most instances EC2 had up at once."""
    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    for start in range(0, images, 10):
        sqs.send_batch(url, [f"image-{n}" for n in range(start, min(images, start + 10))])
    scaler = Scaler(cfg, fleet, settings=settings, sqs=sqs, clock=clock, prune_every=None)
    ticks, peak = [], 0
    for n in range(max_ticks):
        ticks.append(scaler.tick())
        assert ticks[-1].action != ERROR, ticks[-1].reason
        peak = max(peak, up(workers))
        workers.step(clock())
        if during is not None:
            during(n, ticks[-1])
        clock.now += step
        if workers.answered >= images and sqs.depth(url).total == 0 and not up(workers):
            break
    return ticks, peak


def spaced_by_the_backoff(starts: list[float]) -> bool:
    """Whether each start after the first waited out the backoff of the failures before it."""
    return all(b - a >= FAILED_START_BACKOFF.ceiling(n)
               for n, (a, b) in enumerate(zip(starts, starts[1:], strict=False), start=1))


def stopped_pool(cfg, ec2, clock, count: int) -> list[str]:
    """``count`` stopped instances of the current image and settings: a warm pool left by an earlier job."""
    fleet = Ec2Fleet(cfg, ec2=ec2, clock=clock)
    ids = list(fleet.scale_to(count).launched)
    for ident in ids:
        S3Service(cfg).put_json(cfg.output_bucket, worker_status_key(ident),
                                {"worker_id": ident, "state": "idle", "ts": clock(), "since": clock()})
    assert sorted(fleet.scale_to(0).removed) == sorted(ids)
    return ids


# --- DescribeInstances lags ------------------------------------------------------------------------
def test_instances_not_yet_described_count_as_booting_and_the_cap_holds(aws_cfg, ec2, clock):
    client, faults = faulty(clock, hide_for=3)
    fleet = Ec2Fleet(aws_cfg, ec2=client, clock=clock)
    assert len(fleet.scale_to(3).launched) == 3
    assert fleet.observe().booting == 3 and faults.hidden_seen == 3  # none described, all counted
    assert len(fleet.scale_to(10).launched) == 1
    assert fleet.scale_to(10).launched == ()
    assert len(InstanceWorkers(aws_cfg, ec2).instances()) == MAX_WORKERS


def test_an_instance_just_started_but_still_shown_stopped_is_not_started_again(aws_cfg, ec2, clock):
    (ident,) = stopped_pool(aws_cfg, ec2, clock, 1)
    client, faults = faulty(clock, hide_for=3)
    fleet = Ec2Fleet(aws_cfg, ec2=client, clock=clock)
    assert fleet.scale_to(1).launched == (ident,)
    clock.now += 2
    assert fleet.scale_to(1).launched == ()  # the view says stopped; it is booting
    assert fleet.observe().booting == 1
    assert faults.calls["StartInstances"] == 1 and faults.calls["RunInstances"] == 0 and faults.hidden_seen >= 2


def test_a_job_drains_while_describe_lags_and_never_passes_max_workers(aws_cfg, ec2, clock):
    client, faults = faulty(clock, hide_for=4)
    workers = InstanceWorkers(aws_cfg, ec2)
    ticks, peak = drive(aws_cfg, Ec2Fleet(aws_cfg, ec2=client, clock=clock), workers, clock)
    assert workers.answered == JOB
    assert peak == MAX_WORKERS and faults.hidden_seen > 0
    assert len(faults.started()) == MAX_WORKERS  # nothing launched twice for a view that had not caught up
    assert up(workers) == 0


# --- capacity --------------------------------------------------------------------------------------
def test_no_capacity_starts_the_pool_one_at_a_time_then_launches_across_subnets_and_types(aws_cfg, ec2, clock):
    subnet_a = aws_cfg.subnet_id
    subnet_b = next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["SubnetId"] != subnet_a)
    cfg = aws_cfg.replace(subnet_ids=(subnet_a, subnet_b), instance_types=("t3.medium", "t3a.medium"))
    pool = stopped_pool(cfg, ec2, clock, 3)
    client, faults = faulty(clock, refuse=any_of(
        refuse_when("StartInstances", InstanceIds=lambda ids: len(ids) > 1),  # all or nothing: refused
        refuse_when("StartInstances", InstanceIds=[pool[0]]),  # its zone has none left
        refuse_when("RunInstances", SubnetId=subnet_a),
        refuse_when("RunInstances", SubnetId=subnet_b, InstanceType="t3.medium"),
    ))
    fleet = Ec2Fleet(cfg, ec2=client, clock=clock)
    result = fleet.scale_to(MAX_WORKERS)

    assert len(result.launched) == MAX_WORKERS and sorted(result.launched[:2]) == sorted(pool[1:])
    assert "1 of 3 restart(s) refused" in result.note and "t3a.medium on-demand in " + subnet_b in result.note
    new = {i: ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0] for i in result.launched[2:]}
    assert {(i["SubnetId"], i["InstanceType"]) for i in new.values()} == {(subnet_b, "t3a.medium")}
    # Three refusals for the first new instance; the second went straight where there was room.
    assert faults.calls["RunInstances"] == 3 + 2 and faults.calls["StartInstances"] == 1 + 3
    assert len(InstanceWorkers(cfg, ec2).instances()) == MAX_WORKERS
    clock.now += 2
    assert fleet.scale_to(MAX_WORKERS + 5).launched == ()  # still at the cap


def test_a_job_drains_when_capacity_runs_out_before_the_cap(aws_cfg, ec2, clock):
    subnet_a = aws_cfg.subnet_id
    subnet_b = next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["SubnetId"] != subnet_a)
    cfg = aws_cfg.replace(subnet_ids=(subnet_a, subnet_b))
    workers = InstanceWorkers(cfg, ec2)
    # Subnet A's zone holds two of our instances at most.
    full = refuse_when("RunInstances", SubnetId=lambda s: s == subnet_a and sum(
        i["SubnetId"] == subnet_a for i in workers.instances()) >= 2)
    client, faults = faulty(clock, refuse=full)
    ticks, peak = drive(cfg, Ec2Fleet(cfg, ec2=client, clock=clock), workers, clock)
    assert workers.answered == JOB and peak == MAX_WORKERS
    subnets = [ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]["SubnetId"]
               for i in {i for _, _, i in faults.starts}]
    assert sorted(subnets) == sorted([subnet_a, subnet_a, subnet_b, subnet_b])
    assert any("no capacity" in t.note or "after no capacity" in t.note for t in ticks)


# --- failing calls ---------------------------------------------------------------------------------
def test_stop_instances_errors_are_logged_once_and_the_scaler_goes_on(aws_cfg, ec2, clock, caplog):
    client, faults = faulty(clock, fail_stop=6)
    workers = InstanceWorkers(aws_cfg, ec2)
    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_ec2"):
        ticks, _ = drive(aws_cfg, Ec2Fleet(aws_cfg, ec2=client, clock=clock), workers, clock, images=20)
    assert workers.answered == 20 and up(workers) == 0  # stopped in the end
    assert faults.calls["StopInstances"] >= 7 and faults.fail_stop == 0
    failures = [r for r in caplog.records if "stop_instances failed" in r.getMessage()]
    assert len(failures) == 1 and "RequestLimitExceeded" in failures[0].getMessage()
    assert any("stop_instances of 1 failed" in t.note for t in ticks)


def test_any_other_launch_error_is_logged_once_and_tried_again_later(aws_cfg, ec2, clock, caplog):
    client, faults = faulty(clock, refuse=refuse_when("RunInstances", "UnauthorizedOperation"))
    fleet = Ec2Fleet(aws_cfg, ec2=client, clock=clock)
    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_ec2"):
        notes = [fleet.scale_to(2).note for _ in range(3)]
    assert all("launch of app-instance1 failed" in n for n in notes)
    assert faults.calls["RunInstances"] == 3  # one try a tick: not a new subnet or type for a refusal of rights
    assert len([r for r in caplog.records if "run_instances failed" in r.getMessage()]) == 1


# --- workers that die at boot ----------------------------------------------------------------------
def test_a_crash_looping_worker_is_restarted_only_as_the_backoff_allows_then_the_fleet_holds(aws_cfg, ec2, clock,
                                                                                               caplog):
    cfg = aws_cfg.replace(max_workers=1)
    client, faults = faulty(clock, console=BOOT_LOG)
    fleet = Ec2Fleet(cfg, ec2=client, clock=clock)
    workers = InstanceWorkers(cfg, ec2, broken=lambda inst: True)
    settings = Settings(**{**SETTINGS.__dict__, "max_workers": 1})
    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_ec2"):
        ticks, _ = drive(cfg, fleet, workers, clock, max_ticks=60, step=30.0, settings=settings)  # 30 minutes

    starts = faults.started()
    assert len(starts) == FAILED_STARTS_TO_HOLD and len(workers.powered_off) == FAILED_STARTS_TO_HOLD
    assert spaced_by_the_backoff(starts)  # 60 s, then 120 s, after each failure
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "3 workers in a row failed to start" in message and "never wrote a status object" in message
    assert "NoCredentialsError: Unable to locate credentials" in message and "powering off" in message
    assert fleet.held and "held: 3 workers in a row" in ticks[-1].note
    assert workers.answered == 0 and workers.instances(("stopped", "running")) == []  # the broken one is gone


def test_a_job_drains_beside_an_instance_that_dies_at_boot_which_waits_out_its_backoff(aws_cfg, ec2, clock):
    client, faults = faulty(clock)
    broken = lambda inst: any(t["Value"] == "app-instance1" for t in inst["Tags"])  # noqa: E731
    workers = InstanceWorkers(aws_cfg, ec2, broken=broken, batch=1)  # a job of minutes: time to try it again
    drive(aws_cfg, Ec2Fleet(aws_cfg, ec2=client, clock=clock), workers, clock, max_ticks=400, step=5.0)
    assert workers.answered == JOB and up(workers) == 0
    broken_one = workers.powered_off[0]
    assert spaced_by_the_backoff(faults.started(broken_one))  # not started again within its backoff...
    assert len(faults.started()) == MAX_WORKERS + 1  # ...a new instance took its place


def test_an_instance_whose_worker_never_comes_up_is_terminated_after_the_boot_grace(aws_cfg, ec2, clock, caplog):
    client, faults = faulty(clock, console=BOOT_LOG)
    silent = lambda inst: any(t["Value"] == "app-instance1" for t in inst["Tags"])  # noqa: E731
    workers = InstanceWorkers(aws_cfg, ec2, never_up=silent)

    def later(n, tick):
        if n == 3:  # the other three are at work; the silent one would bill as "running" for ever
            clock.now += BOOT_GRACE_SECONDS

    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_ec2"):
        drive(aws_cfg, Ec2Fleet(aws_cfg, ec2=client, clock=clock), workers, clock, during=later)
    assert workers.answered == JOB and up(workers) == 0
    silent_ids = [i for i in workers.instances(("terminated",)) if silent(i)]
    assert len(silent_ids) == 1
    assert any("ran 6" in r.getMessage() and "without a status report; terminated" in r.getMessage()
               for r in caplog.records)


# --- spot ------------------------------------------------------------------------------------------
def test_spot_workers_launch_on_demand_when_spot_is_refused(aws_cfg, ec2, clock):
    cfg = aws_cfg.replace(market="spot")
    fleet = Ec2Fleet(cfg, ec2=faulty(clock)[0], clock=clock)
    (spot,) = fleet.scale_to(1).launched
    inst = ec2.describe_instances(InstanceIds=[spot])["Reservations"][0]["Instances"][0]
    assert inst["InstanceLifecycle"] == "spot"

    client, faults = faulty(clock, refuse=refuse_when("RunInstances", "MaxSpotInstanceCountExceeded",
                                                      InstanceMarketOptions=lambda v: bool(v)))
    fleet = Ec2Fleet(cfg, ec2=client, clock=clock)
    result = fleet.scale_to(3)
    assert len(result.launched) == 2 and "on-demand" in result.note and "MaxSpotInstanceCountExceeded" in result.note
    for ident in result.launched:
        inst = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"][0]
        assert "InstanceLifecycle" not in inst  # on demand
        attr = ec2.describe_instance_attribute(InstanceId=ident, Attribute="instanceInitiatedShutdownBehavior")
        assert attr["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"  # no warm pool in spot mode
    assert faults.calls["RunInstances"] == 3  # spot refused once, then straight to on demand


def test_a_spot_interruption_is_no_failed_start_and_the_job_still_drains(aws_cfg, ec2, clock):
    cfg = aws_cfg.replace(market="spot")
    client, faults = faulty(clock)
    workers = InstanceWorkers(cfg, ec2)
    interrupted = []

    def interrupt(n, tick):
        busy = [i for i, life in workers.lives.items() if life.batch]
        if not interrupted and busy:
            interrupted.append(busy[0])
            workers.interrupt(busy[0], faults, clock())

    fleet = Ec2Fleet(cfg, ec2=client, clock=clock)
    ticks, peak = drive(cfg, fleet, workers, clock, during=interrupt)
    assert interrupted and workers.answered == JOB and peak <= MAX_WORKERS
    assert not any("held" in t.note for t in ticks) and not fleet.held
    assert len(faults.started()) == MAX_WORKERS + 1  # one replacement
    left = workers.instances(("pending", "running", "stopping", "stopped"))
    assert left == []  # spot instances are terminated at scale-in, never kept stopped
