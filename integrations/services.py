"""Integration services: run flows (lease, record, page/commit/cursor, classify), enqueue and
dispatch, credentials, settings, bindings, exceptions."""
from __future__ import annotations

import contextvars
import functools
import logging
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from django.conf import settings as dj_settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations import registry, schema
from integrations.exceptions import AuthError, PayloadError, PermanentError, RateLimitedError, TransientError
from integrations.flows import FlowContext, FlowResult, payload_hash
from integrations.http import CallCounter
from integrations import redaction
from integrations.bulk_insert import rows_upsert
from integrations.ratelimit import rate_limit_counters_prune
from integrations.models import (ExternalRef, FlowState, Integration, OpsException, PendingUpload, SettingsChange,
                                 SyncRun)

logger = logging.getLogger("integrations.engine")


# (integration id, flow code) of the flow running in this context: exceptions raised while it runs
# remember their flow, so Re-drive can run that flow again.
_CURRENT_FLOW: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar("current_flow", default=None)


class DryRunRollback(Exception):
    """Raised inside a page transaction to roll a dry run back."""


# --- integrations ---------------------------------------------------------------------------

def integration_create(*, name: str, connector: str, settings: dict | None = None, credentials: dict | None = None,
                       environment: str = "", user=None) -> Integration:
    spec = registry.get_connector(connector)
    values = schema.validate_settings(spec, settings or {})
    integration = Integration(name=name, connector=connector, role=spec.role, settings=values,
                              environment=environment or (spec.environments[0][0] if spec.environments else ""))
    integration.full_clean(exclude=["credentials_encrypted"])
    if credentials:
        integration.set_credentials(credentials)
    integration.save()
    flow_states_ensure(integration=integration)
    return integration


def integration_update_settings(*, integration: Integration, values: dict, user=None,
                                source: str = SettingsChange.Source.ADMIN, summary: str = "") -> dict:
    """Validate and store settings; record the difference in the settings history. Returns the diff."""
    new = schema.validate_settings(integration.spec, values)
    old = {**integration.spec.defaults(), **integration.settings}
    for key, value in new.items():  # a list in another order is the same setting: keep the stored order
        if key in old and schema.values_equal(old[key], value):
            new[key] = old[key]
    diff = {k: [old.get(k), v] for k, v in new.items() if not schema.values_equal(old.get(k), v)}
    integration.settings = new
    integration.save(update_fields=["settings", "updated_at"])
    if diff:
        SettingsChange.objects.create(integration=integration, user=user, source=source,
                                      summary=summary or f"{len(diff)} setting(s) changed", diff={"settings": diff})
    flow_states_sync_switches(integration=integration)
    return diff


def integration_update_credentials(*, integration: Integration, values: dict, user=None) -> list[str]:
    """Merge new credential values (blank = keep). Returns the changed keys (never values)."""
    current = integration.get_credentials()
    changed = [k for k, v in values.items() if v not in (None, "") and current.get(k) != v]
    if not changed:
        return []
    current.update({k: v for k, v in values.items() if v not in (None, "")})
    integration.set_credentials(current)
    integration.save(update_fields=["credentials_encrypted", "updated_at"])
    SettingsChange.objects.create(integration=integration, user=user, source=SettingsChange.Source.ADMIN,
                                  summary="credentials changed",
                                  diff={"credentials": {k: [redaction.MASK, redaction.MASK] for k in changed}})
    return changed


def integration_record_change(*, integration: Integration, summary: str, diff: dict, user=None,
                              source: str = SettingsChange.Source.ADMIN) -> SettingsChange:
    """One entry in the integration's settings history (never a credential value)."""
    return SettingsChange.objects.create(integration=integration, user=user, source=source, summary=summary[:255],
                                         diff=diff)


# --- uploads kept between the steps of a two-step import -------------------------------------

PENDING_UPLOAD_TTL = timedelta(hours=1)


def pending_upload_store(*, user, purpose: str, content: bytes) -> str:
    """Keep an uploaded file server-side; returns the single-use token the next step presents."""
    import hashlib

    now = timezone.now()
    PendingUpload.objects.filter(expires_at__lt=now).delete()
    token = secrets.token_urlsafe(32)
    PendingUpload.objects.create(token_hash=hashlib.sha256(token.encode()).hexdigest(), user=user, purpose=purpose,
                                 content=content, created_at=now, expires_at=now + PENDING_UPLOAD_TTL)
    return token


def pending_upload_take(*, user, purpose: str, token: str) -> bytes | None:
    """The file behind a token, removed (single use); None when unknown, expired or another user's."""
    import hashlib

    if not token:
        return None
    rows = PendingUpload.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest(), purpose=purpose,
                                        user=user, expires_at__gte=timezone.now())
    row = rows.first()
    if row is None or not PendingUpload.objects.filter(pk=row.pk).delete()[0]:
        return None  # a concurrent confirm took it first
    return bytes(row.content)


def pending_upload_read(*, user, purpose: str, token: str) -> bytes | None:
    """The file behind a token, left in place (the bulk import preview reads it again at confirm); None when
    unknown, expired or another user's."""
    import hashlib

    if not token or user is None:
        return None
    row = PendingUpload.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest(), purpose=purpose,
                                       user=user, expires_at__gte=timezone.now()).first()
    return None if row is None else bytes(row.content)


def pending_upload_discard(*, user, purpose: str, token: str) -> None:
    import hashlib

    if token and user is not None:
        PendingUpload.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest(), purpose=purpose, user=user).delete()


