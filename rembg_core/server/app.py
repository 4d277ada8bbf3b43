"""The FastAPI app: rembg-compatible POST /api/remove, health, readiness, metrics, OpenAPI at /docs.

    uvicorn "rembg_core.server.app:create_app" --factory     # one process
    python -m rembg_core serve --workers 2                  # gunicorn, the production shape
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ..errors import ImageLoadError, ModelError
from ..imageio import probe
from ..options import RemoveOptions
from . import body, metrics
from .admission import Overloaded, Shed, TooCostly
from .config import ServerConfig, request_cost_mb
from .options import OptionError, parse
from .public import public
from .runtime import Runtime

RAW_TYPES = ("image/", "application/octet-stream")
DEADLINE_HEADER = "x-deadline-ms"  # a client's own deadline, milliseconds from arrival; the server's caps it
# Server-Timing entries, in pipeline order: waiting for a slot and budget, then the stages on the pool
TIMED_STAGES = ("admit", "load", "preprocess", "gate", "inference", "postprocess", "compose", "encode")
REFRESH_SECONDS = 2.0  # how often a worker updates its RSS gauge when no request does it

REMOVE_DOC = """Remove the background of one image (rembg 2.0.86's request works unchanged).

Send `multipart/form-data` with the image as the `file` part and optional form fields `model`
(this server's model only), `om` (only the mask), `ppm` (post-process the mask), `a` (alpha matting,
with `af`, `ab`, `ae`: foreground threshold 0-255, background threshold below it, erode size), `dc`
(decontaminate the edge colour); query `bgc=R,G,B,A`. Ours: `max_size` (capped by the server's own),
`crop`, `format` (png | webp), `clean_haze`, as form fields or query. Or send the image itself as the body (`Content-Type: image/*` or `application/octet-stream`).

Busy (every slot taken and Q waiting in this worker), or unable to start before the deadline (the
server's, or a smaller one in `X-Deadline-Ms`): 503 with `Retry-After`. Too large: 413 while streaming,
or when the image's estimated memory cost alone is over the worker's budget. Each stage's time is in
the `Server-Timing` header; the wait before processing in `X-Queue-Seconds`.
Anything wrong with the input or an option: 4xx with `{"error": "..."}`. rembg's ViTMatte
(`vm=true`) is refused with 422.
"""

REMOVE_OPENAPI = {
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            "model": {"type": "string"}, "om": {"type": "boolean"}, "ppm": {"type": "boolean"},
            "max_size": {"type": "integer"}, "crop": {"type": "boolean"},
            "a": {"type": "boolean"}, "af": {"type": "integer", "minimum": 0, "maximum": 255, "default": 240},
            "ab": {"type": "integer", "minimum": 0, "maximum": 255, "default": 10},
            "ae": {"type": "integer", "minimum": 0, "maximum": 255, "default": 10},
            "dc": {"type": "boolean"}, "clean_haze": {"type": "boolean"},
            "format": {"type": "string", "enum": ["png", "webp"]}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }},
    "parameters": [{"name": "bgc", "in": "query", "required": False, "schema": {"type": "string"},
                    "description": "background colour R,G,B[,A]"}],
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every refusal: one line of JSON, control characters escaped, no filesystem path."""
    return JSONResponse({"error": public(message) if message else "error"}, status, headers=headers)


class ClientGone(Exception):
    """The client closed its connection while its request waited: the model never runs for it."""


async def _watch_disconnect(request: Request, gone: threading.Event) -> None:
    """Once the body is read, the next ASGI message is http.disconnect, sent when the client leaves."""
    while True:
        if (await request.receive())["type"] == "http.disconnect":
            gone.set()
            return


def retry_after(config: ServerConfig, wait: float = 0.0) -> str:
    """Seconds to wait before retrying: the expected wait, at least the configured one, plus up to a
    second of jitter so refused clients do not all come back at the same instant."""
    return str(max(config.retry_after, math.ceil(wait)) + random.randint(0, 1))


def server_timing(waited: float, timings: dict[str, float]) -> str:
    values = {"admit": waited, **timings, "gate": timings.get("queue", 0.0)}
    return ", ".join(f"{name};dur={values[name] * 1000:.1f}" for name in TIMED_STAGES if name in values)


def create_app(config: ServerConfig | None = None) -> FastAPI:
    config = (config or ServerConfig()).resolved()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = Runtime(config)  # here, in the worker: never across a fork
        app.state.runtime = runtime
        app.state.bodies = body.BodyBudget(config.body_budget)

        async def refresh() -> None:
            while True:
                runtime.refresh_gauges()
                await asyncio.sleep(REFRESH_SECONDS)

        task = asyncio.create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(runtime.close)

    app = FastAPI(title="Rembg Lab", description="Background removal (U²-Net on ONNX Runtime) with bounded memory.",
                  lifespan=lifespan)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        t0 = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "other")  # bounded label set
        metrics.REQUESTS.labels(route, str(response.status_code)).inc()
        metrics.LATENCY.labels(route).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        return error(500, f"internal error ({type(exc).__name__})")

    @app.get("/livez", summary="Liveness: the worker's event loop answers (nothing else is checked)")
    @app.get("/healthz", summary="Liveness (the older name of /livez)")
    async def livez():
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/readyz", summary="Readiness: model verified, a session has run, the worker can take a request")
    async def readyz(request: Request):
        rt: Runtime = request.app.state.runtime
        stats = rt.admission.stats()
        full = stats.running + stats.waiting >= rt.admission.slots + config.max_queue
        model_ready = await asyncio.to_thread(lambda: rt.ready)
        ready = model_ready and not full
        payload: dict[str, object] = {"ready": ready, "model": config.session.model, "pid": rt.pid,
                                      "processing": stats.running, "queued": stats.waiting,
                                      "reserved_mb": round(stats.reserved_bytes / 1024 / 1024),
                                      "budget_mb": round(stats.budget_bytes / 1024 / 1024)}
        if not model_ready:
            payload["error"] = public(rt.reason or "not ready")
        elif full:  # a new request would be refused: let the balancer send it elsewhere for now
            payload["error"] = f"busy: {stats.running} processing and {stats.waiting} waiting, the queue is full"
        return JSONResponse(payload, 200 if ready else 503,
                            headers=None if ready else {"Retry-After": str(config.retry_after * 5)})

    @app.get("/metrics", summary="Prometheus metrics of every worker")
    async def prometheus():
        text, content_type = metrics.render()
        return Response(text, media_type=content_type)

    @app.get("/api/remove", summary="Not offered: fetching URLs", status_code=400)
    async def remove_url():
        # rembg fetches ?url= server-side; that lets any client make this server request internal
        # addresses (server-side request forgery), so the image must come in the request itself
        return error(400, "this server does not fetch URLs (server-side request forgery risk); "
                          "POST the image to /api/remove instead")

    @app.post("/api/remove", summary="Remove the background", description=REMOVE_DOC,
              openapi_extra=REMOVE_OPENAPI, response_class=Response,
              responses={200: {"content": {"image/png": {}, "image/webp": {}}}})
    async def remove_image(request: Request):
        rt: Runtime = request.app.state.runtime
        if rt.reason is not None and not await asyncio.to_thread(lambda: rt.ready):  # re-check off the loop
            return error(503, f"model not ready: {rt.reason}", {"Retry-After": str(config.retry_after * 5)})
        arrived = time.monotonic()
        ticket = request.app.state.bodies.ticket()
        gone = threading.Event()
        watcher: asyncio.Task | None = None
        entered = False
        try:
            # the body first, under its own timeouts and byte budget: a client that sends headers and
            # then nothing must not hold an admission slot
            parsed = await _read(request, ticket)
            if isinstance(parsed, Response):
                return parsed
            filename, data, opts = parsed
            deadline = deadline_of(request, arrived)
            watcher = asyncio.create_task(_watch_disconnect(request, gone))
            await asyncio.sleep(0)  # let the watcher see a disconnect that already happened
            if gone.is_set():
                raise ClientGone
            try:
                rt.admission.enter(fresh=rt.first_on_connection(request.scope.get("client")))
            except Overloaded:
                metrics.REJECTED.inc()
                metrics.SHED.labels("queue_full").inc()
                # back before the held place expires (Admission.hold_seconds), whatever the queue's wait
                wait = min(rt.admission.estimated_wait(rt.admission.stats().queued), rt.admission.hold_seconds - 4)
                return error(503, f"busy: {rt.admission.slots} processing and {config.max_queue} waiting; retry later",
                             # close: the client reconnects, maybe to a less busy worker
                             {"Retry-After": retry_after(config, wait), "Connection": "close"})
            entered = True
            metrics.INFLIGHT.inc()
            return await _run(rt, filename, data, opts, deadline, gone)
        except body.BodyError as exc:
            headers = {"Connection": "close"} if exc.status in (408, 413, 431, 503) else {}
            if exc.status == 503:
                metrics.REJECTED.inc()
                metrics.SHED.labels("body_budget").inc()
                headers["Retry-After"] = retry_after(config)
            return error(exc.status, str(exc), headers or None)
        except OptionError as exc:
            return error(422, str(exc))
        except ClientDisconnect:
            metrics.CLIENT_GONE.inc()  # nobody reads these answers; the model did not run for them
            return error(400, "the client went away before the upload finished")
        except ClientGone:
            metrics.CLIENT_GONE.inc()
            return error(499, "the client went away before its turn; the model did not run")
        except ModelError as exc:
            metrics.SHED.labels("not_ready").inc()
            return error(503, f"model not ready: {exc}", {"Retry-After": str(config.retry_after * 5)})
        finally:
            ticket.release()
            if watcher is not None:
                watcher.cancel()
            if entered:
                rt.admission.leave()
                metrics.INFLIGHT.dec()
                stats = rt.admission.stats()
                metrics.QUEUED.set(stats.queued)
                metrics.RESERVED.set(stats.reserved_bytes)

    def deadline_of(request: Request, arrived: float) -> float:
        seconds = config.deadline_seconds
        asked = request.headers.get(DEADLINE_HEADER)
        if asked:
            try:
                ms = float(asked)
            except ValueError:
                raise OptionError(f"X-Deadline-Ms={asked!r} is not a number of milliseconds") from None
            if not ms > 0:
                raise OptionError("X-Deadline-Ms must be positive")
            seconds = min(seconds, ms / 1000)
        return arrived + seconds

    async def _read(request: Request, ticket: body.BodyTicket) -> tuple[str, bytes, RemoveOptions] | Response:
        cap = config.max_upload_bytes
        body.check_length(request.headers.get("content-length"), cap)
        limits = body.BodyLimits(cap, idle=config.body_idle_timeout, total=config.body_timeout)
        stream = ticket.count(body.timed(request.stream(), limits))
        ctype = request.headers.get("content-type", "")
        params = dict(request.query_params)
        filename = "upload"
        if ctype.startswith("multipart/form-data"):
            form = await body.read_multipart(stream, ctype, cap)
            if "file" not in form.files:
                return error(422, "the form has no `file` part (send the image as the field named file)")
            filename, data = form.files["file"]
            params.update(form.fields)
        elif ctype.startswith(RAW_TYPES) or not ctype:
            data = await body.read_raw(stream, cap)
        else:
            return error(415, f"Content-Type {ctype.split(';')[0]} is not accepted: send multipart/form-data "
                              "with a file part, or the image itself as image/* or application/octet-stream")
        return filename or "upload", data, parse(params, config)

    async def _run(rt: Runtime, filename: str, data: bytes, opts: RemoveOptions, deadline: float,
                   gone: threading.Event) -> Response:
        def work() -> tuple[bytes, dict[str, float]]:
            if gone.is_set():  # checked on the pool thread, the moment the request's turn comes
                raise ClientGone
            return rt.process(data, opts)

        try:
            # the header alone gives the cost: megapixels after the cap, scaled for the edge mode
            _, (w, h) = probe(data, opts.max_size, config.max_pixels)
            cost_mb = request_cost_mb(w * h / 1e6, opts.edge_mode)
            metrics.QUEUED.set(rt.admission.stats().queued + 1)
            (payload, timings), waited = await rt.admission.run(work, int(cost_mb * 1024 * 1024), deadline)
        except ImageLoadError as exc:
            return error(400, f"{filename}: {exc}")
        except TooCostly:
            metrics.SHED.labels("over_budget").inc()
            return error(413, f"{filename}: {w}×{h} after the size cap needs about {cost_mb:.0f} MB, over "
                              f"this worker's {config.memory_budget_mb} MB budget; send a smaller image or a lower "
                              "max_size", {"Connection": "close"})
        except Shed as exc:
            metrics.SHED.labels(exc.reason).inc()
            wait = rt.admission.estimated_wait(rt.admission.stats().queued)
            return error(503, f"{exc}; retry later", {"Retry-After": retry_after(config, wait), "Connection": "close"})
        rt.counted()
        queued = waited + timings.get("queue", 0.0)  # for a slot and budget, then for the run gate
        metrics.QUEUE_WAIT.observe(queued)
        metrics.GATE_WAIT.observe(timings.get("queue", 0.0))
        metrics.STAGE.labels("admit").observe(waited)
        for name in TIMED_STAGES[1:]:
            metrics.STAGE.labels(name).observe(timings.get("queue" if name == "gate" else name, 0.0))
        headers = {"X-Queue-Seconds": f"{queued:.4f}", "X-Worker-Pid": str(rt.pid),
                   "Server-Timing": server_timing(waited, timings)}
        if config.workers > 1 and rt.admission.busy:
            headers["Connection"] = "close"  # this worker is full: let the client's next connection land elsewhere
        return Response(payload, media_type=opts.media_type, headers=headers)

    return app
