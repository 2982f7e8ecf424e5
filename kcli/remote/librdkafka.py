"""librdkafka's error reports and log lines, and how kcli words them.

librdkafka reports connection trouble through ``error_cb`` and retries for ever;
``ErrorReports`` collects those reports so that kcli can fail fast, with one line saying why
(refused, unknown host, TLS, authentication) and never a secret.  Its log lines go to stderr
only with ``--debug``.  Errors a producer or consumer sees become kcli's KafkaError and
KafkaException (secrets masked).
"""

from __future__ import annotations

import logging
from collections import deque

from kcli.client.error_codes import ErrorCodes as E
from kcli.client.types import KafkaError, KafkaException
from kcli.connection import Connection
from kcli.errors import KcliError


class ErrorReports:
    """What librdkafka's error_cb reported, and whether that means giving up now."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.connected = False  # once the cluster has answered, connection trouble is transient
        self.reports: deque[tuple[int, str]] = deque(maxlen=50)

    def error_cb(self, err) -> None:
        self.reports.append((err.code(), self.connection.scrub(err.str())))

    def check(self) -> None:
        """Raise KcliError for an error no retry will cure."""
        codes = [code for code, _ in self.reports]
        if E._AUTHENTICATION in codes:
            raise authentication_error(self.connection, self._text(E._AUTHENTICATION))
        if not self.connected and E._ALL_BROKERS_DOWN in codes:
            raise unreachable_error(self.connection, self.reason())

    def _text(self, code: int) -> str:
        return next(text for c, text in self.reports if c == code)

    def reason(self) -> str:
        """The most telling report of why no broker can be reached."""
        for code in (E._AUTHENTICATION, E._SSL, E._RESOLVE, E._TRANSPORT):
            for c, text in self.reports:
                if c == code:
                    return text
        return self.reports[-1][1] if self.reports else "no broker answered"


def unreachable_error(connection: Connection, reason: str) -> KcliError:
    hint = "check the address and that the cluster is running"
    lowered = reason.lower()
    if "refused" in lowered:
        hint = "is a broker running there? check the host and port"
    elif "resolve" in lowered or "name or service" in lowered:
        hint = "check the host name"
    elif "ssl" in lowered or "certificate" in lowered or "handshake" in lowered:
        hint = "check security.protocol and ssl.ca.location"
    elif "apiversion" in lowered or "disconnected" in lowered:
        hint = "does security.protocol match the listener (PLAINTEXT, SSL, SASL_SSL)?"
    return KcliError(
        f"cannot connect to the Kafka cluster at {connection.bootstrap_servers} "
        f"({connection.origin}): {reason}; {hint}"
    )


def authentication_error(connection: Connection, reason: str) -> KcliError:
    return KcliError(
        f"the Kafka cluster at {connection.bootstrap_servers} refused the credentials: "
        f"{reason}; check sasl.mechanism, sasl.username and sasl.password (for Confluent "
        f"Cloud: PLAIN with an API key and its secret)"
    )


# Where kcli's --debug lines go: the CLI shows this logger's records on stderr (through
# kcli.render); as a library, kcli leaves them to the application's logging setup.
debug_log = logging.getLogger("kcli.debug")


class _Logs(logging.Handler):
    """librdkafka's log lines: passed on (secrets masked) to kcli's debug log with --debug,
    else dropped."""

    def __init__(self, connection: Connection):
        super().__init__()
        self.connection = connection

    def emit(self, record: logging.LogRecord) -> None:
        try:
            debug_log.debug("librdkafka: %s", self.connection.scrub(record.getMessage()))
        except Exception:  # a log line must never break a command
            pass


def librdkafka_logger(connection: Connection, debug: bool) -> logging.Logger:
    logger = logging.getLogger(f"kcli.librdkafka.{id(connection)}")
    if not logger.handlers:
        logger.propagate = False
        if debug:
            logger.addHandler(_Logs(connection))
            logger.setLevel(logging.DEBUG)
        else:
            logger.addHandler(logging.NullHandler())
            logger.setLevel(logging.CRITICAL + 1)
    return logger


# Errors a producer can get whose Kafka name alone does not say what happened or what to do.
_PRODUCE_ERROR_WORDS = {
    E.NOT_ENOUGH_REPLICAS: (
        "NOT_ENOUGH_REPLICAS: the partition has fewer in-sync replicas than its "
        "min.insync.replicas, so the cluster refuses acks=all writes; "
        "start the stopped brokers and retry once they are back in the ISR, or produce with "
        "--acks 1, which does not wait for the replicas"
    ),
    E.NOT_ENOUGH_REPLICAS_AFTER_APPEND: (
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND: the leader wrote the records, but in-sync replicas "
        "fell below min.insync.replicas before they copied them, so they are not acknowledged "
        "(a retry may store them twice); start the stopped brokers"
    ),
}


def kafka_error(connection: Connection, err):
    """confluent-kafka's KafkaError as kcli's (secrets masked; some errors explained)."""
    text = _PRODUCE_ERROR_WORDS.get(err.code()) or connection.scrub(err.str())
    return KafkaError(err.code(), text, err.fatal(), err.retriable())


def kafka_exception(connection: Connection, exc):
    return KafkaException(kafka_error(connection, exc.args[0]))


def check_reports(reports: ErrorReports) -> None:
    """An error no retry will cure (see ErrorReports.check) as kcli's KafkaException."""
    try:
        reports.check()
    except KcliError as exc:
        raise KafkaException(KafkaError(KafkaError._FATAL, str(exc))) from None