def integrations_rotate_credentials() -> int:
    """Re-encrypt every stored credentials token under the first key, all or nothing."""
    from integrations import crypto

    count = 0
    with transaction.atomic():
        for integration in Integration.objects.exclude(credentials_encrypted="").only("pk", "credentials_encrypted").iterator():
            rotated = crypto.rotate(integration.credentials_encrypted)
            Integration.objects.filter(pk=integration.pk).update(credentials_encrypted=rotated)
            count += 1
    return count


def integration_mark_error(*, integration: Integration, message: str) -> None:
    message = redact(message)
    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.ERROR, last_error=message[:2000],
                                                         last_error_at=timezone.now())
    integration.status, integration.last_error = Integration.Status.ERROR, message[:2000]
    exception_raise(category=OpsException.Category.CONNECTOR, code="auth", integration=integration,
                    message=message, dedup_key=f"connector:auth:{integration.pk}")


def integration_mark_connected(*, integration: Integration) -> None:
    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.CONNECTED, last_error="", last_error_at=None)
    integration.status, integration.last_error = Integration.Status.CONNECTED, ""
    exceptions_resolve(dedup_keys=[f"connector:auth:{integration.pk}"], note="connection succeeded")


def integration_test_connection(*, integration: Integration) -> tuple[bool, str]:
    """Call the connector's tester; Connected on success, Error with the message otherwise."""
    dotted = integration.spec.connection_tester
    if not dotted:
        return False, f"{integration.spec.label} has no connection test."
    try:
        message = registry.import_string(dotted)(integration) or "Connection OK"
    except (AuthError, PermanentError, TransientError) as exc:
        integration_mark_error(integration=integration, message=str(exc))
        return False, str(exc)
    integration_mark_connected(integration=integration)
    return True, message


# --- flow states ----------------------------------------------------------------------------

def flow_states_ensure(*, integration: Integration) -> list[FlowState]:
    """Create a FlowState per declared flow (idempotent), switched per its enable setting."""
    states = []
    for spec in integration.spec.flows:
        state, _ = FlowState.objects.get_or_create(
            integration=integration, flow=spec.code,
            defaults={"interval": spec.default_interval, "enabled": _switch_value(integration, spec),
                      "next_run_at": timezone.now()},
        )
        states.append(state)
    return states


def _switch_value(integration: Integration, spec: registry.FlowSpec) -> bool:
    if spec.enable_setting is None:
        return False
    value = integration.setting(spec.enable_setting)
    return value == spec.enable_value if spec.enable_value else bool(value)


def flow_states_sync_switches(*, integration: Integration) -> None:
    """Keep FlowState.enabled in step with the flow's on/off setting."""
    flow_states_ensure(integration=integration)
    for spec in integration.spec.flows:
        if spec.enable_setting is None:
            continue
        FlowState.objects.filter(integration=integration, flow=spec.code).exclude(
            enabled=_switch_value(integration, spec)).update(enabled=_switch_value(integration, spec))


def flow_state_reset_cursor(*, flow_state: FlowState, user=None, cursor: dict | None = None) -> None:
    before = flow_state.cursor
    flow_state.cursor = cursor or {}
    flow_state.save(update_fields=["cursor"])
    SettingsChange.objects.create(integration=flow_state.integration, user=user, source=SettingsChange.Source.ADMIN,
                                  summary=f"cursor of {flow_state.flow} reset",
                                  diff={"cursor": {flow_state.flow: [before, flow_state.cursor]}})


def flow_state_force_resync(*, flow_state: FlowState, user=None) -> None:
    """The next run ignores cursor and fingerprints once; that run is enqueued now. If the enqueue is
    lost, the flag stays set and the next scheduled run does the resync."""
    FlowState.objects.filter(pk=flow_state.pk).update(force_full=True)
    SettingsChange.objects.create(integration=flow_state.integration, user=user, source=SettingsChange.Source.ADMIN,
                                  summary=f"force resync of {flow_state.flow}", diff={"force_resync": flow_state.flow})
    flow_run_enqueue(flow_state=flow_state, trigger=SyncRun.Trigger.ADMIN, user=user)


# --- targeted work: the outbox ----------------------------------------------------------------

def _params_merge(current: dict, extra: dict) -> dict:
    merged = {k: list(v) for k, v in (current or {}).items()}
    for key, ids in (extra or {}).items():
        merged[key] = sorted(set(merged.get(key, [])) | {str(i) for i in ids})
    return {k: v for k, v in merged.items() if v}


def _params_subtract(current: dict, done: dict) -> dict:
    left = {}
    for key, ids in (current or {}).items():
        rest = sorted(set(ids) - {str(i) for i in (done or {}).get(key, [])})
        if rest:
            left[key] = rest
    return left


def flow_pending_add(*, flow_state: FlowState, params: dict, now: datetime | None = None) -> dict:
    """Queue targeted work (e.g. {"order_ids": [...]}) on the flow's outbox, inside the caller's transaction
    (a webhook's receipt and the work it asks for commit together). Returns the pending set."""
    now = now or timezone.now()
    with transaction.atomic():
        row = FlowState.objects.select_for_update().only("pk", "pending_params", "pending_run_at").get(pk=flow_state.pk)
        merged = _params_merge(row.pending_params, params)
        FlowState.objects.filter(pk=row.pk).update(pending_params=merged, pending_run_at=row.pending_run_at or now)
    flow_state.pending_params = merged
    return merged


def flow_pending_enqueue(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.WEBHOOK) -> None:
    """After commit, enqueue a drain of the flow's outbox. Best effort: when the broker is down the work
    stays pending and flows_dispatch_due enqueues it later."""
    pk, integration_id = flow_state.pk, flow_state.integration_id
    name = f"{integration_id}:{flow_state.flow}:pending"

    def _enqueue() -> None:
        from django_q.tasks import async_task

        try:
            async_task("integrations.tasks.flow_run_pending_task", pk, trigger, task_name=name,
                       group=f"integration-{integration_id}")
        except Exception:  # noqa: BLE001 — broker down: the outbox row stays, the dispatcher retries
            logger.warning("flow.pending_enqueue_failed flow_state=%s", pk, exc_info=True)

    transaction.on_commit(_enqueue)


