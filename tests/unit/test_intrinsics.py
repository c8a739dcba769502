"""The intrinsic functions the local stack resolves, as CloudFormation resolves them for one stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohlcv_core.errors import ConfigError
from stack_tools.intrinsics import Intrinsics, load_template

TEMPLATE = """
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: "2", MinValue: 1, MaxValue: 9}
  Name: {Type: String, Default: abc, AllowedPattern: "^[a-z]+$"}
Mappings:
  Sizes: {dev: {Memory: "256"}, prod: {Memory: "1024"}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Either: !Or [!Condition IsProd, !Condition IsDev]
  Both: !And [!Condition IsProd, !Condition IsDev]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${AWS::StackName}-q"}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: t}
  OnlyInProd:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Thing:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !Join ["-", [!Ref AWS::StackName, !Select [1, !Split [",", "a,b,c"]]]]
      MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
      Tier: !If [IsProd, gold, !Ref AWS::NoValue]
      Tags: [!If [IsDev, dev-tag, !Ref AWS::NoValue], kept]
      QueueUrl: !Ref Queue
      QueueArn: !GetAtt Queue.Arn
      TopicRef: !Ref Topic
      Both: !If [Both, x, y]
      Either: !If [Either, x, y]
"""


def _stack(tmp_path: Path, **parameters: str) -> Intrinsics:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return Intrinsics(load_template(path), path=path, stack_name="s", account_id="1", parameters=parameters)


def test_the_functions_resolve_as_cloudformation_would(tmp_path: Path) -> None:
    dev = _stack(tmp_path).properties("Thing")
    assert dev == {"FunctionName": "s-b", "MemorySize": "256", "Tags": ["dev-tag", "kept"],
                   "QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/s-q",
                   "QueueArn": "arn:aws:sqs:us-east-1:1:s-q", "TopicRef": "arn:aws:sns:us-east-1:1:t",
                   "Both": "y", "Either": "x"}  # Tier left out: AWS::NoValue
    prod = _stack(tmp_path, Env="prod")
    assert prod.properties("Thing")["Tier"] == "gold" and prod.properties("Thing")["Tags"] == ["kept"]
    assert [lid for lid, _ in prod.of_type("AWS::SQS::Queue")] == ["Queue", "OnlyInProd"]
    assert [lid for lid, _ in _stack(tmp_path).of_type("AWS::SQS::Queue")] == ["Queue"]  # its Condition is false


@pytest.mark.parametrize(("parameters", "why"), [({"Env": "test"}, "not one of"), ({"Size": "10"}, "MaxValue"),
                                                 ({"Size": "x"}, "not a number"), ({"Name": "A1"}, "does not match"),
                                                 ({"Nope": "1"}, "no parameter")])
def test_parameter_values_are_checked_before_anything_resolves(tmp_path: Path, parameters: dict[str, str],
                                                               why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        _stack(tmp_path, **parameters)
