"""Every default of the workflows package in one place (automations, queue, webhooks)."""

# -- queue and relay ---------------------------------------------------------------
QUEUE_DEFAULT = "formflow"              # RQ queue of ordinary tasks
QUEUE_WEBHOOKS = "formflow-webhooks"    # RQ queue of webhook deliveries (slow receivers stay apart)
QUEUE_NAMES = (QUEUE_DEFAULT, QUEUE_WEBHOOKS)
RELAY_BATCH = 500                        # outbox events moved per relay transaction
RELAY_POLL_SECONDS = 0.5                 # how often the relay looks at the outbox
TASK_LEASE_SECONDS = 120                 # a claimed task not finished by then is run again
ENQUEUE_BATCH = 1_000                    # due tasks handed to the runner per sweep
SCHEDULER_POLL_SECONDS = 20              # cron / date-field triggers are checked this often

# -- automations ---------------------------------------------------------------------
MAX_AUTOMATION_DEPTH = 5                 # a chain of automations triggering each other stops here
MAX_ACTIONS_PER_RUN = 1_000              # actions executed by one run (for-each included)
MAX_AUTOMATIONS_PER_APP = 200
RUN_LOG_EXCERPT = 2_000                  # characters kept of an action's result in the run log
DATE_TRIGGER_LOOKBACK_MINUTES = 24 * 60  # a date reached while the scheduler was down still fires

# -- webhooks ------------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = 15.0
#: delay before each retry (seconds): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
WEBHOOK_RETRY_SCHEDULE = (5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
WEBHOOK_RETRY_JITTER = 0.1               # ± fraction of the delay
WEBHOOK_MAX_RETRY_AFTER_SECONDS = 24 * 3600
WEBHOOK_DISABLE_AFTER_SECONDS = 5 * 24 * 3600   # an endpoint failing this long is disabled
WEBHOOK_RESPONSE_EXCERPT = 1_000         # characters of a response body kept per attempt
WEBHOOK_SECRET_BYTES = 24
WEBHOOK_SECRET_ROTATION_SECONDS = 24 * 3600     # the previous secret keeps signing this long
WEBHOOK_TOLERANCE_SECONDS = 5 * 60       # receivers refuse timestamps further off than this

# -- inbound webhooks ----------------------------------------------------------------
INBOUND_MAX_BYTES = 256 * 1024
INBOUND_RATE_PER_MINUTE = 120            # per token, per process

# -- outbound network ----------------------------------------------------------------
#: comma-separated hosts or CIDR ranges outbound calls may reach although not public
#: (admin allow-list; empty = off)
OUTBOUND_ALLOW_ENV = "FORMFLOW_OUTBOUND_ALLOW"

# Housekeeping (expired Idempotency-Keys) runs from the scheduler tick at most this often, per process.
HOUSEKEEPING_SECONDS = 3600