def flow_targeted_request(*, flow_state: FlowState, params: dict, trigger: str = SyncRun.Trigger.WEBHOOK) -> dict:
    """Ask for a targeted run: the ids go to the outbox in the caller's transaction; a drain is enqueued
    after commit. Runs colliding with a running poll coalesce here instead of being skipped."""
    pending = flow_pending_add(flow_state=flow_state, params=params)
    flow_pending_enqueue(flow_state=flow_state, trigger=trigger)
    return pending


def flow_run_pending(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.WEBHOOK, user=None) -> SyncRun | None:
    """Drain the flow's outbox in one targeted run. None (nothing recorded) when nothing is pending or the
    flow is running: the running flow enqueues the drain when it finishes, the dispatcher is the safety net.

    The ids are moved to `pending_inflight` when the run starts (ids queued meanwhile wait for the next
    drain, even an id already being drained: its new change may come after our read), put back when the
    run fails, and recovered by the next drain if the worker died."""
    lease = flow_lease_claim(flow_state=flow_state)
    if lease is None:
        return None
    with transaction.atomic():
        row = FlowState.objects.select_for_update().get(pk=flow_state.pk)
        params = _params_merge(row.pending_params, row.pending_inflight)  # inflight left by a dead worker
        if params:
            FlowState.objects.filter(pk=row.pk).update(pending_params={}, pending_inflight=params,
                                                       pending_run_at=timezone.now() + PENDING_REDISPATCH)
    if not params:
        flow_lease_release(flow_state=flow_state, lease=lease)
        return None
    flow_state.refresh_from_db()
    return _flow_run_leased(flow_state=flow_state, lease=lease, trigger=trigger, user=user, params=params,
                            dry_run=False, drains_pending=True)


# --- running --------------------------------------------------------------------------------

@dataclass
class Lease:
    token: str
    expires_at: datetime


def flow_lease_claim(*, flow_state: FlowState, now: datetime | None = None, dispatched: bool = False) -> Lease | None:
    """Compare-and-set claim; expiring so a killed worker does not block the flow forever. `dispatched`: this is the
    dispatcher's queued run starting (its mark is cleared in the same statement)."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=dj_settings.FLOW_LEASE_SECONDS)
    claimed = FlowState.objects.filter(pk=flow_state.pk).filter(
        Q(lease_token="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    ).update(lease_token=token, lease_expires_at=expires, **({"dispatched_at": None} if dispatched else {}))
    return Lease(token, expires) if claimed else None


# The clocks of the machines running workers may differ by this much (NTP keeps them far closer).
LEASE_CLOCK_SKEW = timedelta(seconds=60)


def flow_lease_unbroken(*, ctx) -> bool:
    """No other worker can have started this flow since this run took its lease: the lease is still ours and its
    expiry more than the clock skew away (another worker claims a flow only once its lease has expired; renewals
    happen between pages, so it cannot have lapsed and come back within one). A push that has just created a remote
    record without an idempotency key asks this before reading back for a concurrent duplicate: unbroken, there was
    no concurrent run of this flow; a retry of an attempt in doubt reads back whatever this says. One query."""
    if not ctx.lease_token:
        return False
    return FlowState.objects.filter(pk=ctx.flow_state.pk, lease_token=ctx.lease_token,
                                    lease_expires_at__gt=timezone.now() + LEASE_CLOCK_SKEW).exists()


def flow_lease_renew(*, flow_state: FlowState, lease: Lease) -> bool:
    expires = timezone.now() + timedelta(seconds=dj_settings.FLOW_LEASE_SECONDS)
    ok = FlowState.objects.filter(pk=flow_state.pk, lease_token=lease.token).update(lease_expires_at=expires)
    lease.expires_at = expires
    return bool(ok)


def flow_lease_release(*, flow_state: FlowState, lease: Lease) -> None:
    FlowState.objects.filter(pk=flow_state.pk, lease_token=lease.token).update(lease_token="", lease_expires_at=None)


class LeaseLost(Exception):
    """Another worker took the flow over (our lease expired); stop without moving the cursor."""


def backoff_seconds(failures: int, *, retry_after: float | None = None) -> float:
    """Full jitter exponential backoff, honouring Retry-After as a lower bound."""
    cap = dj_settings.FLOW_BACKOFF_CAP_SECONDS
    ceiling = min(cap, dj_settings.FLOW_BACKOFF_BASE_SECONDS * (2 ** max(0, failures - 1)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def redact(text: str, *, integration: Integration | None = None) -> str:
    """Remove credential values (and secret-named parameters) from an error text or traceback: the one rule of
    integrations/redaction.py (every secret seen so far) plus this integration's own stored credentials."""
    text = redaction.redact(text or "")
    if integration is not None:
        try:
            values = [str(v) for v in integration.get_credentials().values() if v and len(str(v)) >= 4]
        except Exception:  # noqa: BLE001 — undecryptable credentials: nothing to redact with
            values = []
        for value in sorted(values, key=len, reverse=True):
            text = text.replace(value, redaction.MASK)
    return text


