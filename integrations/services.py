"""Integration services: run flows (lease, record, page/commit/cursor, classify), enqueue and
dispatch, credentials, settings, bindings, exceptions."""
from __future__ import annotations

import logging
import random
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
from integrations.flows import FlowContext, FlowResult
from integrations.http import CallCounter
from integrations.redaction import redact
from integrations.models import (ExternalRef, FlowState, Integration, OpsException, PendingUpload, SettingsChange,
                                 SyncRun)

logger = logging.getLogger("integrations.engine")


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
    diff = {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
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
                                  summary="credentials changed", diff={"credentials": {k: ["•••", "•••"] for k in changed}})
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
    return bool(integration.setting(spec.enable_setting))


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
    """Next run ignores cursor and fingerprints once; then runs now."""
    FlowState.objects.filter(pk=flow_state.pk).update(force_full=True, next_run_at=timezone.now())
    SettingsChange.objects.create(integration=flow_state.integration, user=user, source=SettingsChange.Source.ADMIN,
                                  summary=f"force resync of {flow_state.flow}", diff={"force_resync": flow_state.flow})


# --- running --------------------------------------------------------------------------------

@dataclass
class Lease:
    token: str
    expires_at: datetime


def flow_lease_claim(*, flow_state: FlowState, now: datetime | None = None) -> Lease | None:
    """Compare-and-set claim; expiring so a killed worker does not block the flow forever."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=dj_settings.FLOW_LEASE_SECONDS)
    claimed = FlowState.objects.filter(pk=flow_state.pk).filter(
        Q(lease_token="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    ).update(lease_token=token, lease_expires_at=expires)
    return Lease(token, expires) if claimed else None


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


def flow_run(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.SCHEDULE, user=None,
             dry_run: bool = False, params: dict | None = None) -> SyncRun:
    """Run one flow: claim, record, page → apply + cursor per transaction, classify, release."""
    integration = flow_state.integration
    now = timezone.now()
    lease = flow_lease_claim(flow_state=flow_state, now=now)
    if lease is None:
        return SyncRun.objects.create(flow_state=flow_state, integration=integration, flow=flow_state.flow, trigger=trigger,
                                      triggered_by=user, status=SyncRun.Status.SKIPPED, dry_run=dry_run, finished_at=now,
                                      note="already running (lease held)")
    flow_state.refresh_from_db()
    run = SyncRun.objects.create(flow_state=flow_state, integration=integration, flow=flow_state.flow, trigger=trigger,
                                 triggered_by=user, dry_run=dry_run, cursor_before=flow_state.cursor)
    FlowState.objects.filter(pk=flow_state.pk).update(last_started_at=now)
    result = FlowResult()
    counter = CallCounter()
    ctx = FlowContext(integration=integration, flow_state=flow_state, run=run, started_at=now, dry_run=dry_run,
                      force_full=flow_state.force_full, counter=counter, params=params or {})
    cursor = dict(flow_state.cursor or {})
    error: Exception | None = None
    try:
        skip_reason = _cannot_run_reason(integration)
        if skip_reason:
            run.status, run.note = SyncRun.Status.SKIPPED, skip_reason
        else:
            flow = registry.import_string(flow_state.spec.flow_class)(ctx)
            for page in flow.pages(cursor if not ctx.force_full else {}):
                if not flow_lease_renew(flow_state=flow_state, lease=lease):
                    raise LeaseLost("lease lost; another worker owns this flow now")
                cursor = _apply_page(flow=flow, page=page, result=result, flow_state=flow_state, dry_run=dry_run, lease=lease)
                run.pages += 1
    except (TransientError, AuthError, PermanentError, LeaseLost) as exc:
        error = exc
    finally:
        _finish_run(run=run, flow_state=flow_state, result=result, counter=counter, cursor=cursor, error=error,
                    dry_run=dry_run, lease=lease)
    return run


def _cannot_run_reason(integration: Integration) -> str:
    if not integration.is_active:
        return "integration is inactive"
    if integration.paused_reason:
        return f"integration paused: {integration.paused_reason}"
    return ""


def _apply_page(*, flow, page, result: FlowResult, flow_state: FlowState, dry_run: bool, lease: Lease) -> dict:
    """The page's writes and the cursor commit together, or not at all."""
    try:
        with transaction.atomic():
            flow.apply(page, result)
            if dry_run:
                raise DryRunRollback
            moved = FlowState.objects.filter(pk=flow_state.pk, lease_token=lease.token).update(cursor=page.next_cursor)
            if not moved:
                raise LeaseLost("lease lost before the cursor could move")
    except DryRunRollback:
        pass
    return page.next_cursor


