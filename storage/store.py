"""The data directory: topics, their metadata and configs, and each partition's Log.

Layout (Kafka's, plus a few files the store owns)::

    <data-dir>/meta.properties            cluster.id and format version
    <data-dir>/topics/<topic>.json        partitions, topic id, config overrides
    <data-dir>/<topic>-<partition>/       one Log per partition (segments and indexes)
    <data-dir>/groups/                    consumer-group state (see storage.groups)

The topic's JSON file is the commit point: a topic exists exactly when its file does.  It is
written to a temp file, fsynced and renamed, so a crash leaves either the old or the new
version.  Partition directories are created before the file and removed after it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from storage.clock import SYSTEM_CLOCK, Clock
from storage.constants import (
    GROUPS_DIR,
    META_FILE,
    PRODUCER_ID_FILE,
    STORE_LOCK_FILE,
    TOPICS_DIR,
)
from storage.errors import (
    DamagedTopicFile,
    DataDirError,
    InvalidPartitions,
    InvalidTopicName,
    PartitionNotFound,
    StorageError,
    TopicAlreadyExists,
    TopicNotFound,
    partition_not_found_message,
    partitions_can_only_grow_message,
    topic_not_found_message,
)
from storage.fileio import atomic_write, fsync_dir
from storage.log import DeletedSegment, Log
from storage.log_checkpoints import LogCheckpoints
from storage.meta_properties import (
    read_meta_properties,
    read_only_reason,
    write_new_meta_properties,
)
from storage.segment import Segment
from storage.store_check import StoreCheck, check_store
from storage.topic_config import config_from_user, parse_overrides
from storage.topic_metadata import (
    MAX_PARTITIONS,
    PartitionDescription,
    StoreInfo,
    TopicDescription,
    TopicMetadata,
    check_partition_count,
    topic_metadata_from,
    validate_topic_name,
)

if TYPE_CHECKING:
    from storage.cleaner import CleanResult, LogCleaner

__all__ = [
    "MAX_PARTITIONS",
    "PartitionDescription",
    "Store",
    "StoreInfo",
    "TopicDescription",
    "TopicMetadata",
    "validate_topic_name",
]


class Store:
    """A kcli data directory.  Safe to open from many processes at once."""

    def __init__(self, data_dir: str | os.PathLike, *, clock: Clock = SYSTEM_CLOCK, create=True):
        self.data_dir = Path(data_dir).expanduser()
        self.clock = clock
        # Why this store cannot be written ("read-only file system"), or "" when it can.
        self.read_only = ""
        self._logs: dict[tuple[str, int], Log] = {}
        self._meta_cache: dict[str, tuple[int, TopicMetadata]] = {}
        self._mutex = threading.RLock()
        if create:
            self._ensure_dirs()
        elif not self.data_dir.is_dir():
            raise DataDirError(f"data directory {self.data_dir} does not exist")
        elif (self.data_dir / META_FILE).exists():
            self._meta_properties()
        self._store_lock = None  # created on first use: importing filelock costs start-up time

    # -- data directory --------------------------------------------------------------------

    def _ensure_dirs(self) -> None:
        if (self.data_dir / META_FILE).is_file() and not os.access(self.data_dir, os.W_OK):
            # An existing store that cannot be written (a read-only mount, a read-only copy):
            # every read works; every write says why it cannot.
            self._meta_properties()
            self.read_only = read_only_reason(self.data_dir)
            return
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / TOPICS_DIR).mkdir(exist_ok=True)
            (self.data_dir / GROUPS_DIR).mkdir(exist_ok=True)
            if not (self.data_dir / META_FILE).exists():
                write_new_meta_properties(self.data_dir)
        except PermissionError as exc:
            raise DataDirError(
                f"cannot write to data directory {self.data_dir} ({exc.strerror}); "
                f"choose a writable one with --data-dir or KCLI_DATA_DIR"
            ) from None
        except NotADirectoryError:
            raise DataDirError(
                f"data directory {self.data_dir} is not a directory; "
                f"choose another with --data-dir or KCLI_DATA_DIR"
            ) from None
        except FileExistsError:
            raise DataDirError(
                f"data directory {self.data_dir} exists and is not a directory; "
                f"choose another with --data-dir or KCLI_DATA_DIR"
            ) from None
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise DataDirError(
                f"cannot write to data directory {self.data_dir} (permission denied); "
                f"choose a writable one with --data-dir or KCLI_DATA_DIR"
            )
        self._meta_properties()

    def _meta_properties(self) -> dict[str, str]:
        return read_meta_properties(self.data_dir)

    @property
    def cluster_id(self) -> str:
        cluster_id = self._meta_properties().get("cluster.id")
        if not cluster_id:
            raise StorageError(f"{self.data_dir / META_FILE} has no cluster.id")
        return cluster_id

    @property
    def groups_dir(self) -> Path:
        return self.data_dir / GROUPS_DIR

    def _locked(self):
        """The store lock: excludes other processes (a file lock) and other threads (a mutex)."""
        self.require_writable()
        from filelock import FileLock, Timeout

        if self._store_lock is None:
            self._store_lock = FileLock(str(self.data_dir / STORE_LOCK_FILE), thread_local=False)
        self._mutex.acquire()
        try:
            self._store_lock.acquire(timeout=30)
        except Timeout:
            self._mutex.release()
            raise StorageError(
                f"the data directory is locked by another process ({self._store_lock.lock_file})"
            ) from None
        except BaseException:
            self._mutex.release()
            raise
        return _Releaser(self._store_lock, self._mutex)

    def require_writable(self) -> None:
        """DataDirError, in one line, when the store cannot be written."""
        if self.read_only:
            raise DataDirError(
                f"cannot write to data directory {self.data_dir}: {self.read_only}; reads "
                f"work, writes need a writable data directory (--data-dir or KCLI_DATA_DIR)"
            )

    def _topic_file(self, name: str) -> Path:
        return self.data_dir / TOPICS_DIR / f"{name}.json"

    def partition_dir(self, name: str, partition: int) -> Path:
        return self.data_dir / f"{name}-{partition}"

    def next_producer_id(self) -> int:
        """A producer id never handed out before in this data directory (InitProducerId).

        A durable counter: read, incremented and written (temp file, fsync, rename) under the
        store lock, so ids stay unique across processes and restarts.
        """
        path = self.data_dir / PRODUCER_ID_FILE
        with self._locked():
            try:
                text = path.read_text()
            except FileNotFoundError:
                text = "next.producer.id=0\n"
            try:
                next_id = int(text.strip().split("=", 1)[1])
            except (IndexError, ValueError):
                raise StorageError(
                    f"{path} is damaged (expected a line next.producer.id=N, found {text[:40]!r})"
                ) from None
            atomic_write(path, f"next.producer.id={next_id + 1}\n".encode())
            return next_id

    # -- topics -----------------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: dict[str, str] | None = None,
        *,
        if_not_exists: bool = False,
        validate_only: bool = False,
    ) -> TopicMetadata:
        """Create a topic with ``partitions`` partitions and config overrides (Kafka names).

        With ``validate_only`` (as Kafka's CreateTopics), check everything creating it would
        check, raise the same errors, and write nothing; the topic id returned is empty.
        """
        validate_topic_name(name)
        check_partition_count(partitions)
        config_from_user(config)  # validate before touching the disk
        overrides = parse_overrides(config or {})
        with self._locked():
            existing = self._read_topic(name)
            if existing is not None:
                if if_not_exists:
                    return existing
                raise TopicAlreadyExists(
                    f"topic '{name}' already exists with {existing.partitions} partition(s); "
                    f"use --if-not-exists to ignore this"
                )
            self._check_collision(name)
            if validate_only:
                return TopicMetadata(name, "", partitions, overrides)
            meta = TopicMetadata(name, _new_topic_id(), partitions, overrides)
            self._create_partitions(meta, range(partitions), write=meta)
            return meta

    def _create_partitions(self, meta: TopicMetadata, partitions: range, *, write) -> None:
        """Create partition directories, then commit ``write`` (the topic file).  If the disk
        fails on the way (full, read-only), remove what was created: nothing is left."""
        created = []
        try:
            for p in partitions:
                d = self.partition_dir(meta.name, p)
                if d.exists():  # left behind by a crash during an earlier delete
                    shutil.rmtree(d)
                created.append(d)
                _create_partition_dir(d, meta.name, p)
            self._write_topic(write)
        except OSError as exc:
            for d in created:
                shutil.rmtree(d, ignore_errors=True)
            raise DataDirError(
                f"cannot write topic '{meta.name}' in {self.data_dir}: "
                f"{os.strerror(exc.errno or 0).lower()}; nothing was changed"
            ) from None

    def _check_collision(self, name: str) -> None:
        """Kafka's rule: topics whose names differ only in '.' and '_' collide (metric names
        replace '.' with '_')."""
        key = name.replace(".", "_")
        for path in (self.data_dir / TOPICS_DIR).glob("*.json"):
            other = path.stem
            if other != name and other.replace(".", "_") == key:
                raise InvalidTopicName(
                    f"topic '{name}' collides with existing topic: {other} (a topic name may "
                    f"not differ from another only in '.' and '_'); choose another name"
                )

    def delete_topic(self, name: str) -> None:
        """Delete a topic and all its data."""
        validate_topic_name(name)
        with self._locked():
            meta = self._require(name)
            self._topic_file(name).unlink()
            fsync_dir(self.data_dir / TOPICS_DIR)
            with self._mutex:
                for key in [k for k in self._logs if k[0] == name]:
                    self._logs.pop(key).close()
                self._meta_cache.pop(name, None)
            for p in range(meta.partitions):
                shutil.rmtree(self.partition_dir(name, p), ignore_errors=True)
            # A topic created again under this name starts dirty, as in Kafka.
            self.cleaner.checkpoint.forget_topic(name)

    def alter_topic(
        self,
        name: str,
        *,
        partitions: int | None = None,
        config: dict[str, str] | None = None,
        delete_config: tuple[str, ...] = (),
        validate_only: bool = False,
    ) -> TopicMetadata:
        """Add partitions (never remove: keys would move) and/or change config overrides
        (``delete_config`` names overrides to drop: those configs go back to their defaults).

        With ``validate_only``, check and return what the topic would become; write nothing.
        """
        validate_topic_name(name)
        with self._locked():
            meta = self._require(name)
            new_partitions = meta.partitions
            if partitions is not None:
                check_partition_count(partitions)
                if partitions < meta.partitions:
                    raise InvalidPartitions(partitions_can_only_grow_message(name, meta.partitions))
                new_partitions = partitions
            overrides = {k: v for k, v in meta.overrides.items() if k not in delete_config}
            if config:
                meta.config.with_overrides(config)  # validate against the merged config
                overrides.update(parse_overrides(config))
            new = TopicMetadata(name, meta.topic_id, new_partitions, overrides)
            if validate_only:
                return new
            self._create_partitions(new, range(meta.partitions, new_partitions), write=new)
            return new

    def topic(self, name: str) -> TopicMetadata:
        """The topic's metadata; TopicNotFound if there is no such topic."""
        validate_topic_name(name)
        return self._require(name)

    def topics(self) -> list[TopicMetadata]:
        """Every topic; one with a damaged file is left out (``damaged_topics`` names it)."""
        return [meta for meta, _error in self._scan_topics() if meta is not None]

    def damaged_topics(self) -> list[str]:
        """What is wrong with each damaged topic file, one line each."""
        return [str(error) for meta, error in self._scan_topics() if meta is None]

    def _scan_topics(self) -> list[tuple[TopicMetadata | None, StorageError | None]]:
        out = []
        for path in sorted((self.data_dir / TOPICS_DIR).glob("*.json")):
            try:
                meta = self._read_topic(path.stem)
            except DamagedTopicFile as exc:
                out.append((None, exc))
                continue
            if meta is not None:
                out.append((meta, None))
        return out

    def topic_exists(self, name: str) -> bool:
        return self._read_topic(name) is not None

    def _require(self, name: str) -> TopicMetadata:
        meta = self._read_topic(name)
        if meta is None:
            names = [t.name for t in self.topics()]
            raise TopicNotFound(topic_not_found_message(name, names))
        return meta

    def _read_topic(self, name: str) -> TopicMetadata | None:
        path = self._topic_file(name)
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self._meta_cache.get(name)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DamagedTopicFile(
                f"{path} is damaged (not valid JSON: {exc}); it should hold the topic's "
                f"name, topic_id, partitions and config (restore it, or remove the file to drop the topic)"
            ) from None
        meta = topic_metadata_from(path, name, raw)
        self._meta_cache[name] = (mtime, meta)
        return meta

    def _write_topic(self, meta: TopicMetadata) -> None:
        body = {
            "topic": meta.name,
            "topic_id": meta.topic_id,
            "partitions": meta.partitions,
            "config": meta.overrides,
        }
        atomic_write(self._topic_file(meta.name), (json.dumps(body, indent=2) + "\n").encode())
        self._meta_cache.pop(meta.name, None)

    # -- partitions ---------------------------------------------------------------------------

    def log(self, topic: str, partition: int) -> Log:
        """The Log of one partition (cached; its config follows later alterations)."""
        meta = self.topic(topic)
        if not isinstance(partition, int) or not 0 <= partition < meta.partitions:
            raise PartitionNotFound(partition_not_found_message(topic, meta.partitions, partition))
        with self._mutex:
            log = self._logs.get((topic, partition))
            if log is None:
                log = Log(
                    self.partition_dir(topic, partition),
                    meta.config,
                    topic=topic,
                    partition=partition,
                    clock=self.clock,
                    on_roll=self._segment_closed,
                )
                self._logs[(topic, partition)] = log
            else:
                log.config = meta.config
            return log

    def describe_topic(self, name: str) -> TopicDescription:
        meta = self.topic(name)
        parts = []
        for p in range(meta.partitions):
            log = self.log(name, p)
            segments = log.segments()
            parts.append(
                PartitionDescription(
                    partition=p,
                    log_start_offset=segments[0].base_offset if segments else 0,
                    log_end_offset=log.log_end_offset,
                    size_bytes=sum(s.size_bytes for s in segments),
                    segments=len(segments),
                    compaction=(
                        self.cleaner.section(log, segments) if meta.config.compacted else None
                    ),
                )
            )
        return TopicDescription(
            topic=name,
            topic_id=meta.topic_id,
            partitions=tuple(parts),
            config=meta.config.to_kafka(),
            overrides=dict(meta.overrides),
        )

    def _segment_closed(self, log: Log) -> None:
        """A compacted partition closed a segment: clean it if it is dirty enough."""
        self.cleaner.maybe_clean(log)

    @property
    def cleaner(self) -> LogCleaner:
        """The log cleaner of this data directory (``storage.cleaner``)."""
        from storage.cleaner import LogCleaner  # imported here: most topics never clean

        return LogCleaner(self.data_dir)

    def compact_topic(self, name: str, partition: int | None = None) -> list[CleanResult]:
        """Clean a compacted topic's partitions now, whatever their dirty ratio."""
        meta = self.topic(name)
        partitions = range(meta.partitions) if partition is None else [partition]
        return [self.cleaner.clean(self.log(name, p)) for p in partitions]

    def check(
        self,
        topic: str | None = None,
        *,
        repair: bool = False,
        truncate_after_corruption: bool = False,
    ) -> StoreCheck:
        """Verify every partition (or ``topic``'s) and the store's own files: see
        ``storage.store_check``.  ``repair`` fixes what loses no data (torn tails, indexes,
        leftovers, snapshots); ``truncate_after_corruption`` also truncates a log at its first
        corrupt batch or gap, deleting what follows."""
        return check_store(
            self, topic, repair=repair, truncate_after_corruption=truncate_after_corruption
        )

    def apply_retention(
        self, topic: str | None = None
    ) -> dict[tuple[str, int], list[DeletedSegment]]:
        """Run retention on one topic or all; returns what was deleted per partition."""
        out = {}
        metas = [self.topic(topic)] if topic else self.topics()
        for meta in metas:
            for p in range(meta.partitions):
                deleted = self.log(meta.name, p).apply_retention()
                if deleted:
                    out[(meta.name, p)] = deleted
        return out

    def info(self) -> StoreInfo:
        metas = self.topics()
        size = 0
        for meta in metas:
            for p in range(meta.partitions):
                d = self.partition_dir(meta.name, p)
                try:
                    size += sum(e.stat().st_size for e in os.scandir(d) if e.is_file())
                except FileNotFoundError:
                    pass
        return StoreInfo(
            data_dir=self.data_dir,
            cluster_id=self.cluster_id,
            topics=len(metas),
            partitions=sum(m.partitions for m in metas),
            size_bytes=size,
        )

    def close(self) -> None:
        with self._mutex:
            for log in self._logs.values():
                log.close()
            self._logs.clear()


class _Releaser:
    def __init__(self, lock, mutex: threading.RLock):
        self._lock = lock
        self._mutex = mutex

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self._lock.release()
        finally:
            self._mutex.release()


def _create_partition_dir(d: Path, topic: str, partition: int) -> None:
    """A partition directory with its first, empty segment, as Kafka creates it, and its
    checkpoints (so that even the first segment cannot go missing unnoticed)."""
    d.mkdir()
    Segment(d, 0).create()
    LogCheckpoints(d, topic, partition).write_both(0)
    fsync_dir(d)


def _new_topic_id() -> str:
    """A Kafka-style topic id: a random UUID, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
