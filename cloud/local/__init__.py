"""The local cloud: everything that runs the service on this machine, in one package.

* :mod:`cloud.local.moto_server`: moto's S3/SQS/EC2/Auto Scaling server, made fast and completed where a
  stack of ours needs it; the ``moto-server`` child role (it stops with its parent);
* :mod:`cloud.local.server`: :class:`MotoServer`, that server as a child process on a free loopback port;
* :mod:`cloud.local.embedded`: :class:`EmbeddedCloud` (moto server, provisioning, the model published,
  local workers) and ``imgrec up``;
* :mod:`cloud.local.fleet`: :class:`LocalFleet`, worker processes behind cloud.scaler's fleet protocol,
  with an explicit cap and spawn options;
* :mod:`cloud.local.scaler`: the autoscaler over a local fleet, started in one call;
* :mod:`cloud.local.priority`: how these processes are started beside a window (a session of their own,
  niced), the same in every mode.

Every process is started by :func:`shared.children.spawn`. The desktop app may import this package (it
runs the embedded cloud), never cloud.worker.
"""