def flow_run(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.SCHEDULE, user=None,
             dry_run: bool = False, params: dict | None = None) -> SyncRun:
    """Run one flow: claim, record, page → apply + cursor per transaction, classify, release. The four
    connector error classes end in a failed run returned; anything else is recorded as a failed run the
    same way and then re-raised.

    With `params` the run is *targeted* (webhook, record retry): it never moves the cursor, consumes no
    force-resync, and neither pushes back nor counts towards the scheduled poll. A targeted run that finds
    the flow busy queues its ids on the outbox: nothing is lost. Any run that finds the flow busy is *folded* into the
    running one (see _flow_run_folded): no skipped row each time."""
    lease = flow_lease_claim(flow_state=flow_state, dispatched=trigger == SyncRun.Trigger.SCHEDULE)
    if lease is None:
        return _flow_run_folded(flow_state=flow_state, trigger=trigger, user=user, dry_run=dry_run, params=params)
    flow_state.refresh_from_db()
    return _flow_run_leased(flow_state=flow_state, lease=lease, trigger=trigger, user=user, params=params or {},
                            dry_run=dry_run, drains_pending=False)


def _flow_run_folded(*, flow_state: FlowState, trigger: str, user, dry_run: bool, params: dict | None) -> SyncRun:
    """The flow is running (another worker holds its lease). Instead of a skipped row per collision (a webhook burst
    wrote hundreds): targeted ids go to the outbox (the running run enqueues their drain when it ends); any other
    request marks the flow to run again once after the running run (FlowState.rerun_requested); the running run
    counts it (SyncRun.coalesced). Returns an unsaved SyncRun with status skipped that says what happened. A dry
    run asks for nothing."""
    note = "already running (lease held)"
    if not dry_run:
        if params:
            flow_targeted_request(flow_state=flow_state, params=params, trigger=trigger)
            note = "flow busy: targeted ids queued for the next targeted run"
        else:  # a queued scheduled run folded in here has started, as far as the dispatcher is concerned
            FlowState.objects.filter(pk=flow_state.pk).update(
                rerun_requested=True, **({"dispatched_at": None} if trigger == SyncRun.Trigger.SCHEDULE else {}))
            note = "already running (lease held): it runs again once when it finishes"
        SyncRun.objects.filter(flow_state=flow_state, status=SyncRun.Status.RUNNING).update(coalesced=F("coalesced") + 1)
    return SyncRun(flow_state=flow_state, integration=flow_state.integration, flow=flow_state.flow, trigger=trigger,
                   triggered_by=user, status=SyncRun.Status.SKIPPED, dry_run=dry_run, finished_at=timezone.now(), note=note)


def _flow_run_leased(*, flow_state: FlowState, lease: Lease, **kwargs) -> SyncRun:
    token = _CURRENT_FLOW.set((flow_state.integration_id, flow_state.flow))
    try:
        return _flow_run_body(flow_state=flow_state, lease=lease, **kwargs)
    finally:
        _CURRENT_FLOW.reset(token)


def _flow_run_body(*, flow_state: FlowState, lease: Lease, trigger: str, user, params: dict, dry_run: bool,
                   drains_pending: bool) -> SyncRun:
    integration = flow_state.integration
    now = timezone.now()
    targeted = bool(params)
    run = SyncRun.objects.create(flow_state=flow_state, integration=integration, flow=flow_state.flow, trigger=trigger,
                                 triggered_by=user, dry_run=dry_run, cursor_before=flow_state.cursor,
                                 note=f"targeted: {params}"[:255] if targeted else "")
    FlowState.objects.filter(pk=flow_state.pk).update(last_started_at=now)
    result = FlowResult()
    counter = CallCounter()
    ctx = FlowContext(integration=integration, flow_state=flow_state, run=run, started_at=now, dry_run=dry_run,
                      force_full=flow_state.force_full and not targeted, counter=counter, params=params,
                      lease_token=lease.token)
    cursor = dict(flow_state.cursor or {})
    error: BaseException | None = None
    try:
        skip_reason = _cannot_run_reason(integration)
        if skip_reason:
            run.status, run.note = SyncRun.Status.SKIPPED, skip_reason
        else:
            flow = registry.import_string(flow_state.spec.flow_class)(ctx)
            for page in flow.pages(cursor if not ctx.force_full else {}):
                if not flow_lease_renew(flow_state=flow_state, lease=lease):
                    raise LeaseLost("lease lost; another worker owns this flow now")
                moved = _apply_page(flow=flow, page=page, result=result, flow_state=flow_state, dry_run=dry_run,
                                    lease=lease, targeted=targeted)
                if not targeted:
                    cursor = moved
                run.pages += 1
    except (TransientError, AuthError, PermanentError, LeaseLost) as exc:
        error = exc
    except BaseException as exc:  # noqa: BLE001 — anything unexpected fails the run, never "succeeds" it
        error = exc
        # With its traceback; every log record is redacted as it is made (integrations.redaction).
        logger.exception("flow.crashed integration=%s flow=%s run=%s: %s", integration.pk, flow_state.flow, run.pk,
                         redact(f"{type(exc).__name__}: {exc}", integration=integration))
        # Recorded as failed (counted, backed off, lease released), then raised to the caller: the task is
        # failed in django-q2 too, and a timeout (SystemExit) still stops the worker.
        _finish_run(run=run, flow_state=flow_state, result=result, counter=counter, cursor=cursor, error=error,
                    dry_run=dry_run, lease=lease, params=params, drains_pending=drains_pending)
        raise
    _finish_run(run=run, flow_state=flow_state, result=result, counter=counter, cursor=cursor, error=error,
                dry_run=dry_run, lease=lease, params=params, drains_pending=drains_pending)
    return run


def _cannot_run_reason(integration: Integration) -> str:
    if not integration.is_active:
        return "integration is inactive"
    if integration.paused_reason:
        return f"integration paused: {integration.paused_reason}"
    return ""


