"""Flask-Limiter's hooks only on the requests it throttles.

Flask-Limiter runs three hooks on every request (a check before it, rate-limit headers after it,
a context reset at teardown), each resolving which limits apply, although this app sets no
default, application or blueprint limit: only a few views are decorated with `limiter.limit`
(the sign-in and code forms, the calendar feed). Those decorators check their limits themselves;
the hooks matter only for those views. `limit_hooks_to_limited_views` wraps the three hooks so
that every other request skips them. If limits that apply to every view are ever configured, it
leaves the hooks as they are.
"""
from __future__ import annotations

import functools

from flask import Flask, request
from flask_limiter import Limiter

_MARK = "__wrapper-limiter-instance"  # set by Flask-Limiter on the views it decorates


def _is_limited(view, limiter: Limiter) -> bool:
    while view is not None:
        marked = getattr(view, _MARK, None)  # a weak proxy to the limiter
        if marked is not None and marked == limiter:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def _applies_everywhere(app: Flask, limiter: Limiter) -> bool:
    manager = limiter.limit_manager
    return bool(manager._application_limits or manager._default_limits
                or manager._blueprint_limits or app.config.get("RATELIMIT_APPLICATION")
                or app.config.get("RATELIMIT_DEFAULT"))


def _only_for(endpoints: frozenset[str], hook, passthrough: bool):
    @functools.wraps(hook if not isinstance(hook, functools.partial) else hook.func)
    def guarded(*args):
        if request.endpoint in endpoints:
            return hook(*args)
        return args[0] if passthrough else None
    guarded.cg_limited_endpoints = endpoints
    return guarded


def limit_hooks_to_limited_views(app: Flask, limiter: Limiter) -> frozenset[str]:
    """Call once every blueprint is registered; returns the endpoints that keep the hooks."""
    if not limiter.enabled or _applies_everywhere(app, limiter):
        return frozenset()
    endpoints = frozenset(name for name, view in app.view_functions.items()
                          if _is_limited(view, limiter))
    before = app.before_request_funcs.get(None, [])
    after = app.after_request_funcs.get(None, [])
    teardown = app.teardown_request_funcs.get(None, [])
    for i, hook in enumerate(before):
        if hook == limiter._check_request_limit:
            before[i] = _only_for(endpoints, hook, passthrough=False)
    for i, hook in enumerate(after):
        if isinstance(hook, functools.partial) and hook.func is Limiter._Limiter__inject_headers:
            after[i] = _only_for(endpoints, hook, passthrough=True)
    for i, hook in enumerate(teardown):
        if hook == limiter._Limiter__release_context:
            teardown[i] = _only_for(endpoints, hook, passthrough=False)
    return endpoints
