"""A CloudFormation template's YAML and its intrinsic functions, resolved as CloudFormation would for one
stack (name, account, region, parameter values). No resource kinds are interpreted here beyond what
`Ref` and `Fn::GetAtt` return for them; the typed views of resources live in `stack_tools.template`.

Resolved: Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::If (with Conditions: Fn::Equals,
Fn::Not, Fn::And, Fn::Or, Condition), Fn::FindInMap. Anything else is an error, not a guess.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import ConfigError

_TAGS = {"Ref": "Ref", "Sub": "Fn::Sub", "GetAtt": "Fn::GetAtt", "Join": "Fn::Join", "Select": "Fn::Select",
         "If": "Fn::If", "Equals": "Fn::Equals", "Not": "Fn::Not", "And": "Fn::And", "Or": "Fn::Or",
         "Condition": "Condition", "ImportValue": "Fn::ImportValue", "FindInMap": "Fn::FindInMap",
         "Split": "Fn::Split", "Base64": "Fn::Base64", "GetAZs": "Fn::GetAZs"}
_SUB_RE = re.compile(r"\$\{([^}]*)\}")
NO_VALUE_REF = "AWS::NoValue"  # `!Ref AWS::NoValue`: the property or list item is left out
_REMOVED: Any = object()  # what resolving it gives, until the containing list or mapping drops it


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _TAGS.get(suffix)
    if name is None:
        raise ConfigError(f"unsupported CloudFormation tag !{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """The template's body, a copy of its own: parsed once for each version of the file (a parse of the
    stack's template takes 0.4 s, a copy 3 ms; the CLI, the local stack and the tests each read it often)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read the stack template {path}: {exc}") from exc
    return copy.deepcopy(_parsed(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """(`mtime_ns` and `size` are the cache's key: a file written since is parsed again.)"""
    try:
        return parse_template(Path(path).read_text(encoding="utf-8"), path)
    except OSError as exc:
        raise ConfigError(f"cannot read the stack template {path}: {exc}") from exc


def parse_template(text: str, name: str = "the template") -> dict[str, Any]:
    """A template's text as its body, the short forms (`!Ref X`) read as the long (`{"Ref": "X"}`)."""
    try:
        loaded = yaml.load(text, Loader=_CfnLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read the stack template {name}: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise ConfigError(f"{name} is not a CloudFormation template (no Resources)")
    return loaded


def check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """The checks CloudFormation makes before it deploys: AllowedValues, AllowedPattern, MinValue, MaxValue."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        raise ConfigError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise ConfigError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(f"parameter {name}={value!r} is not a number") from exc
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ConfigError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ConfigError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


# What `Ref` returns for kinds whose Ref is not their name, and the ARN shapes of `Fn::GetAtt X.Arn`.
_ARNS = {
    "AWS::S3::Bucket": "arn:{partition}:s3:::{name}",
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::KinesisFirehose::DeliveryStream": "arn:{partition}:firehose:{region}:{account}:deliverystream/{name}",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::Events::Rule": "arn:{partition}:events:{region}:{account}:rule/{name}",
    "AWS::Scheduler::Schedule": "arn:{partition}:scheduler:{region}:{account}:schedule/default/{name}",
    "AWS::Glue::Job": "arn:{partition}:glue:{region}:{account}:job/{name}",
    "AWS::ECS::Cluster": "arn:{partition}:ecs:{region}:{account}:cluster/{name}",
    "AWS::ECS::TaskDefinition": "arn:{partition}:ecs:{region}:{account}:task-definition/{name}:1",
    "AWS::ECS::Service": "arn:{partition}:ecs:{region}:{account}:service/{name}",
    "AWS::SecretsManager::Secret": "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::Athena::WorkGroup": "arn:{partition}:athena:{region}:{account}:workgroup/{name}",
    "AWS::CloudWatch::Alarm": "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    "AWS::QuickSight::DataSource": "arn:{partition}:quicksight:{region}:{account}:datasource/{name}",
    "AWS::QuickSight::DataSet": "arn:{partition}:quicksight:{region}:{account}:dataset/{name}",
    "AWS::QuickSight::Analysis": "arn:{partition}:quicksight:{region}:{account}:analysis/{name}",
    "AWS::QuickSight::Dashboard": "arn:{partition}:quicksight:{region}:{account}:dashboard/{name}",
}
_REF_IS_ARN = frozenset({"AWS::SNS::Topic", "AWS::ECS::TaskDefinition", "AWS::SecretsManager::Secret"})
# (QuickSight's ARNs and Refs name a resource by its id, not by its display Name)
_NAME_PROPERTIES = ("DataSourceId", "DataSetId", "AnalysisId", "DashboardId", "BucketName", "DeliveryStreamName",
                    "FunctionName", "Name", "LogGroupName", "QueueName", "TopicName", "ClusterName", "ServiceName",
                    "Family", "AlarmName", "WorkGroup")


class Intrinsics:
    """One stack's view of a template body: pseudo parameters, parameter values, names and resolution."""

    def __init__(self, body: Mapping[str, Any], *, path: Path, stack_name: str, account_id: str,
                 region: str = DEFAULT_REGION, parameters: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.resources: dict[str, dict[str, Any]] = dict(body.get("Resources", {}))
        self.pseudo = {"AWS::StackName": stack_name, "AWS::AccountId": account_id, "AWS::Region": region,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                       "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local"}
        self.mappings: dict[str, Any] = dict(body.get("Mappings", {}))
        self._conditions: dict[str, Any] = dict(body.get("Conditions", {}))
        specs: dict[str, dict[str, Any]] = body.get("Parameters", {})
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in specs.items()}
        for name, value in (parameters or {}).items():
            if name not in specs:
                raise ConfigError(f"{path} has no parameter {name!r} (have {sorted(specs)})")
            check_parameter(name, specs[name], str(value))
            self.parameters[name] = str(value)

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(logical id, resource) of every resource of a kind whose Condition holds, in template order."""
        return [(lid, r) for lid, r in self.resources.items()
                if r.get("Type") == kind and ("Condition" not in r or self.condition(str(r["Condition"])))]

    def kind(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise ConfigError(f"{self.path}: no resource {logical_id!r}")
        return str(self.resources[logical_id].get("Type"))

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, every intrinsic function resolved."""
        resolved = self.resolve(self.resources[logical_id].get("Properties", {}))
        return resolved if isinstance(resolved, dict) else {}

    def name(self, logical_id: str) -> str:
        """The physical name: the name property the template gives, else one CloudFormation would make."""
        resource = self.resources[logical_id]
        props = resource.get("Properties", {})
        for key in _NAME_PROPERTIES:
            if key in props and isinstance(props[key], str | dict):
                return str(self.resolve(props[key]))
        if resource.get("Type") == "AWS::Glue::Database":
            return str(self.resolve(props["DatabaseInput"]["Name"]))
        return f"{self.pseudo['AWS::StackName']}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind = self.kind(logical_id)
        if kind not in _ARNS:
            raise ConfigError(f"{self.path}: no ARN is made locally for {kind} ({logical_id})")
        return _ARNS[kind].format(partition=self.pseudo["AWS::Partition"], region=self.pseudo["AWS::Region"],
                                  account=self.pseudo["AWS::AccountId"], name=self.name(logical_id))

    def logical_id_of(self, value: Any) -> str:
        """The resource a property names by `!Ref X` or `!GetAtt X.Arn` (before resolution)."""
        if isinstance(value, dict):
            if "Fn::GetAtt" in value:
                return str(value["Fn::GetAtt"][0])
            if "Ref" in value and value["Ref"] in self.resources:
                return str(value["Ref"])
        raise ConfigError(f"{self.path}: expected !Ref <resource> or !GetAtt <resource>.Arn, got {value!r}")

    # -- the functions -------------------------------------------------------------------------------
    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            kind = self.kind(name)
            if kind in _REF_IS_ARN:
                return self.arn(name)
            if kind == "AWS::SQS::Queue":
                return self._get_att(name, "QueueUrl")
            return self.name(name)
        raise ConfigError(f"{self.path}: !Ref to unknown name {name!r}")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise ConfigError(f"{self.path}: !GetAtt on unknown resource {logical_id!r}")
        if attribute == "Arn":
            return self.arn(logical_id)
        kind = self.kind(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.name(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return (f"https://sqs.{self.pseudo['AWS::Region']}.amazonaws.com/{self.pseudo['AWS::AccountId']}/"
                    f"{self.name(logical_id)}")
        raise ConfigError(f"{self.path}: !GetAtt {logical_id}.{attribute} is not resolved locally")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                logical_id, attribute = token.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(token)

        return _SUB_RE.sub(replace, text)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise ConfigError(f"{self.path}: no condition {name!r}")
        return self._truth(self._conditions[name])

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(v) for v in arg)
            if key == "Fn::Or":
                return any(self._truth(v) for v in arg)
            if key == "Condition":
                return self.condition(str(arg))
        raise ConfigError(f"{self.path}: {value!r} is not a condition")

    def _find_in_map(self, arg: list[Any]) -> Any:
        mapping, first, second = (str(self.resolve(v)) for v in arg)
        try:
            return self.mappings[mapping][first][second]
        except KeyError as exc:
            raise ConfigError(f"{self.path}: no {mapping}.{first}.{second} in Mappings") from exc

    def _intrinsic(self, key: str, arg: Any) -> Any:
        functions: dict[str, Any] = {
            "Ref": lambda: self._ref(str(arg)),
            "Fn::GetAtt": lambda: self._get_att(str(arg[0]), str(arg[1])),
            "Fn::Sub": lambda: self._sub(str(arg[0]), arg[1]) if isinstance(arg, list) else self._sub(str(arg), {}),
            "Fn::Join": lambda: str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1])),
            "Fn::Select": lambda: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::Split": lambda: str(self.resolve(arg[1])).split(str(arg[0])),
            "Fn::If": lambda: self.resolve(arg[1] if self.condition(str(arg[0])) else arg[2]),
            "Fn::FindInMap": lambda: self._find_in_map(arg),
        }
        if key not in functions:
            raise ConfigError(f"{self.path}: {key} is not resolved by the local stack")
        return functions[key]()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not _REMOVED]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and arg == NO_VALUE_REF:
                return _REMOVED
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _REMOVED}

