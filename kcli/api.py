"""One client API, two implementations: ``kcli.Producer``, ``kcli.Consumer`` and
``kcli.AdminClient`` talk to the local store or to a Kafka cluster, as the config says.

* ``bootstrap.servers`` in the config: the cluster it names, through confluent-kafka
  (``kcli.remote``; ``pip install 'kcli-kafka[remote]'``).  The rest of the config is
  librdkafka's, passed on as it is (security, timeouts, ``client.id`` ...).
* otherwise: the local store in ``data.dir`` (or ``KCLI_DATA_DIR``, or the user data
  directory), through ``kcli.local``.

The CLI builds its backends from the same two implementations: ``open_backend(connection,
data_dir)`` gives the local store when ``connection`` is None and the cluster otherwise
(commands call it through ``kcli.settings.current().backend()``).

The two implementations are imported when first used: the local one loads the engine and
the remote one librdkafka, and ``kcli --help`` needs neither.
"""

from __future__ import annotations

import os
from abc import ABCMeta
from collections.abc import Mapping
from typing import Any

from kcli.client.backend import Backend
from kcli.connection import Connection, check_bootstrap_servers

BOOTSTRAP_SERVERS = "bootstrap.servers"
# Where a cluster chosen in a client's config came from, for messages.
_ORIGIN = "bootstrap.servers in the client config"


def open_backend(connection, data_dir: str | os.PathLike, *, debug: bool = False) -> Backend:
    """The local store in ``data_dir``, or the cluster ``connection`` (a kcli.connection
    Connection) points at; nothing is opened or contacted until first used."""
    if connection is None:
        from kcli.local.backend import LocalBackend

        return LocalBackend(data_dir)
    from kcli.remote.backend import RemoteBackend

    return RemoteBackend(connection, debug=debug)


def _conf(conf: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(conf or {})
    out.update(kwargs)
    return out


def _remote_cluster(conf: dict[str, Any]):
    """The cluster a client config names, and the config left for the client itself."""
    from kcli.remote.cluster_client import ClusterClient

    servers = check_bootstrap_servers(str(conf.pop(BOOTSTRAP_SERVERS)), BOOTSTRAP_SERVERS)
    conf.pop("data.dir", None)
    properties = {k: v for k, v in conf.items() if not callable(v)}
    connection = Connection(servers, properties, origin=_ORIGIN)
    return ClusterClient(connection), conf


class _ClientType(ABCMeta):
    """Public names whose instances are of one of the two implementations' classes."""


def _registered(public: _ClientType, client):
    """``client``, its class registered so that ``isinstance(client, public)`` holds."""
    public.register(type(client))
    return client


class Producer(metaclass=_ClientType):
    """A Kafka producer (confluent-kafka's ``Producer``): over the cluster named by
    ``bootstrap.servers``, else over the local store (``data.dir``).

    >>> p = Producer({"data.dir": "/tmp/kcli-demo"})
    >>> p.produce("tweets", value="hello", key="alice")
    >>> p.flush()
    0
    """

    def __new__(cls, conf: Mapping[str, Any] | None = None, **kwargs):
        conf = _conf(conf, kwargs)
        if BOOTSTRAP_SERVERS in conf:
            from kcli.remote.producer import RemoteProducer

            cluster, rest = _remote_cluster(conf)
            return _registered(cls, RemoteProducer(cluster, rest))
        from kcli.local.producer import Producer as LocalProducer

        return _registered(cls, LocalProducer(conf))


class Consumer(metaclass=_ClientType):
    """A Kafka consumer (confluent-kafka's ``Consumer``): over the cluster named by
    ``bootstrap.servers``, else over the local store (``data.dir``)."""

    def __new__(cls, conf: Mapping[str, Any] | None = None, **kwargs):
        conf = _conf(conf, kwargs)
        if BOOTSTRAP_SERVERS in conf:
            from kcli.remote.consumer import RemoteConsumer

            cluster, rest = _remote_cluster(conf)
            return _registered(cls, RemoteConsumer(cluster, rest))
        from kcli.local.consumer import Consumer as LocalConsumer

        return _registered(cls, LocalConsumer(conf))


class AdminClient(metaclass=_ClientType):
    """Kafka's admin API (confluent-kafka's ``AdminClient``): over the cluster named by
    ``bootstrap.servers``, else over the local store (``data.dir``)."""

    def __new__(cls, conf: Mapping[str, Any] | None = None, **kwargs):
        conf = _conf(conf, kwargs)
        if BOOTSTRAP_SERVERS in conf:
            from kcli.remote.admin_client import RemoteAdminClient

            cluster, _rest = _remote_cluster(conf)
            return _registered(cls, RemoteAdminClient(cluster))
        from kcli.local.admin_client import AdminClient as LocalAdminClient

        return _registered(cls, LocalAdminClient(conf))
