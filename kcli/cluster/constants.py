"""The cluster's fixed names and numbers (standard library only: the command line imports
this before anything heavy)."""

MAX_BROKERS = 9
DEFAULT_BROKERS = 3
DEFAULT_PORT = 19092
HOST = "127.0.0.1"
# The internal topic holding consumer groups' committed offsets (Kafka's name).
OFFSETS_TOPIC = "__consumer_offsets"
# Each broker's high watermarks (Kafka's file name and format).
HW_CHECKPOINT_FILE = "replication-offset-checkpoint"
# The controller's directory under <data-dir>/cluster/, and the file where it says its port.
CONTROLLER_DIR = "controller"
CONTROLLER_PORT_FILE = "controller.json"
# Kafka's offsets.topic.segment.bytes: the segments of the internal offsets topic.
OFFSETS_SEGMENT_BYTES = 104_857_600
