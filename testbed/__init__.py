"""Private, throw-away Redis and Postfix instances for the tests and the demo.

Nothing here touches the system's own Redis or /etc/postfix: every instance
lives in its own directory, listens on loopback or a unix socket, and is
stopped by its process id.
"""

from testbed.postfix import PrivatePostfix
from testbed.procs import (
    MilterProcess,
    RedisCluster,
    RedisSentinel,
    RedisServer,
    SmtpSink,
    free_port,
)
from testbed.sentinel import SentinelSet
from testbed.site import PrivateSite

__all__ = [
    "MilterProcess",
    "PrivatePostfix",
    "PrivateSite",
    "RedisCluster",
    "RedisSentinel",
    "RedisServer",
    "SentinelSet",
    "SmtpSink",
    "free_port",
]