def _apply_page(*, flow, page, result: FlowResult, flow_state: FlowState, dry_run: bool, lease: Lease,
                targeted: bool = False) -> dict:
    """The page's writes, its record exceptions and the cursor commit together, or not at all. A targeted
    run never writes the cursor (it read ids, not the poll's window)."""
    first_error = len(result.errors)
    try:
        with transaction.atomic():
            flow.apply(page, result)
            _page_record_exceptions(flow=flow, page=page, errors=result.errors[first_error:], flow_state=flow_state)
            if dry_run:
                raise DryRunRollback
            if targeted:
                moved = FlowState.objects.filter(pk=flow_state.pk, lease_token=lease.token).exists()
            else:
                moved = FlowState.objects.filter(pk=flow_state.pk, lease_token=lease.token).update(cursor=page.next_cursor)
            if not moved:
                raise LeaseLost("lease lost before the page could commit")
    except DryRunRollback:
        pass
    return page.next_cursor


# --- skipped records: one exception per (integration, flow, external id) ----------------------------

RECORD_SKIPPED = "record_skipped"


def record_exception_key(*, integration_id: int, flow: str, external_id: str) -> str:
    return f"record:{integration_id}:{flow}:{external_id}"


def _page_record_exceptions(*, flow, page, errors: list[dict], flow_state: FlowState) -> None:
    """Pull flows: every record skipped on this page opens/bumps its exception (raw payload kept for the
    retry); every record of the page applied without error resolves its own."""
    spec = flow_state.spec
    if spec.direction != "pull":
        return
    integration = flow_state.integration
    failed: set[str] = set()
    for error in errors:
        external_id = str(error.get("external_id") or "")
        if not external_id:
            basis = error.get("payload") if error.get("payload") is not None else error.get("message", "")
            external_id = "hash:" + payload_hash(basis)[:16]
        failed.add(external_id)
        if error.get("no_exception"):
            continue
        details = {"flow": flow_state.flow, "external_id": external_id, "field": error.get("field", ""),
                   "message": error.get("message", ""), "run": flow_state_run_id(flow)}
        if error.get("payload") is not None:
            details["payload"] = error["payload"]
        exception_raise(
            category=OpsException.Category.INGESTION, code=RECORD_SKIPPED, integration=integration,
            dedup_key=record_exception_key(integration_id=integration.pk, flow=flow_state.flow, external_id=external_id),
            cause_key=f"{flow_state.flow}:{external_id}"[:191], details=details,
            message=f"{spec.label}: {external_id} was skipped: {error.get('field') + ': ' if error.get('field') else ''}"
                    f"{error.get('message', '')}"[:2000])
    applied = {flow.item_external_id(item) for item in page.items} - failed - {""}
    if applied:
        exceptions_resolve(dedup_keys=[record_exception_key(integration_id=integration.pk, flow=flow_state.flow,
                                                            external_id=e) for e in applied],
                           note="record applied by a later run")


def flow_state_run_id(flow) -> int | None:
    run = getattr(getattr(flow, "ctx", None), "run", None)
    return getattr(run, "pk", None)


def record_exceptions_redrive(*, exceptions: Iterable[OpsException], user=None) -> int:
    """Retry skipped records: each id goes to its flow's outbox (targeted run) — or, for a flow that cannot
    target ids, a forced resync. The exception resolves itself when the record is applied. Returns how
    many records were queued."""
    queued = 0
    for exc in exceptions:
        if exc.code != RECORD_SKIPPED or exc.status != OpsException.Status.OPEN or exc.integration_id is None:
            continue
        flow, external_id = exc.details.get("flow", ""), exc.details.get("external_id", "")
        state = FlowState.objects.select_related("integration").filter(integration_id=exc.integration_id, flow=flow).first()
        if state is None:
            continue
        try:
            target_param = state.spec.target_param
        except KeyError:
            continue
        if target_param and not external_id.startswith("hash:"):
            flow_targeted_request(flow_state=state, params={target_param: [external_id]}, trigger=SyncRun.Trigger.RETRY)
        else:
            flow_state_force_resync(flow_state=state, user=user)
        OpsException.objects.filter(pk=exc.pk).update(
            details={**exc.details, "retried_by": getattr(user, "username", "") or "system",
                     "retried_at": timezone.now().isoformat()})
        queued += 1
    return queued