def _finish_run(*, run: SyncRun, flow_state: FlowState, result: FlowResult, counter: CallCounter, cursor: dict,
                error: Exception | None, dry_run: bool, lease: Lease) -> None:
    now = timezone.now()
    for name in ("fetched", "created", "updated", "unchanged", "failed"):
        setattr(run, name, getattr(result, name))
    run.errors = result.errors[: SyncRun.MAX_RECORD_ERRORS]
    run.api_calls = counter.count
    run.finished_at = now
    run.cursor_after = cursor if not dry_run else run.cursor_before
    state_updates: dict[str, Any] = {}
    integration = flow_state.integration
    if error is None:
        if run.status != SyncRun.Status.SKIPPED:
            run.status = SyncRun.Status.PARTIAL if result.failed else SyncRun.Status.SUCCEEDED
            if not dry_run:
                state_updates.update(consecutive_failures=0, last_error="", last_succeeded_at=now,
                                     next_run_at=now + flow_state.interval, force_full=False)
                exceptions_resolve(dedup_keys=[f"connector:outage:{flow_state.pk}"], note="flow succeeded")
    else:
        failures = flow_state.consecutive_failures + 1
        run.status = SyncRun.Status.FAILED
        run.error_class = type(error).__name__
        run.error_message = redact(str(error))[:4000]
        state_updates.update(consecutive_failures=failures, last_error=redact(str(error))[:2000], last_failed_at=now)
        if isinstance(error, AuthError):
            integration_mark_error(integration=integration, message=str(error))
            state_updates["next_run_at"] = now + flow_state.interval
        elif isinstance(error, TransientError):
            retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
            state_updates["next_run_at"] = now + timedelta(seconds=backoff_seconds(failures, retry_after=retry_after))
            if failures >= 3:
                exception_raise(category=OpsException.Category.CONNECTOR,
                                code="rate_limited" if retry_after is not None or isinstance(error, RateLimitedError) else "outage",
                                integration=integration, dedup_key=f"connector:outage:{flow_state.pk}",
                                message=f"{flow_state.flow} failed {failures} times in a row: {error}")
        else:
            state_updates["next_run_at"] = now + flow_state.interval
        logger.warning("flow.failed", extra={"integration": integration.pk, "flow": flow_state.flow,
                                             "error_class": run.error_class})
    run.save()
    if state_updates:
        FlowState.objects.filter(pk=flow_state.pk).update(**state_updates)
    flow_lease_release(flow_state=flow_state, lease=lease)
    logger.info("flow.finished", extra={"integration": integration.pk, "flow": flow_state.flow, "status": run.status,
                                        "fetched": run.fetched, "records_created": run.created,
                                        "records_updated": run.updated})


def flow_run_enqueue(*, flow_state: FlowState, trigger: str = SyncRun.Trigger.ADMIN, user=None,
                     params: dict | None = None) -> None:
    """Enqueue a run after the current transaction commits."""
    from django_q.tasks import async_task

    user_id = user.pk if user is not None else None
    transaction.on_commit(lambda: async_task(
        "integrations.tasks.flow_run_task", flow_state.pk, trigger, user_id, params or {},
        task_name=f"{flow_state.integration_id}:{flow_state.flow}:{trigger}", group=f"integration-{flow_state.integration_id}",
    ))


def flows_dispatch_due(*, now: datetime | None = None, enqueue: bool = True) -> list[int]:
    """Enqueue every enabled, due flow of an active integration. The next-run time is pushed forward
    with a compare-and-set, so several dispatchers never enqueue the same flow twice. With
    `enqueue=False` the claimed flow-state ids are only returned (the caller runs them inline)."""
    now = now or timezone.now()
    due = list(
        FlowState.objects.filter(enabled=True, integration__is_active=True, next_run_at__lte=now)
        .exclude(integration__status=Integration.Status.ERROR)
        .filter(integration__paused_reason="")
        .values_list("pk", "next_run_at", "interval")
    )
    dispatched = []
    for pk, next_run_at, interval in due:
        won = FlowState.objects.filter(pk=pk, next_run_at=next_run_at).update(next_run_at=now + interval)
        if won:
            dispatched.append(pk)
            if enqueue:
                state = FlowState.objects.select_related("integration").get(pk=pk)
                flow_run_enqueue(flow_state=state, trigger=SyncRun.Trigger.SCHEDULE)
    return dispatched


# --- bindings -------------------------------------------------------------------------------

def external_refs_get(*, integration: Integration, kind: str, external_ids: Iterable[str]) -> dict[str, ExternalRef]:
    """One query for a whole page."""
    ids = [str(e) for e in external_ids]
    return {r.external_id: r for r in ExternalRef.objects.filter(integration=integration, kind=kind, external_id__in=ids)}


def external_refs_bind(*, integration: Integration, kind: str, rows: list[dict]) -> None:
    """Bulk upsert bindings on (integration, kind, external_id). Each row: external_id, local (model
    instance or None), remote_updated_at, payload_hash. Rows are de-duplicated (last wins) first,
    because PostgreSQL rejects an upsert touching one key twice."""
    if not rows:
        return
    now = timezone.now()
    unique: dict[str, ExternalRef] = {}
    for row in rows:
        local = row.get("local")
        unique[str(row["external_id"])] = ExternalRef(
            integration=integration, kind=kind, external_id=str(row["external_id"]),
            content_type=ContentType.objects.get_for_model(local) if local is not None else None,
            object_id=local.pk if local is not None else None,
            remote_updated_at=row.get("remote_updated_at"), payload_hash=row.get("payload_hash", ""), synced_at=now,
        )
    ExternalRef.objects.bulk_create(
        list(unique.values()), update_conflicts=True, unique_fields=["integration", "kind", "external_id"],
        update_fields=["content_type", "object_id", "remote_updated_at", "payload_hash", "synced_at"],
    )


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
    fields = dict(category=category, code=code, message=message, dedup_key=dedup_key, integration=integration,
                  cause_key=cause_key, details=details or {}, first_seen_at=now, last_seen_at=now)
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
