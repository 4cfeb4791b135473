"""AWS prices, dated: the one table that bench/cost.py and a job's cost (shared.job_cost) price with.

us-east-1, Linux, on-demand, as published by AWS in early 2025: CHECK CURRENT PRICES before quoting
(https://aws.amazon.com/ec2/pricing/on-demand/, /s3/pricing/, /sqs/pricing/). Free tiers are ignored.
Plain data, no I/O.
"""

from __future__ import annotations

PRICES_DATED = "2025-01 (us-east-1, on-demand, Linux; check current prices)"

INSTANCES = {  # type: (USD per hour, vCPUs)
    "t2.micro": (0.0116, 1),
    "t3.micro": (0.0104, 2),
    "t3.medium": (0.0416, 2),
    "t4g.medium": (0.0336, 2),
    "c6i.large": (0.085, 2),
    "c7i.large": (0.08925, 2),
    "c7g.large": (0.0725, 2),
    "c7a.large": (0.10264, 2),
    "m7i.large": (0.1008, 2),
}
S3_PUT_PER_REQUEST = 0.005 / 1000  # S3 Standard: PUT, COPY, POST, LIST
S3_GET_PER_REQUEST = 0.0004 / 1000  # GET, SELECT and every other request (DELETE is free)
SQS_STANDARD_PER_REQUEST = 0.40 / 1e6  # every SQS action is a request, per 64 KB chunk of payload
SQS_FIFO_PER_REQUEST = 0.50 / 1e6
SQS_CHUNK_BYTES = 64 * 1024


class UnknownInstanceType(KeyError):
    """An instance type the table does not price."""

    def __str__(self) -> str:
        return f"no price for instance type {self.args[0]!r} (known: {', '.join(sorted(INSTANCES))})"


def instance_hour_price(instance: str) -> float:
    """USD per hour of one instance of this type; raises UnknownInstanceType."""
    try:
        return INSTANCES[instance][0]
    except KeyError:
        raise UnknownInstanceType(instance) from None


def instance_second_price(instance: str) -> float:
    """USD per second of one instance (EC2 bills Linux instances by the second)."""
    return instance_hour_price(instance) / 3600


def vcpu_second_price(instance: str) -> float:
    """USD per second of one of the instance's vCPUs, busy (bench/cost.py prices CPU seconds used)."""
    return instance_hour_price(instance) / INSTANCES[instance][1] / 3600
