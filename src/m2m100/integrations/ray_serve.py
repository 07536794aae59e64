"""The HTTP service on Ray Serve: the same FastAPI app as `m2m100 serve` (`server.create_app`), one copy per
replica, behind Serve's HTTP proxy (`pip install "m2m100[ray]"`).

    serve run m2m100.integrations.ray_serve:app                     # settings from M2M100_* variables
    serve run m2m100.integrations.ray_serve:build_app model=/models/m2m100_418M num_replicas=2 threads=4
    # Python: serve.run(build_app({"model": "...", "num_replicas": 2}), route_prefix="/")

Every endpoint, limit and error of the single-process server is there (it is the same app): /translate,
/languages, /v1/translate, /health, the web page, 400/403/413/415/429/503 JSON errors. Batching: each replica
runs the server's own dynamic batcher (sentences of concurrent requests packed into model batches under
max_batch_tokens), so `@serve.batch` is not needed on top; Serve spreads requests over replicas.

Replicas: a replica loads its model in the background (the app's lifespan) and reports ready to Serve only
once the model is loaded and warmed up (`check_health` waits for it on the first call), so Serve never routes
to a loading replica; a replica whose model failed to load is reported unhealthy and restarted by Serve.

Arguments of `build_app` (strings from `serve run key=value`, or Python values):
    any ServerSettings field   model, device, dtype, quantize, threads, max_batch_tokens, max_texts, ... as
                               for `m2m100 serve` (the model's are the TranslatorOptions fields of
                               m2m100.options; host and port are Serve's: `serve start --http-port`)
    num_replicas               fixed replica count (default 1), or "auto" for Serve's default autoscaling
    min_replicas, max_replicas, target_ongoing_requests
                               autoscaling (any of them turns it on): Serve adds replicas while each has
                               more than target_ongoing_requests (default 8) requests in flight
    max_ongoing_requests       requests a replica accepts at once (default 64; keep it >= max_queue's share)
    num_cpus, num_gpus         per replica (default 1 CPU, 0 GPU); set threads = num_cpus for torch

Per replica, honestly: the rate limit (`req_limit`) is counted by each replica on its own, so a client may get
up to N x req_limit per minute from N replicas; API keys are read from the same file by every replica (the
file must be on every node). /health answers for the replica that receives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from ..server.settings import ServerSettings
from .ray import require_ray

DEPLOYMENT_NAME = "M2M100Translation"
_DEPLOYMENT_KEYS = ("num_replicas", "min_replicas", "max_replicas", "target_ongoing_requests",
                    "max_ongoing_requests", "num_cpus", "num_gpus")


def deployment(
    settings: ServerSettings | None = None,
    *,
    num_replicas: int | str = 1,
    autoscaling_config: Mapping[str, Any] | None = None,
    max_ongoing_requests: int = 64,
    ray_actor_options: Mapping[str, Any] | None = None,
    translator_factory: Callable[[ServerSettings], Any] | None = None,
) -> Any:
    """A bound Serve application (for `serve.run`) serving `create_app(settings, translator_factory)`.

    settings: the server's settings (default: from M2M100_* variables, read on the driver); num_replicas: a
    count or "auto"; autoscaling_config: Serve's dict (min_replicas, max_replicas, target_ongoing_requests,
    ...), replaces num_replicas; ray_actor_options: per replica, e.g. {"num_cpus": 4, "num_gpus": 1}.
    translator_factory(settings) replaces the model loading (picklable). Raises ImportError without Ray.
    """
    require_ray()
    from ray import serve

    settings = settings or ServerSettings.from_sources()
    factory = translator_factory

    def build_asgi_app() -> Any:  # runs in each replica, so nothing is loaded on the driver
        from ..server.app import create_app

        return create_app(settings, factory)

    @serve.ingress(build_asgi_app)
    class M2M100Translation:
        async def check_health(self) -> None:
            # First call (part of replica start-up): wait until the model is loaded and warmed up.
            state = self.app.state.service
            while state.status in ("loading", "warming up") and not state.draining:
                await asyncio.sleep(0.1)
            if state.status == "failed":
                raise RuntimeError(state.error or "model failed to load")

    options: dict[str, Any] = {"name": DEPLOYMENT_NAME, "max_ongoing_requests": int(max_ongoing_requests),
                               "ray_actor_options": dict(ray_actor_options or {"num_cpus": 1})}
    if autoscaling_config:
        options["autoscaling_config"] = dict(autoscaling_config)
    else:
        options["num_replicas"] = num_replicas if num_replicas == "auto" else int(num_replicas)
    return serve.deployment(**options)(M2M100Translation).bind()


def build_app(args: Mapping[str, Any] | None = None) -> Any:
    """Application builder for `serve run m2m100.integrations.ray_serve:build_app key=value ...` (see the
    module docstring for the keys). Raises ValueError naming a bad key or value."""
    args = dict(args or {})
    unknown = [k for k in args if k not in ServerSettings.model_fields and k not in _DEPLOYMENT_KEYS]
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(sorted(unknown))}; use ServerSettings fields "
                         f"({', '.join(ServerSettings.model_fields)}) or {', '.join(_DEPLOYMENT_KEYS)}")
    settings = ServerSettings.from_sources({k: v for k, v in args.items() if k in ServerSettings.model_fields})
    actor: dict[str, Any] = {"num_cpus": float(args.get("num_cpus", 1))}
    if args.get("num_gpus") not in (None, "", 0, "0"):
        actor["num_gpus"] = float(args["num_gpus"])
    autoscaling = {k: int(args[k]) if k != "target_ongoing_requests" else float(args[k])
                   for k in ("min_replicas", "max_replicas", "target_ongoing_requests") if k in args}
    replicas = args.get("num_replicas", 1)
    return deployment(settings, num_replicas=replicas if replicas == "auto" else int(replicas),
                      autoscaling_config=autoscaling or None,
                      max_ongoing_requests=int(args.get("max_ongoing_requests", 64)), ray_actor_options=actor)


def __getattr__(name: str) -> Any:
    # `serve run m2m100.integrations.ray_serve:app`: built on first access, so importing this module is free.
    if name == "app":
        return build_app({})
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEPLOYMENT_NAME", "build_app", "deployment"]
