"""Drives a running Likeness server with the official Python client (fal-client), configured as a user would.

The environment points the client at our HTTPS listener and makes it trust our CA (set by the JUnit test,
PythonClientConformanceTest, as documented in server/README.md "Official clients"):
  FAL_KEY, FAL_RUN_HOST=127.0.0.1:PORT, FAL_QUEUE_RUN_HOST=127.0.0.1:PORT/queue, SSL_CERT_FILE=<data>/tls/ca.pem
The storage hosts have no environment variable in fal-client, so uploads are pointed at us by setting the two module
attributes `fal_client.client.REST_URL` and `CDN_URL` (the only lines below that are not plain client calls).
Usage: python conformance.py <config.json>; prints one JSON line with what each call returned.
"""
import asyncio
import dataclasses
import json
import sys
import time

import fal_client
import fal_client.client

cfg = json.load(open(sys.argv[1]))
fal_client.client.REST_URL = "https://" + cfg["https_host"]
fal_client.client.CDN_URL = "https://" + cfg["https_host"]
EP = cfg["endpoint"]
out = {}


def status_json(s):
    d = dataclasses.asdict(s)
    d["status"] = type(s).__name__
    return d


def error(e):
    if isinstance(e, fal_client.FalClientHTTPError):
        return {"name": type(e).__name__, "status": e.status_code, "message": str(e), "error_type": e.error_type,
                "body": e.response.json() if e.response is not None else None}
    return {"name": type(e).__name__, "message": str(e)}


def wait_for(request_id, kind):
    for _ in range(400):
        s = fal_client.status(EP, request_id)
        if isinstance(s, kind):
            return s
        time.sleep(0.025)
    raise RuntimeError(f"request {request_id} never reached {kind.__name__}")


def strict_tls_check():
    """The generated certificates also pass OpenSSL's strict X.509 checks (default from Python 3.13)."""
    import os
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    host, port = cfg["https_host"].rsplit(":", 1)
    results = {}
    for name in (host, "localhost"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=name) as tls:
                results[name] = tls.version()
    return results


async def async_calls(args):
    url = await fal_client.upload_file_async(cfg["reference"])
    updates = []
    data = await fal_client.subscribe_async(EP, arguments=dict(args, image_url=url), with_logs=True,
                                            on_queue_update=lambda u: updates.append(status_json(u)))
    handle = await fal_client.submit_async(EP, arguments=args)
    status = status_json(await handle.status(with_logs=True))
    got = await handle.get()
    return {"upload_file": url, "subscribe": data, "updates": updates, "submitted_status": status,
            "handle_get": got, "run": await fal_client.run_async(EP, arguments=args)}


def main():
    out["tls_strict"] = strict_tls_check()
    # upload_file: the CDN token from REST_URL, then the bytes to CDN_URL/files/upload
    url = fal_client.upload_file(cfg["reference"])
    out["upload_file"] = {"url": url}
    args = dict(cfg["input"], image_url=url)
    slow_args = dict(cfg["slow_input"], image_url=url)

    # subscribe with logs and queue updates
    updates = []
    enqueued = []
    data = fal_client.subscribe(EP, arguments=args, with_logs=True, on_enqueue=enqueued.append,
                                on_queue_update=lambda u: updates.append(status_json(u)))
    out["subscribe"] = {"request_id": enqueued[0], "data": data, "updates": updates}

    # subscribe on the sub-path endpoint id
    data = fal_client.subscribe(cfg["subpath_endpoint"], arguments=args, with_logs=True)
    out["subscribe_subpath"] = {"data": data}

    # submit / status / result (module functions and the handle), behind a slow request
    slow = fal_client.submit(EP, arguments=slow_args)
    handle = fal_client.submit(EP, arguments=args)
    queued = status_json(fal_client.status(EP, handle.request_id, with_logs=True))
    events = [status_json(e) for e in handle.iter_events(with_logs=True, interval=0.05)]
    completed = status_json(fal_client.status(EP, handle.request_id, with_logs=True))
    result = fal_client.result(EP, handle.request_id)
    out["queue"] = {"request_id": handle.request_id, "status_url": handle.status_url, "queued": queued,
                    "events": events, "completed": completed, "result": result, "handle_get": handle.get(),
                    "slow_result": slow.get()}

    # cancel: a queued request (behind a running slow one), the running one, an already completed one
    running = fal_client.submit(EP, arguments=slow_args)
    wait_for(running.request_id, fal_client.InProgress)
    waiting = fal_client.submit(EP, arguments=args)
    cancel = {}
    fal_client.cancel(EP, waiting.request_id)
    cancel["queued"] = {"status": status_json(wait_for(waiting.request_id, fal_client.Completed))}
    try:
        cancel["queued"]["result"] = fal_client.result(EP, waiting.request_id)
    except Exception as e:  # noqa: BLE001 - the error is the expected outcome, reported to the test
        cancel["queued"]["result_error"] = error(e)
    running.cancel()
    cancel["running"] = {"status": status_json(wait_for(running.request_id, fal_client.Completed))}
    try:
        cancel["running"]["result"] = running.get()
    except Exception as e:  # noqa: BLE001
        cancel["running"]["result_error"] = error(e)
    try:
        fal_client.cancel(EP, handle.request_id)
        cancel["completed"] = {"accepted": True}
    except Exception as e:  # noqa: BLE001
        cancel["completed"] = {"error": error(e)}
    out["cancel"] = cancel

    # run (synchronous)
    out["run"] = {"data": fal_client.run(EP, arguments=args)}

    # the asyncio client: upload_file_async, subscribe_async with queue updates, submit_async + handle, run_async
    out["async"] = asyncio.run(async_calls(args))

    # a validation error
    try:
        fal_client.run(EP, arguments=dict(args, image_size="huge"))
        out["invalid"] = {"accepted": True}
    except Exception as e:  # noqa: BLE001
        out["invalid"] = error(e)

    # fal-ai/ideogram/character: subscribe (polled at the owner/app URL fal-ai/ideogram), run, a conflicting field
    iep = cfg["ideogram_endpoint"]
    ideo_args = dict(cfg["ideogram_input"], reference_image_urls=[url])
    ideo_updates = []
    ideo_enqueued = []
    ideogram = {"subscribe": {"data": fal_client.subscribe(
        iep, arguments=ideo_args, with_logs=True, on_enqueue=ideo_enqueued.append,
        on_queue_update=lambda u: ideo_updates.append(status_json(u)))}}
    ideogram["subscribe"].update(request_id=ideo_enqueued[0], updates=ideo_updates)
    ideogram["run"] = {"data": fal_client.run(iep, arguments=ideo_args)}
    try:
        fal_client.run(iep, arguments=dict(cfg["ideogram_conflict"], reference_image_urls=[url]))
        ideogram["conflict"] = {"accepted": True}
    except Exception as e:  # noqa: BLE001
        ideogram["conflict"] = error(e)
    out["ideogram"] = ideogram
    print("\n" + json.dumps(out, default=str))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print("\n" + json.dumps({"failed": repr(e), "partial": out}, default=str))
        sys.exit(1)
