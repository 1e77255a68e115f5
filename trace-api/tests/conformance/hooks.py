"""Schemathesis hooks for trace-api's conformance run (`trace-api/tests/integration/conformance.rs`).

Random identifiers almost never name an item or event the ledger holds. The test passes the
identifiers of the data it captured in `TAGTRAIL_CONFORMANCE_VALUES`, a JSON object from a
parameter's name (`id`, `hash`, `path`, `cursor`) to values of it, and with them:

- every parameter of that name gets them as its `examples` (the examples phase sends each one);
- a generated path or query parameter of that name is, about half the time, one of them instead
  of what was generated (the other phases meet real data too).

Nothing else of the document is changed: no schema, status code or content type.
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


@schemathesis.hook
def before_load_schema(context, raw_schema):
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
