"""Prints a wrk Lua script that replays one SigV4-signed request.

Usage: signed_request.py ENDPOINT KEY SECRET SETUP(yes|no)
With SETUP=yes it first creates 10 key pairs (bench-0..9) through boto3.
"""
import sys

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, key, secret, setup = sys.argv[1:5]
if setup == "yes":
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id=key, aws_secret_access_key=secret)
    for i in range(10):
        ec2.create_key_pair(KeyName=f"bench-{i}")
    assert len(ec2.describe_key_pairs()["KeyPairs"]) == 10

body = "Action=DescribeKeyPairs&Version=2016-11-15"
req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
SigV4Auth(Credentials(key, secret), "ec2", "us-east-1").add_auth(req)
print('wrk.method = "POST"')
print(f'wrk.body = "{body}"')
for k, v in req.headers.items():
    print(f'wrk.headers["{k}"] = "{v}"')
print('''
done = function(summary, latency, requests)
  io.write(string.format("non2xx=%d\\n", summary.errors.status))
end''')
