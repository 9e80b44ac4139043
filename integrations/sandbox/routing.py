"""Routes served only while SANDBOX_ENABLED is on, decided per request.

The URLconf is imported once per process, by the first URL resolution, and kept. URL modules that read the setting
at import (`if settings.SANDBOX_ENABLED: urlpatterns += [...]`) froze the value it had at that moment: in a test
process, a test that switched the sandbox off and happened to resolve the process's first URL left every later test
without the emulators (and a URLconf imported with the sandbox on kept serving them after a test switched it off).
The patterns are always in the URLconf (so `reverse` names them) and match only while the setting is on; when it
is off the path falls through to the next patterns, as if they were not there (the admin's catch-all: the login
page), which is what production without the sandbox answers."""
from __future__ import annotations

from django.conf import settings
from django.urls import URLResolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern


class SandboxResolver(URLResolver):
    def resolve(self, path):
        if not settings.SANDBOX_ENABLED:
            raise Resolver404({"path": path, "tried": []})
        return super().resolve(path)


def sandbox_only(patterns: list) -> SandboxResolver:
    """`patterns` (paths, includes), matched only while SANDBOX_ENABLED is on; names stay in the including
    module's namespace."""
    return SandboxResolver(RoutePattern("", is_endpoint=False), patterns)
