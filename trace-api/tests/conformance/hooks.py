"""Schemathesis hooks for trace-api's conformance run (`trace-api/tests/integration/conformance.rs`).

Random identifiers almost never name an item or event the ledger holds. The test passes the
identifiers of the data it captured in `TAGTRAIL_CONFORMANCE_VALUES`, a JSON object from a
parameter's name (`id`, `hash`, `path`, `cursor`) to values of it, and with them:

- every parameter of that name gets them as its `examples` (the examples phase sends each one);
- a generated path or query parameter of that name is, about half the time, one of them instead
  of what was generated (the other phases meet real data too).

Nothing else of the document is changed but three errors of the official EPCIS 2.0 REST binding
document, each where the document contradicts itself or the standard (`_correct_official`):

1. `GET /queries/{queryName}`'s `200` is typed an array of query definitions; the operation gives
   one named query, as the document's own example (one object) and description say.
2. The `409` of `POST /queries` (`409ResourceAlreadyExistsException`) types the body's `status`
   as `406`; the document's example gives `409`, and RFC 7807's `status` is the response's.
3. `400SubscriptionIssues` (the `400` of `GET /queries/{queryName}/events` and of
   `GET /queries/{queryName}/subscriptions`) is typed `application/json` with the subscription
   exceptions only; every other problem answer of the document is `application/problem+json`
   (RFC 7807), and a malformed query parameter (`perPage=x`) is the standard's
   `QueryParameterException`.

A correction is made only where the document still has the error; the service's own document
has none of them.
"""

import json
import os

import hypothesis.internal.lambda_sources as lambda_sources
import schemathesis
from hypothesis import strategies as st

# CPython 3.11 before 3.11.8 (Debian 12 has 3.11.2) can raise SystemError ("AST constructor
# recursion depth mismatch") from `ast.parse` when called deep in a stack; hypothesis parses a
# filter lambda's source file only to describe the lambda, and schemathesis's coverage phase does
# that deep in its walk of a request body. A lambda it cannot describe is described as a lambda.
_describe_lambda = lambda_sources.lambda_description


def _lambda_description(function):
    try:
        return _describe_lambda(function)
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = _lambda_description

VALUES = json.loads(os.environ["TAGTRAIL_CONFORMANCE_VALUES"])


def _correct_official(raw_schema):
    """The corrections the module's docstring lists."""
    paths = raw_schema.get("paths", {})
    components = raw_schema.get("components", {})
    one = paths.get("/queries/{queryName}", {}).get("get", {}).get("responses", {}).get("200", {})
    for media in one.get("content", {}).values():
        schema = media.get("schema", {})
        if schema.get("type") == "array" and isinstance(media.get("example"), dict):
            media["schema"] = schema["items"]
    exists = components.get("responses", {}).get("409ResourceAlreadyExistsException", {})
    for media in exists.get("content", {}).values():
        for part in media.get("schema", {}).get("allOf", []):
            status = part.get("properties", {}).get("status", {})
            if status.get("enum") == [406]:
                status["enum"] = [409]
                status["default"] = 409
    issues = components.get("responses", {}).get("400SubscriptionIssues", {})
    content = issues.get("content", {})
    if "application/json" in content and "application/problem+json" not in content:
        media = content.pop("application/json")
        for part in media.get("schema", {}).get("allOf", []):
            kinds = part.get("properties", {}).get("type", {}).get("enum")
            if kinds is not None and "epcisException:QueryParameterException" not in kinds:
                kinds.append("epcisException:QueryParameterException")
        content["application/problem+json"] = media
        content.pop("application/xml", None)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    _correct_official(raw_schema)
    for path in raw_schema.get("paths", {}).values():
        for operation in path.values():
            # A path's own `parameters` list (the official binding document has some) is no
            # operation.
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                values = VALUES.get(parameter.get("name"))
                if values:
                    parameter["examples"] = {
                        f"captured-{number}": {"value": value} for number, value in enumerate(values)
                    }


def _with_captured(strategy):
    """Draws what `strategy` generates, or that with a captured value for a parameter."""

    def mix(generated):
        # Negative generation yields its own wrapper: leave it as it is.
        names = [name for name in generated if name in VALUES] if isinstance(generated, dict) else []
        if not names:
            return st.just(generated)
        captured = st.fixed_dictionaries(
            {**{name: st.just(value) for name, value in generated.items()},
             **{name: st.sampled_from(VALUES[name]) for name in names}}
        )
        return st.one_of(st.just(generated), captured)

    return strategy.flatmap(mix)


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    return _with_captured(strategy)


@schemathesis.hook
def before_generate_query(context, strategy):
    return _with_captured(strategy)
