"""Schemathesis hooks for ingest's conformance run (`ingest/tests/integration/conformance.rs`).

Generated capture documents name arbitrary `readPoint` and `bizLocation` ids, which the site's
location check would refuse (403) before the validator looks at the document. Every such id in a
generated event is replaced by the test site's registered location, so that the validator, not
the location check, answers. Nothing else of the generated body is changed.
"""

import os

import schemathesis

LOCATION = os.environ["TAGTRAIL_CONFORMANCE_LOCATION"]


def _events(body):
    if not isinstance(body, dict):
        return []
    container = body.get("epcisBody")
    if not isinstance(container, dict):
        return []
    events = container.get("eventList")
    if events is None:
        results = container.get("queryResults")
        if isinstance(results, dict) and isinstance(results.get("resultsBody"), dict):
            events = results["resultsBody"].get("eventList")
    return events if isinstance(events, list) else []


@schemathesis.hook
def map_body(context, body):
    for event in _events(body):
        if not isinstance(event, dict):
            continue
        for field in ("readPoint", "bizLocation"):
            place = event.get(field)
            if isinstance(place, dict) and "id" in place:
                place["id"] = LOCATION
    return body


@schemathesis.hook
def before_load_schema(context, raw_schema):
    """Corrects one defect of the official document, so that a capture job can validate at all.

    `CaptureJob` is `allOf: [..., {oneOf: [{properties: {errors}}, {properties: {errorFile}}]}]`.
    Neither branch requires its property, so every object matches both and `oneOf` (exactly one)
    fails for every capture job any server could send. The branches are given the `required`
    their text describes ("`errors` or `errorFile`"); nothing else of the document is changed.
    """
    job = raw_schema["components"]["schemas"]["CaptureJob"]
    for part in job.get("allOf", []):
        for branch in part.get("oneOf", []):
            names = list(branch.get("properties", {}))
            if len(names) == 1 and "required" not in branch:
                branch["required"] = names
    # `GET /capture` documents no 400, yet a `perPage` that is not an integer (a schema-invalid
    # request) can only be refused: it is answered 400 ValidationException, as every other
    # operation's bad request is. The response is documented here so that the check of documented
    # status codes still applies to every other status.
    get_jobs = raw_schema["paths"]["/capture"]["get"]["responses"]
    post = raw_schema["paths"]["/capture"]["post"]["responses"]
    get_jobs.setdefault("400", post["400"])