def _finish_run(*, run: SyncRun, flow_state: FlowState, result: FlowResult, counter: CallCounter, cursor: dict,
                error: BaseException | None, dry_run: bool, lease: Lease, params: dict | None = None,
                drains_pending: bool = False) -> None:
    now = timezone.now()
    targeted = bool(params)
    integration = flow_state.integration
    for name in ("fetched", "created", "updated", "unchanged", "failed"):
        setattr(run, name, getattr(result, name))
    run.errors = [{k: v for k, v in e.items() if k not in ("payload", "no_exception")}
                  for e in result.errors[: SyncRun.MAX_RECORD_ERRORS]]
    run.api_calls = counter.count
    run.finished_at = now
    run.cursor_after = cursor if not (dry_run or targeted) else run.cursor_before
    state_updates: dict[str, Any] = {}
    if error is None:
        if run.status != SyncRun.Status.SKIPPED:
            run.status = SyncRun.Status.PARTIAL if result.failed else SyncRun.Status.SUCCEEDED
            if not dry_run and not targeted:
                state_updates.update(consecutive_failures=0, last_error="", last_succeeded_at=now,
                                     next_run_at=now + flow_state.interval, force_full=False)
                exceptions_resolve(dedup_keys=[f"connector:outage:{flow_state.pk}"], note="flow succeeded")
    else:
        message = redact(str(error) or type(error).__name__, integration=integration)
        run.status = SyncRun.Status.FAILED
        run.error_class = type(error).__name__
        run.error_message = message[:4000]
        if isinstance(error, AuthError):
            integration_mark_error(integration=integration, message=message)
        if not targeted:
            failures = flow_state.consecutive_failures + 1
            state_updates.update(consecutive_failures=failures, last_error=message[:2000], last_failed_at=now)
            if isinstance(error, (AuthError, PermanentError)):
                state_updates["next_run_at"] = now + flow_state.interval
            else:  # transient, lease lost, or anything unexpected: back off, alert from the third failure
                retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
                state_updates["next_run_at"] = now + timedelta(seconds=backoff_seconds(failures, retry_after=retry_after))
                if failures >= 3 and not isinstance(error, LeaseLost):
                    code = ("rate_limited" if isinstance(error, RateLimitedError) else
                            "outage" if isinstance(error, TransientError) else "flow_error")
                    exception_raise(category=OpsException.Category.CONNECTOR, code=code, integration=integration,
                                    dedup_key=f"connector:outage:{flow_state.pk}",
                                    message=f"{flow_state.flow} failed {failures} times in a row: "
                                            f"{type(error).__name__}: {message}"[:2000])
        logger.warning("flow.failed", extra={"integration": integration.pk, "flow": flow_state.flow,
                                             "error_class": run.error_class, "targeted": targeted})
    run.save(update_fields=_RUN_FINISH_FIELDS)  # not `coalesced`: colliding requests count it meanwhile
    with transaction.atomic():
        if state_updates:
            FlowState.objects.filter(pk=flow_state.pk).update(**state_updates)
        row = FlowState.objects.select_for_update().only(
            "pk", "pending_params", "pending_inflight", "pending_failures", "pending_run_at", "rerun_requested", "enabled",
        ).get(pk=flow_state.pk)
        more_pending = _pending_after_run(row=row, params=params or {}, drains_pending=drains_pending,
                                          error=error, dry_run=dry_run, now=now)
        rerun = _rerun_after_run(row=row, error=error, now=now)
        flow_lease_release(flow_state=flow_state, lease=lease)
        if more_pending:
            flow_pending_enqueue(flow_state=flow_state)
        if rerun:
            flow_run_enqueue(flow_state=flow_state, trigger=SyncRun.Trigger.RETRY, on_failure=lambda: None)
    logger.info("flow.finished", extra={"integration": integration.pk, "flow": flow_state.flow, "status": run.status,
                                        "fetched": run.fetched, "records_created": run.created,
                                        "records_updated": run.updated})


_RUN_FINISH_FIELDS = [f.name for f in SyncRun._meta.concrete_fields if f.name not in ("id", "coalesced")]


def _rerun_after_run(*, row: FlowState, error, now: datetime) -> bool:
    """Settle a re-run asked for while this run held the lease (inside the finish transaction, before the lease is
    released). Cleared in every case; after a success an enabled flow is made due now (the dispatcher runs it within
    a minute), a disabled one (Run now) is enqueued directly (True). After a failure the flow's back-off decides
    when it runs again, so nothing more is asked."""
    if not row.rerun_requested:
        return False
    if error is not None:
        FlowState.objects.filter(pk=row.pk).update(rerun_requested=False)
        return False
    if row.enabled:
        FlowState.objects.filter(pk=row.pk).update(rerun_requested=False, next_run_at=now)
        return False
    FlowState.objects.filter(pk=row.pk).update(rerun_requested=False)
    return True


def _pending_after_run(*, row: FlowState, params: dict, drains_pending: bool, error, dry_run: bool,
                       now: datetime) -> bool:
    """Settle the outbox when a run ends (`row`: the flow state, locked and re-read in the finish transaction); True
    when targeted work is waiting (enqueue a drain now)."""
    if not drains_pending:  # ids arrived while this run held the lease: drain them now (unless backing off)
        return bool(row.pending_params) and (row.pending_run_at is None or row.pending_run_at <= now)
    if error is None:
        FlowState.objects.filter(pk=row.pk).update(pending_inflight={}, pending_failures=0,
                                                   pending_run_at=now if row.pending_params else None)
        return bool(row.pending_params)
    failures = row.pending_failures + 1
    retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
    FlowState.objects.filter(pk=row.pk).update(
        pending_params=_params_merge(row.pending_params, row.pending_inflight), pending_inflight={},
        pending_failures=failures,
        pending_run_at=now + timedelta(seconds=backoff_seconds(failures, retry_after=retry_after)))
    return False


def flow_run_enqueue(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.ADMIN, user=None,
                     params: dict | None = None, on_failure=None) -> None:
    """Enqueue a run after the current transaction commits. When the broker refuses and `on_failure` is
    given, it is called (and the error logged) instead of raising."""
    from django_q.tasks import async_task

    user_id = user.pk if user is not None else None

    def _enqueue() -> None:
        try:
            async_task("integrations.tasks.flow_run_task", flow_state.pk, trigger, user_id, params or {},
                       task_name=f"{flow_state.integration_id}:{flow_state.flow}:{trigger}",
                       group=f"integration-{flow_state.integration_id}")
        except Exception:
            if on_failure is None:
                raise
            logger.warning("flow.enqueue_failed flow_state=%s", flow_state.pk, exc_info=True)
            on_failure()

    transaction.on_commit(_enqueue)


def _slot_back(*, pk: int, claimed: datetime, previous: datetime):
    """The dispatcher's enqueue failed (broker down): hand the slot back (compare-and-set) so the next tick
    tries again instead of the poll waiting a whole interval."""
    return lambda: FlowState.objects.filter(pk=pk, next_run_at=claimed).update(next_run_at=previous, dispatched_at=None)


# How long an enqueued drain may take to start before the dispatcher enqueues another one.
PENDING_REDISPATCH = timedelta(minutes=5)


