"""Names and numbers shared by the whole engine, with their Kafka names where Kafka has one."""

# File suffixes, as in Kafka's log directories.
LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"
SNAPSHOT_SUFFIX = ".snapshot"  # producer state, as in Kafka
# A cleaned segment being written, then complete and ready to replace the old (LogCleaner).
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
# Per data directory, as Kafka's per log directory: where each partition's dirty section starts.
CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"
# Held by whoever cleans a partition: one cleaner per partition at a time.
CLEANER_LOCK_FILE = ".cleaner.lock"
# Segment files are named by their base offset, zero-padded to 20 digits (Kafka's LogFileUtils).
FILENAME_DIGITS = 20

# Files and folders the store owns at the top of the data directory.  None of them can be
# mistaken for a partition directory, which always ends in "-<partition number>".
META_FILE = "meta.properties"
# The on-disk format this kcli reads and writes (meta.properties' "version"); a store marked
# with a later one is refused rather than misread.
FORMAT_VERSION = 1
TOPICS_DIR = "topics"
GROUPS_DIR = "groups"
STORE_LOCK_FILE = ".store.lock"
PARTITION_LOCK_FILE = ".lock"
# The next producer id InitProducerId hands out (a durable counter).
PRODUCER_ID_FILE = "producer_id"

# RecordBatch v2 (magic 2) layout: byte positions of the header fields.
MAGIC = 2
BASE_OFFSET_POS = 0
LENGTH_POS = 8
PARTITION_LEADER_EPOCH_POS = 12
MAGIC_POS = 16
CRC_POS = 17
ATTRIBUTES_POS = 21
LAST_OFFSET_DELTA_POS = 23
BASE_TIMESTAMP_POS = 27
MAX_TIMESTAMP_POS = 35
PRODUCER_ID_POS = 43
PRODUCER_EPOCH_POS = 51
BASE_SEQUENCE_POS = 53
RECORDS_COUNT_POS = 57
BATCH_HEADER_SIZE = 61
# baseOffset + batchLength: the bytes of a batch not counted by batchLength.
LOG_OVERHEAD = 12

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1

# Index entries: offset index (relative offset u32, position u32); time index
# (timestamp i64, relative offset u32).  Big-endian, as Kafka writes them.
OFFSET_INDEX_ENTRY_SIZE = 8
TIME_INDEX_ENTRY_SIZE = 12

# Topic names: Kafka's rules (org.apache.kafka.common.internals.Topic).
TOPIC_NAME_MAX_LENGTH = 249
TOPIC_NAME_CHARS = "a-zA-Z0-9._-"

# Kafka's defaults for the topic configs kcli supports.
DEFAULT_RETENTION_MS = 604_800_000  # 7 days
DEFAULT_RETENTION_BYTES = -1
DEFAULT_SEGMENT_BYTES = 1_073_741_824  # 1 GiB
DEFAULT_SEGMENT_MS = 604_800_000  # 7 days
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
DEFAULT_INDEX_INTERVAL_BYTES = 4096
DEFAULT_CLEANUP_POLICY = "delete"
# Compaction (Kafka's LogCleaner configs and defaults).
CLEANUP_POLICY_COMPACT = "compact"
CLEANUP_POLICY_COMPACT_DELETE = "compact,delete"
DEFAULT_MIN_CLEANABLE_DIRTY_RATIO = 0.5
DEFAULT_DELETE_RETENTION_MS = 86_400_000  # 1 day
DEFAULT_MIN_COMPACTION_LAG_MS = 0
DEFAULT_MAX_COMPACTION_LAG_MS = 2**63 - 1  # Long.MAX_VALUE: never forces a clean
# Replicas that must be in sync for an acks=all write; a single store is one replica, so it
# matters only on a cluster (kcli cluster).
DEFAULT_MIN_INSYNC_REPLICAS = 1
DEFAULT_MESSAGE_TIMESTAMP_TYPE = "CreateTime"
# Kafka's smallest allowed segment.bytes before 4.0 (a v0 record's overhead); kcli keeps it so
# that lessons can roll segments after a few records.
MIN_SEGMENT_BYTES = 14

INT32_MAX = 2**31 - 1

# Per-partition checkpoints, in the format of Kafka's OffsetCheckpointFile (version 0, an entry
# count, then "topic partition offset"): the recovery point (where the active segment began;
# every segment before it is durable) and the log start offset.  Kafka keeps one of each per
# log directory; kcli keeps them per partition, updated under the partition lock appends
# already take, since many processes write one store without a broker.
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"

# A consumer group's states, as Kafka names them (storage.groups, kcli serve, the renderer).
EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"
