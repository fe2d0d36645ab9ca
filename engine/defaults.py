"""Every default value of the engine in one place (as rq does)."""

DATA_DIR = "./data"
DATABASE_FILE = "formflow.db"
HOST = "127.0.0.1"
PORT = 8080
REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_SECRET_KEY = "formflow-development-secret-change-me"
TIMEZONE = "Asia/Shanghai"
JOB_RUNNER = "inline"

# SQLite: how long a writer waits for the lock before giving up (ms). Writers take
# the lock up front (BEGIN IMMEDIATE), so this only bounds queueing time.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Record queries
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_BATCH = 1_000

# Values
MAX_TEXT_LENGTH = 65_535          # text/textarea hard cap, in characters
MAX_SHORT_TEXT_LENGTH = 1_000     # text fields unless max_length says otherwise
MAX_NUMBER_DIGITS = 15            # significant digits: exact in SQLite REAL and JSON
MAX_SUBFORM_ROWS = 1_000
MAX_LINKS = 1_000
MAX_DEFINITION_BYTES = 5_000_000
MAX_FORMS_PER_APP = 500
MAX_FIELDS_PER_FORM = 1_000