# The dispatcher's tick (integrations/schedules.py runs it twice a minute). A flow runs at the tick nearest its due
# time: one due less than half a tick ahead is claimed now, so a 30-s interval runs every 30 s, not every minute.
DISPATCH_TICK = timedelta(seconds=30)
# A scheduled run enqueued this long ago and not started is taken for lost (its queue flushed, say): the flow is
# enqueued again. django-q2's task timeout: a run that waited longer would be killed anyway.
DISPATCH_STALE = timedelta(seconds=dj_settings.Q_CLUSTER["timeout"])


def flows_dispatch_due(*, now: datetime | None = None, enqueue: bool = True) -> list[int]:
    """Enqueue every enabled, due flow of an active integration (due by the next half tick). The next-run time
    is pushed forward with a compare-and-set, so several dispatchers never enqueue the same flow twice. With
    `enqueue=False` the claimed flow-state ids are only returned (the caller runs them inline).

    Fair under a backlog: the queue is first in, first out, so flows are enqueued by due time, the longest due
    first (ties: the least recently started first), never by integration name.

    Also the outbox's safety net: every flow with targeted work pending whose time came gets a drain
    enqueued (compare-and-set on pending_run_at), whether or not its immediate enqueue worked."""
    now = now or timezone.now()
    runnable = (FlowState.objects.filter(enabled=True, integration__is_active=True)
                .exclude(integration__status=Integration.Status.ERROR).filter(integration__paused_reason=""))
    due = list(runnable.filter(next_run_at__lte=now + DISPATCH_TICK / 2)
               .exclude(dispatched_at__gt=now - DISPATCH_STALE)  # its run still waits in the queue
               .order_by("next_run_at", F("last_started_at").asc(nulls_first=True), "pk")
               .values_list("pk", "next_run_at", "interval"))
    dispatched = []
    for pk, next_run_at, interval in due:
        won = FlowState.objects.filter(pk=pk, next_run_at=next_run_at).update(
            next_run_at=now + interval, **({"dispatched_at": now} if enqueue else {}))
        if won:
            dispatched.append(pk)
            if enqueue:
                state = FlowState.objects.select_related("integration").get(pk=pk)
                flow_run_enqueue(flow_state=state, trigger=SyncRun.Trigger.SCHEDULE,
                                 on_failure=_slot_back(pk=pk, claimed=now + interval, previous=next_run_at))
    if enqueue:
        pending = list(runnable.filter(pending_run_at__lte=now).values_list("pk", "pending_run_at"))
        for pk, pending_run_at in pending:
            if FlowState.objects.filter(pk=pk, pending_run_at=pending_run_at).update(pending_run_at=now + PENDING_REDISPATCH):
                flow_pending_enqueue(flow_state=FlowState.objects.select_related("integration").get(pk=pk))
    return dispatched


# --- single-flight periodic tasks ------------------------------------------------------------------

def task_lease_claim(*, name: str, seconds: int | None = None) -> str | None:
    """Claim the named task's lease (compare-and-set, expiring). None when another run holds it."""
    from integrations.models import TaskLease

    now = timezone.now()
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=seconds or dj_settings.FLOW_LEASE_SECONDS)
    TaskLease.objects.get_or_create(name=name)
    claimed = TaskLease.objects.filter(name=name).filter(
        Q(token="") | Q(expires_at__lt=now) | Q(expires_at__isnull=True)).update(token=token, expires_at=expires)
    return token if claimed else None


def task_lease_release(*, name: str, token: str) -> None:
    from integrations.models import TaskLease

    TaskLease.objects.filter(name=name, token=token).update(token="", expires_at=None)


def single_flight(name: str):
    """Decorator for periodic tasks: one run at a time across workers; a duplicate delivery returns None."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            token = task_lease_claim(name=name)
            if token is None:
                logger.info("task.skipped_lease_held", extra={"task": name})
                return None
            try:
                return fn(*args, **kwargs)
            finally:
                task_lease_release(name=name, token=token)
        return inner
    return wrap


# --- housekeeping ----------------------------------------------------------------------------------

def housekeeping_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete failed django-q2 task rows and sync runs past their retention (django-q2 keeps every failure
    for ever; save_limit only bounds successes), and webhook rate-limit counters older than a day. The latest run
    of each flow is always kept.

    Run retention: every run is kept SYNC_RUN_SUCCESS_RETENTION_DAYS (7); after that, succeeded and skipped runs
    are thinned to a sample, the first run of each flow in each hour (the log still shows the flow ran, and how
    long it took, through the whole retention); failed and partial runs are kept whole; everything older than
    SYNC_RUN_RETENTION_DAYS (90) goes."""
    from django.db.models import Max, Min
    from django.db.models.functions import TruncHour
    from django_q.models import Task

    now = now or timezone.now()
    failed_cutoff = now - timedelta(days=dj_settings.Q_FAILED_TASK_RETENTION_DAYS)
    runs_cutoff = now - timedelta(days=dj_settings.SYNC_RUN_RETENTION_DAYS)
    sample_cutoff = now - timedelta(days=dj_settings.SYNC_RUN_SUCCESS_RETENTION_DAYS)
    failed, _ = Task.objects.filter(success=False, stopped__lt=failed_cutoff).delete()
    latest = FlowState.objects.annotate(last_run=Max("runs__pk")).values_list("last_run", flat=True)
    keep = [pk for pk in latest if pk is not None]
    runs, _ = SyncRun.objects.filter(started_at__lt=runs_cutoff).exclude(pk__in=keep).delete()
    quiet = SyncRun.objects.filter(status__in=(SyncRun.Status.SUCCEEDED, SyncRun.Status.SKIPPED), started_at__lt=sample_cutoff)
    sample = (quiet.annotate(hour=TruncHour("started_at")).values("flow_state_id", "hour").annotate(first=Min("pk"))
              .values("first"))
    thinned, _ = quiet.exclude(pk__in=keep).exclude(pk__in=sample).delete()
    return {"failed_tasks": failed, "sync_runs": runs + thinned, "rate_limit_counters": rate_limit_counters_prune(now=now)}


