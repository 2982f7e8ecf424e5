"""What a compacted topic's batches must be, wherever a batch enters or is read back: every
record keyed (Kafka's INVALID_RECORD for one without), and a batch as the cleaner
(``storage.cleaner``) may have rewritten it: fewer records than its offsets span, perhaps a
delete horizon.  Appends, a follower's copy of its leader, recovery and the cleaner use it."""

from __future__ import annotations

from storage.errors import CorruptRecord, InvalidRecord
from storage.log_validator import validate_batch
from storage.record_batch import check_framing
from storage.records import BatchHeader, decode_batch_at

# Kafka's DefaultRecordBatch.DELETE_HORIZON_FLAG_MASK: baseTimestamp is the delete horizon.
DELETE_HORIZON_MASK = 0x40
KEYLESS_MESSAGE = "Compacted topic cannot accept message without key"


def require_keys(records, where: str) -> None:
    """Kafka's INVALID_RECORD for a record without a key on a compacted topic."""
    for i, r in enumerate(records):
        if r.key is None:
            raise InvalidRecord(
                f"{where}: {KEYLESS_MESSAGE} (record {i} has none); every record on a topic "
                f"with cleanup.policy=compact needs a key, e.g. kcli produce --key K"
            )


def require_batch_keys(batch, where: str) -> None:
    """``require_keys`` for one encoded batch (control batches hold no user records)."""
    data = batch if isinstance(batch, bytes) else bytes(batch)
    require_keys(decode_batch_at(data, 0, len(data)), where)


def validate_stored_batch(batch, *, where: str) -> BatchHeader:
    """A batch as a log holds it: as appended (``log_validator.validate_batch``), or as the
    cleaner rewrote it — fewer records than its offset range (``recordsCount`` below
    ``lastOffsetDelta + 1``, none for an idempotent producer's kept last batch), offsets
    increasing inside the range, perhaps a delete horizon in baseTimestamp."""
    header = check_framing(batch, where=where)
    rewritten = header.records_count != header.last_offset_delta + 1
    if not rewritten and not header.attributes & DELETE_HORIZON_MASK:
        return validate_batch(batch, where=where)
    if header.records_count > header.last_offset_delta + 1:
        raise InvalidRecord(
            f"{where}: recordsCount is {header.records_count}, more than the "
            f"{header.last_offset_delta + 1} offsets of the batch"
        )
    data = batch if isinstance(batch, bytes) else bytes(batch)
    try:
        records = decode_batch_at(data, 0, len(data))
    except CorruptRecord as exc:
        raise InvalidRecord(f"{where}: {exc}") from None
    offsets = [r.offset for r in records]
    if (
        len(records) != header.records_count
        or offsets != sorted(set(offsets))
        or (offsets and not header.base_offset <= offsets[0] <= offsets[-1] <= header.last_offset)
    ):
        raise InvalidRecord(
            f"{where}: a compacted batch's records must have increasing offsets from "
            f"{header.base_offset} to {header.last_offset}"
        )
    return header
