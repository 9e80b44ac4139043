"""System checks: connector declarations are coherent, and the encryption keys open stored data."""
from django.core.checks import Error, Tags, register

from integrations import registry


@register(Tags.models)
def check_connectors(app_configs, **kwargs):
    errors = []
    for spec in registry.CONNECTORS.values():
        keys = [s.key for s in spec.settings]
        if len(keys) != len(set(keys)):
            errors.append(Error(f"Connector {spec.code} declares a setting key twice.", id="integrations.E001"))
        codes = [f.code for f in spec.flows]
        if len(codes) != len(set(codes)):
            errors.append(Error(f"Connector {spec.code} declares a flow code twice.", id="integrations.E002"))
        for flow in spec.flows:
            if flow.enable_setting and flow.enable_setting not in keys:
                errors.append(Error(f"Flow {spec.code}.{flow.code} is switched by unknown setting {flow.enable_setting}.",
                                    id="integrations.E003"))
            try:
                registry.import_string(flow.flow_class)
            except (ImportError, AttributeError) as exc:
                errors.append(Error(f"Flow {spec.code}.{flow.code}: cannot import {flow.flow_class}: {exc}", id="integrations.E004"))
    return errors


@register(Tags.security, deploy=True)
def check_encryption_keys(app_configs, **kwargs):
    from django.conf import settings

    from integrations import crypto

    if not settings.FIELD_ENCRYPTION_KEYS:
        return [Error("FIELD_ENCRYPTION_KEYS is not set.", id="integrations.E010")]
    try:
        crypto.get_fernet()
    except Exception as exc:  # ImproperlyConfigured with the reason
        return [Error(str(exc), id="integrations.E011")]
    return []


@register(Tags.compatibility)
def check_task_queue(app_configs, **kwargs):
    """django-q2's redelivery clock starts when a cluster fetches a task into its local queue: `retry` must
    exceed the longest a task can wait there (queue_limit / workers tasks ahead) plus its own timeout,
    or a slow queue runs a task twice."""
    import math

    from django.conf import settings
    from django.core.checks import Warning

    conf = settings.Q_CLUSTER
    if conf.get("sync"):
        return []
    timeout, retry = conf.get("timeout"), conf.get("retry")
    workers = max(1, int(conf.get("workers") or 1))
    queue_limit = int(conf.get("queue_limit") or workers ** 2)
    problems = []
    if not timeout:
        problems.append("Q_CLUSTER has no timeout: a hung task holds a worker for ever.")
    elif retry is None or retry <= timeout * (1 + math.ceil(queue_limit / workers)):
        problems.append(f"Q_CLUSTER retry ({retry}) must exceed timeout × (1 + queue_limit / workers) = "
                        f"{timeout * (1 + math.ceil(queue_limit / workers))} s, or a queued task is delivered twice.")
    if not conf.get("max_attempts"):
        problems.append("Q_CLUSTER max_attempts is 0 (unlimited): a failing task would be redelivered for ever.")
    return [Warning(p, id="integrations.W020") for p in problems]

@register(Tags.security, deploy=True)
def check_deploy_settings(app_configs, **kwargs):
    """`check --deploy` refuses what must never run in production."""
    from django.conf import settings

    errors = []
    if "*" in settings.ALLOWED_HOSTS or any(h.strip() in ("*", ".") for h in settings.ALLOWED_HOSTS):
        errors.append(Error("ALLOWED_HOSTS accepts any host ('*'): list the host names this back office answers to.",
                            id="integrations.E020"))
    if settings.SANDBOX_ENABLED:
        errors.append(Error("SANDBOX_ENABLED is on: the emulated remote systems (and their unauthenticated sandbox "
                            "endpoints) must not be served in production.", id="integrations.E021"))
    if getattr(settings, "FETCH_ALLOW_LOOPBACK", False):
        errors.append(Error("FETCH_ALLOW_LOOPBACK is on: user-supplied URLs could reach this machine's own services.",
                            id="integrations.E022"))
    return errors
