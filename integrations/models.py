"""Integrations: configured remote accounts, flow state and runs, bindings, mappings, exceptions."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations import crypto, registry


class Integration(models.Model):
    """One configured remote account: a TikTok shop, an OSA account, a Katana account..."""

    class Status(models.TextChoices):
        NOT_CONFIGURED = "not_configured", "Not configured"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"

    class Role(models.TextChoices):
        CHANNEL = registry.CHANNEL, "Selling channel"
        FULFILLMENT = registry.FULFILLMENT, "Fulfillment"

    name = models.CharField(max_length=120, unique=True, help_text="A unique name that identifies the shop or account, e.g. “TikTok US”.")
    connector = models.CharField(max_length=40, db_index=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_CONFIGURED, db_index=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    environment = models.CharField(max_length=40, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive integrations run no flows.")
    settings = models.JSONField(default=dict, blank=True)
    # Fernet token (MultiFernet over FIELD_ENCRYPTION_KEYS) of a JSON object; never decrypted for display.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    # Remote account identity, for routing webhooks and display (TikTok shop id; OSA domain).
    remote_account_id = models.CharField(max_length=120, blank=True, db_index=True)
    # Non-secret runtime state written by the connector (region, shop cipher, token expiry...).
    remote_state = models.JSONField(default=dict, blank=True)
    auth_expires_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=200, blank=True, help_text="Set when flows are paused (deauthorized, expiring authorization).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("run_flow", "Can run flows and reset cursors"),
            ("import", "Can import configurations and data"),
            ("export", "Can export configurations and data"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self) -> registry.ConnectorSpec:
        return registry.get_connector(self.connector)

    def get_credentials(self) -> dict:
        return crypto.decrypt_json(self.credentials_encrypted)

    def set_credentials(self, values: dict) -> None:
        self.credentials_encrypted = crypto.encrypt_json({k: v for k, v in values.items() if v not in (None, "")})

    def setting(self, key: str):
        """The stored value, or the connector's default."""
        if key in self.settings:
            return self.settings[key]
        return self.spec.setting(key).default


# The dispatcher ticks every 30 s and runs a flow at the tick nearest its due time (the sandbox demo uses 30 s);
# below 30 s is a typo, not a schedule. A week is the longest useful one.
FLOW_INTERVAL_MIN = timedelta(seconds=30)
FLOW_INTERVAL_MAX = timedelta(days=7)


