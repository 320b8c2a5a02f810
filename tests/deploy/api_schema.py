"""Strict decoding of Kubernetes objects against the API's own types, without an API server.

An API server refuses an object with a field its schema does not have (`fieldValidation=Strict`,
kubectl's default since 1.27), a value of the wrong type, or a required field left out. No API
server runs here, but Debian's `python3-kubernetes` carries the API's types as generated from
the Kubernetes OpenAPI spec: each model class lists its fields (`attribute_map`: Python name ->
JSON name), their types (`openapi_types`), and its constructor refuses a required field that is
None. `problems(obj)` walks an object against those types and returns what a server would refuse.

Custom resources (the Prometheus operator's ServiceMonitor, PrometheusRule) have no model
there; `problems` says so and checks nothing else about them.
"""
import os
import re
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from debian_python import import_debian  # noqa: E402


def _client_models():
    try:
        return import_debian("kubernetes.client.models")
    except ImportError:
        return None


MODELS = _client_models()
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")
_SCALARS = {"str": str, "bool": bool, "float": (int, float), "date": str, "datetime": str}


def available():
    return MODELS is not None


def model_name(obj):
    """`apps/v1` + `DaemonSet` -> `V1DaemonSet`, the client's name for the type."""
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    return version[:1].upper() + version[1:] + str(obj.get("kind", ""))


def problems(obj):
    name = model_name(obj)
    if not hasattr(MODELS, name):
        return [f"{obj.get('apiVersion')} {obj.get('kind')}: no built-in type (a custom resource?)"]
    found = []
    _decode(obj, name, obj.get("kind", "object"), found)
    return found


def _decode(value, type_name, path, found):
    """Returns the value as the client's type, appending to `found` what does not decode."""
    if type_name == "object":
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            found.append(f"{path}: {value!r} is not an integer")
        return value
    if type_name in _SCALARS:
        if not isinstance(value, _SCALARS[type_name]):
            found.append(f"{path}: {value!r} is not a {type_name}")
        return value
    if m := _LIST.match(type_name):
        if not isinstance(value, list):
            found.append(f"{path}: expected a list")
            return None
        return [_decode(v, m.group(1), f"{path}[{i}]", found) for i, v in enumerate(value)]
    if m := _DICT.match(type_name):
        if not isinstance(value, dict):
            found.append(f"{path}: expected a map")
            return None
        return {k: _decode(v, m.group(1), f"{path}.{k}", found) for k, v in value.items()}
    model = getattr(MODELS, type_name, None)
    if model is None:
        found.append(f"{path}: the client has no type {type_name}")
        return None
    if not isinstance(value, dict):
        found.append(f"{path}: expected an object ({type_name})")
        return None
    python_name = {json: py for py, json in model.attribute_map.items()}
    arguments = {}
    for key, child in value.items():
        if key not in python_name:
            found.append(f"{path}: unknown field \"{key}\" (not in {type_name})")
            continue
        attribute = python_name[key]
        arguments[attribute] = _decode(child, model.openapi_types[attribute], f"{path}.{key}", found)
    try:
        return model(**arguments)
    except ValueError as e:  # a required field missing, or a value outside an enum
        found.append(f"{path}: {e}")
        return None
