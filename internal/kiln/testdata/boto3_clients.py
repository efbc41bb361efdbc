"""Drives kiln with boto3/botocore (which parse XML case-sensitively).

Usage: boto3_clients.py ENDPOINT ACCESS_KEY SECRET ACCOUNT
Exits non-zero with a message on the first mismatch.
"""
import sys

import boto3
import botocore.exceptions

endpoint, key, secret, account = sys.argv[1:5]


def client(svc, region="us-east-1"):
    return boto3.client(svc, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret)


def expect_error(code, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"want {code}, got {got}: {e}"
        return e
    raise AssertionError(f"want {code}, call succeeded")


ident = client("sts").get_caller_identity()
assert ident["Account"] == account, ident
assert ident["Arn"] == f"arn:aws:iam::{account}:root", ident

ec2 = client("ec2", "ap-northeast-2")
regions = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
assert "ap-northeast-2" in regions, regions

kp = ec2.create_key_pair(KeyName="boto", KeyType="ed25519",
                         TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "Name", "Value": "b"}]}])
assert kp["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----"), kp
assert kp["KeyPairId"].startswith("key-"), kp
pairs = ec2.describe_key_pairs(Filters=[{"Name": "tag:Name", "Values": ["b"]}])["KeyPairs"]
assert [p["KeyName"] for p in pairs] == ["boto"], pairs
assert pairs[0]["KeyType"] == "ed25519" and pairs[0]["Tags"] == [{"Key": "Name", "Value": "b"}], pairs
assert pairs[0]["CreateTime"].year >= 2024, pairs
expect_error("InvalidKeyPair.Duplicate", ec2.create_key_pair, KeyName="boto")
expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=["missing"])
expect_error("DryRunOperation", ec2.delete_key_pair, KeyName="boto", DryRun=True)

vpc = ec2.describe_vpcs()["Vpcs"][0]
assert vpc["IsDefault"] is True and vpc["CidrBlock"] == "172.31.0.0/16", vpc
subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
assert sorted(s["AvailabilityZone"] for s in subnets) == ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"], subnets
ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "env", "Value": "dev"}])
tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["Tags"]
assert tags == [{"Key": "env", "ResourceId": vpc["VpcId"], "ResourceType": "vpc", "Value": "dev"}], tags

sg = ec2.create_security_group(GroupName="web", Description="web servers")
ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
groups = ec2.describe_security_groups(GroupIds=[sg["GroupId"]])["SecurityGroups"]
perm = groups[0]["IpPermissions"][0]
assert perm["FromPort"] == 80 and perm["IpRanges"][0]["CidrIp"] == "0.0.0.0/0", groups
expect_error("InvalidGroup.Duplicate", ec2.create_security_group, GroupName="web", Description="again")
ec2.delete_security_group(GroupId=sg["GroupId"])
expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[sg["GroupId"]])

# CloudWatch: botocore speaks awsJson1_0 with query-compatible errors.
cw = client("cloudwatch")
assert cw.list_metrics()["Metrics"] == []

# An unimplemented operation is a 4xx naming it, in the JSON protocol.
ssm = client("ssm")
e = expect_error("UnknownOperationException", ssm.describe_parameters)
assert "DescribeParameters" in e.response["Error"]["Message"], e.response
assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response

# Auth failures.
bad = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=key, aws_secret_access_key="wrong")
expect_error("SignatureDoesNotMatch", bad.get_caller_identity)
print("boto3: ok")