class FlowState(models.Model):
    """One flow of one integration: switch, schedule, cursor, lease and health."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="flow_states")
    flow = models.CharField(max_length=60)
    enabled = models.BooleanField(default=False)
    interval = models.DurationField(
        default=timedelta(minutes=5),
        validators=[MinValueValidator(FLOW_INTERVAL_MIN, message="The interval must be at least 30 seconds."),
                    MaxValueValidator(FLOW_INTERVAL_MAX, message="The interval must be at most 7 days.")],
        help_text="How often the scheduled poll runs (30 seconds to 7 days, e.g. 00:05:00).")
    cursor = models.JSONField(default=dict, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    # Set when the dispatcher enqueues a scheduled run, cleared when that run starts (or folds into a running one):
    # a flow whose run still waits in the queue is not enqueued again (services.flows_dispatch_due).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    # Set by "Force resync": the next run ignores the cursor / fingerprints once.
    force_full = models.BooleanField(default=False)
    # Outbox of targeted work (webhooks, record retries), e.g. {"order_ids": ["576..."]}: written in the
    # same transaction as what asked for it, drained by a targeted run, removed only when that run succeeded.
    pending_params = models.JSONField(default=dict, blank=True)
    # Taken out of pending_params by the targeted run draining them; put back if that run fails or dies.
    pending_inflight = models.JSONField(default=dict, blank=True)
    # When the dispatcher should (re-)enqueue a drain of the outbox; null when nothing is pending.
    pending_run_at = models.DateTimeField(null=True, blank=True)
    pending_failures = models.PositiveIntegerField(default=0)
    # A run asked for while the flow was running (schedule, Run now, retry) is folded into one re-run: set by the
    # colliding request, cleared by the running run's finish, which then makes the flow due at once.
    rerun_requested = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "flow"], name="uniq_flow_state")]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="flowstate_due_idx"),
                   models.Index(fields=["pending_run_at"], name="flowstate_pending_idx")]
        ordering = ["integration__name", "flow"]

    def __str__(self) -> str:
        return f"{self.integration.name} · {self.flow}"

    @property
    def spec(self) -> registry.FlowSpec:
        return self.integration.spec.flow(self.flow)

    @property
    def is_running(self) -> bool:
        return bool(self.lease_token) and bool(self.lease_expires_at and self.lease_expires_at > timezone.now())


class SyncRun(models.Model):
    """One execution of a flow. Every run is recorded, skipped ones too (integration paused or inactive); a run asked
    for while the flow is running is folded into the running one (``coalesced``), not recorded as a row of its own."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Command"
        WEBHOOK = "webhook", "Webhook"
        RETRY = "retry", "Retry"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial (some records failed)"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    flow_state = models.ForeignKey(FlowState, on_delete=models.CASCADE, related_name="runs")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    flow = models.CharField(max_length=60)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cursor_before = models.JSONField(default=dict, blank=True)
    cursor_after = models.JSONField(default=dict, blank=True)
    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    error_class = models.CharField(max_length=120, blank=True)
    error_message = models.TextField(blank=True)
    # Per-record errors [{"external_id", "field", "message"}], capped at MAX_RECORD_ERRORS.
    errors = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=255, blank=True)
    # Runs asked for while this one ran, folded into it (no skipped row each): targeted ids went to the outbox,
    # anything else made the flow run again once after this run.
    coalesced = models.PositiveIntegerField(default=0)

    MAX_RECORD_ERRORS = 200

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["integration", "flow", "-started_at"], name="syncrun_flow_idx"),
            models.Index(fields=["status", "-started_at"], name="syncrun_status_idx"),
            models.Index(fields=["-started_at"], name="syncrun_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow} run #{self.pk} ({self.status})"


class ExternalRef(models.Model):
    """Binding of a remote object to its local record (OCA binder)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="external_refs")
    kind = models.CharField(max_length=40)
    external_id = models.CharField(max_length=191)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    local = GenericForeignKey("content_type", "object_id")
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    payload_hash = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "kind", "external_id"], name="uniq_external_ref")]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="extref_local_idx"),
            models.Index(fields=["integration", "kind", "remote_updated_at"], name="extref_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.external_id}"


class Mapping(models.Model):
    """Per-integration value mapping: shipping method, carrier, payment method, order type, attribute, SKU."""

    class Kind(models.TextChoices):
        SHIPPING_METHOD = "shipping_method", "Shipping method"
        CARRIER = "carrier", "Carrier"
        PAYMENT_METHOD = "payment_method", "Payment method"
        ORDER_TYPE = "order_type", "Order type"
        ATTRIBUTE = "attribute", "Attribute"
        SKU = "sku", "SKU"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="mappings")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    source = models.CharField(max_length=191)
    target = models.CharField(max_length=191)
    notes = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "kind", "source"], name="uniq_mapping")]
        ordering = ["integration__name", "kind", "source"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.source} → {self.target}"

    def normalize_skus(self) -> None:
        """SKU mappings: source (channel SKU) and target (master SKU) normalised like every SKU (catalog/sku.py)."""
        if self.kind == self.Kind.SKU:
            from catalog.sku import sku_normalize

            self.source = sku_normalize(self.source)
            self.target = sku_normalize(self.target)

    def clean(self):
        self.normalize_skus()
        super().clean()

    def save(self, *args, **kwargs):
        self.normalize_skus()
        super().save(*args, **kwargs)


class OpsException(models.Model):
    """An exception in Pipe17's sense: something blocking an entity that a person must look at."""

    class Category(models.TextChoices):
        INGESTION = "ingestion", "Ingestion"
        ROUTING = "routing", "Routing"
        FULFILLMENT = "fulfillment", "Fulfillment"
        INVENTORY = "inventory", "Inventory"
        CONNECTOR = "connector", "Connector"
        PRODUCT = "product", "Product"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    code = models.CharField(max_length=60, help_text="The cause, e.g. unknown_sku, unmapped_shipping_method.")
    # What fixing the cause means, e.g. "sku:ABC-1" or "shipping_method:Standard"; drives re-drive.
    cause_key = models.CharField(max_length=191, blank=True, db_index=True)
    integration = models.ForeignKey(Integration, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions")
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    entity = GenericForeignKey("content_type", "object_id")
    entity_label = models.CharField(max_length=191, blank=True)
    dedup_key = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    count = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    resolution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "exception"
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], condition=Q(status="open"), name="uniq_open_exception"),
        ]
        indexes = [models.Index(fields=["status", "category"], name="exception_status_idx")]

    def __str__(self) -> str:
        return f"[{self.category}] {self.message[:80]}"