# --- bindings -------------------------------------------------------------------------------

def external_refs_get(*, integration: Integration, kind: str, external_ids: Iterable[str]) -> dict[str, ExternalRef]:
    """One query for a whole page."""
    ids = [str(e) for e in external_ids]
    return {r.external_id: r for r in ExternalRef.objects.filter(integration=integration, kind=kind, external_id__in=ids)}


def external_refs_bind(*, integration: Integration, kind: str, rows: list[dict]) -> None:
    """Bulk upsert bindings on (integration, kind, external_id): one statement per page (`bulk_insert.rows_upsert`,
    past `bulk_create`'s per-value preparation). Each row: external_id, local (model instance or None),
    remote_updated_at, payload_hash. Rows are de-duplicated (last wins) first, because an upsert may not touch one
    key twice."""
    if not rows:
        return
    now = timezone.now()
    content_types: dict[type, int] = {}
    unique: dict[str, dict] = {}
    for row in rows:
        local = row.get("local")
        if local is not None and type(local) not in content_types:
            content_types[type(local)] = ContentType.objects.get_for_model(local).pk
        external_id = str(row["external_id"])
        unique[external_id] = {
            "integration_id": integration.pk, "kind": kind, "external_id": external_id,
            "content_type_id": content_types[type(local)] if local is not None else None,
            "object_id": local.pk if local is not None else None,
            "remote_updated_at": row.get("remote_updated_at"), "payload_hash": row.get("payload_hash", ""), "synced_at": now,
        }
    rows_upsert(ExternalRef, list(unique.values()), unique=["integration_id", "kind", "external_id"],
                update=["content_type_id", "object_id", "remote_updated_at", "payload_hash", "synced_at"], now=now)


def is_up_to_date(ref: ExternalRef | None, *, remote_updated_at: datetime | None, payload_hash: str) -> bool:
    """OCA's _is_uptodate: skip records older than the binding or with an unchanged payload."""
    if ref is None:
        return False
    if ref.payload_hash and ref.payload_hash == payload_hash:
        return True
    if ref.remote_updated_at and remote_updated_at and remote_updated_at < ref.remote_updated_at:
        return True
    return False


# --- exceptions -----------------------------------------------------------------------------

def exception_raise(*, category: str, code: str, message: str, dedup_key: str, integration: Integration | None = None,
                    entity: models.Model | None = None, cause_key: str = "", details: dict | None = None) -> OpsException:
    """One open exception per dedup key: a repeat bumps count and last seen. The message is redacted."""
    message = redact(message)
    now = timezone.now()
    existing = OpsException.objects.filter(dedup_key=dedup_key, status=OpsException.Status.OPEN).first()
    if existing:
        OpsException.objects.filter(pk=existing.pk).update(count=F("count") + 1, last_seen_at=now, message=message)
        existing.refresh_from_db()
        return existing
    details = dict(details or {})
    current = _CURRENT_FLOW.get()
    if current and integration is not None and current[0] == integration.pk:
        details.setdefault("flow", current[1])
    fields = dict(category=category, code=code, message=message, dedup_key=dedup_key, integration=integration,
                  cause_key=cause_key, details=details, first_seen_at=now, last_seen_at=now)
    if entity is not None:
        fields.update(content_type=ContentType.objects.get_for_model(entity), object_id=entity.pk, entity_label=str(entity)[:191])
    try:
        with transaction.atomic():
            return OpsException.objects.create(**fields)
    except IntegrityError:  # raced with another worker raising the same exception
        OpsException.objects.filter(dedup_key=dedup_key, status=OpsException.Status.OPEN).update(count=F("count") + 1, last_seen_at=now)
        return OpsException.objects.get(dedup_key=dedup_key, status=OpsException.Status.OPEN)


def exceptions_resolve(*, dedup_keys: Iterable[str], note: str = "cause cleared", user=None) -> int:
    keys = list(dedup_keys)
    if not keys:
        return 0
    return OpsException.objects.filter(dedup_key__in=keys, status=OpsException.Status.OPEN).update(
        status=OpsException.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=user, resolution_note=note[:255])


def exception_set_status(*, exception: OpsException, status: str, user=None, note: str = "") -> None:
    exception.status = status
    exception.resolved_at = timezone.now()
    exception.resolved_by = user
    exception.resolution_note = note[:255]
    exception.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])


def exceptions_redrive_flows(*, exceptions: Iterable[OpsException], user=None) -> dict[str, int]:
    """The engine's part of Re-drive: skipped records are retried by a targeted run; any other open
    exception raised inside a flow run gets that flow enqueued now (once per flow). Each exception
    resolves itself when its flow gets past the cause."""
    selected = [e for e in exceptions if e.status == OpsException.Status.OPEN and e.integration_id]
    records = record_exceptions_redrive(exceptions=[e for e in selected if e.code == RECORD_SKIPPED], user=user)
    flows = {(e.integration_id, e.details.get("flow")) for e in selected
             if e.code != RECORD_SKIPPED and (e.details or {}).get("flow")}
    queued = 0
    for integration_id, flow in sorted(flows):
        state = FlowState.objects.select_related("integration").filter(integration_id=integration_id, flow=flow).first()
        if state is not None:
            flow_run_enqueue(flow_state=state, trigger=SyncRun.Trigger.RETRY, user=user)
            queued += 1
    return {"records": records, "flows": queued}