class OutboundPush(models.Model):
    """Ledger of pushes to remote systems keyed by a deterministic idempotency key, so one change
    is never sent twice (transactional outbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="pushes")
    kind = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=191)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    remote_id = models.CharField(max_length=191, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "kind", "idempotency_key"], name="uniq_outbound_push")]
        indexes = [models.Index(fields=["content_type", "object_id"], name="push_local_idx")]
        ordering = ["-created_at"]
        verbose_name_plural = "outbound pushes"

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.status})"


class SettingsChange(models.Model):
    """History of changes to an integration's settings, mappings, rules and flow schedules."""

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        IMPORT = "import", "Import"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="settings_changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=20, choices=Source.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    summary = models.CharField(max_length=255, blank=True)
    # {"settings": {key: [old, new]}, "mappings": {...}, "flows": {...}} — never credentials.
    diff = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.integration} · {self.at:%Y-%m-%d %H:%M} · {self.summary}"


class TaskLease(models.Model):
    """Single-flight lease for a periodic task (hold release, dispatcher, pruning): a task delivered twice
    by the broker, or scheduled again while the previous run is still working, does nothing the second time."""

    name = models.CharField(max_length=120, unique=True)
    token = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"task lease {self.name}"


class OAuthState(models.Model):
    """One OAuth authorization attempt (integrations.oauth): bound to the connector, the integration and the user
    who started it, single-use, expiring. Only a SHA-256 of the state is stored."""

    state_hash = models.CharField(max_length=64, unique=True)
    connector = models.CharField(max_length=40)
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="oauth_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth state"

    def __str__(self) -> str:
        return f"{self.connector} OAuth state for {self.integration_id} ({'used' if self.used_at else 'open'})"


class TokenRefreshLease(models.Model):
    """The row a token refresh locks for the length of the refresh call (integrations.oauth_tokens): one refresh
    per integration in flight, whatever the connector."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="token_refresh_lease")

    def __str__(self) -> str:
        return f"refresh lock {self.integration_id}"

class PendingUpload(models.Model):
    """A file uploaded for a two-step import (preview, then confirm), kept server-side between the steps:
    the confirm form carries only a random token (its SHA-256 is stored), usable once, by the uploader,
    before it expires."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=40)
    content = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.purpose} upload by {self.user_id} ({len(self.content or b'')} bytes)"


class RateLimitCounter(models.Model):
    """Requests counted for one key (a remote address, a shop) in one fixed window (integrations/ratelimit.py)."""

    scope = models.CharField(max_length=60)
    key = models.CharField(max_length=100)
    window_start = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key", "window_start"], name="uniq_rate_limit_window")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} @ {self.window_start:%H:%M:%S}: {self.count}"


class BulkImport(models.Model):
    """A large bulk data import (django-import-export admins) confirmed by a user and run by a django-q2
    worker instead of inside the request: the file (already capped in size and rows) is kept here, and the
    row holds the status, the progress and the outcome the user watches in the admin."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # confirmed; waiting for a worker
        RUNNING = "running", "Running"  # a worker claimed it (compare-and-set from queued)
        SUCCEEDED = "succeeded", "Succeeded"  # every row applied, in one transaction
        FAILED = "failed", "Failed"  # nothing applied: row errors, or the task failed

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    model_label = models.CharField("imported into", max_length=100)  # "catalog.product"
    resource_path = models.CharField(max_length=200)  # dotted path of the resource class
    format_path = models.CharField(max_length=200)  # dotted path of the (capped) format class
    file_name = models.CharField(max_length=255, blank=True)
    content = models.BinaryField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    phase = models.CharField(max_length=60, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True)  # {"new": n, "update": n, "skip": n, "error": n, "invalid": n}
    errors = models.JSONField(default=list, blank=True)  # [{"row": n, "message": "..."}], the first 200
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "bulk import"

    def __str__(self) -> str:
        return f"import #{self.pk} into {self.model_label} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0
