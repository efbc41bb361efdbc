"""Drives kiln's S3 with boto3: buckets, objects, multipart transfers,
presigned URLs, region redirects, errors. Usage: s3_boto3.py ENDPOINT KEY SECRET TMPDIR"""
import hashlib
import os
import sys
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, key, secret, tmp = sys.argv[1:5]


def client(region):
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"},
                                                                    retries={"max_attempts": 1}))


def code(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("no error from %s" % fn)


eu = client("eu-west-1")
eu.create_bucket(Bucket="boto-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
assert eu.get_bucket_location(Bucket="boto-eu")["LocationConstraint"] == "eu-west-1"
assert code(eu.create_bucket, Bucket="boto-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}) == "BucketAlreadyOwnedByYou"

# Objects with metadata; botocore sends its default CRC32 checksum.
put = eu.put_object(Bucket="boto-eu", Key="docs/component.yaml", Body=b"name: hello\n",
                    ContentType="application/x-yaml", Metadata={"stage": "build"})
assert put["ETag"] == '"%s"' % hashlib.md5(b"name: hello\n").hexdigest(), put["ETag"]
got = eu.get_object(Bucket="boto-eu", Key="docs/component.yaml", ChecksumMode="ENABLED")
assert got["Body"].read() == b"name: hello\n"
assert got["ContentType"] == "application/x-yaml" and got["Metadata"] == {"stage": "build"}, got
assert code(eu.get_object, Bucket="boto-eu", Key="nope") == "NoSuchKey"
assert code(eu.head_object, Bucket="boto-eu", Key="nope") == "404"
assert code(eu.list_objects_v2, Bucket="no-such-bucket-x") == "NoSuchBucket"

# A 25 MB transfer goes multipart (threshold 8 MB) and round-trips.
src = os.path.join(tmp, "big.bin")
with open(src, "wb") as f:
    f.write(os.urandom(25 << 20))
cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
eu.upload_file(src, "boto-eu", "images/disk.raw", Config=cfg)
head = eu.head_object(Bucket="boto-eu", Key="images/disk.raw")
assert head["ETag"].endswith('-4"'), head["ETag"]
dst = os.path.join(tmp, "big.out")
eu.download_file("boto-eu", "images/disk.raw", dst, Config=cfg)
assert open(src, "rb").read() == open(dst, "rb").read()

# Keys with characters that need encoding; listings decode encoding-type=url.
for k in ["a b/c+d.txt", "ü/ñ.txt", "x&y=z"]:
    eu.put_object(Bucket="boto-eu", Key=k, Body=b"k")
keys = [o["Key"] for p in eu.get_paginator("list_objects_v2").paginate(Bucket="boto-eu", PaginationConfig={"PageSize": 2})
        for o in p.get("Contents", [])]
assert keys == sorted(["docs/component.yaml", "images/disk.raw", "a b/c+d.txt", "ü/ñ.txt", "x&y=z"], key=lambda s: s.encode()), keys
v1 = [o["Key"] for p in eu.get_paginator("list_objects").paginate(Bucket="boto-eu", PaginationConfig={"PageSize": 2})
      for o in p.get("Contents", [])]
assert v1 == keys, v1
top = eu.list_objects_v2(Bucket="boto-eu", Delimiter="/")
assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a b/", "docs/", "images/", "ü/"], top["CommonPrefixes"]

# Presigned GET works, and a client in another region is redirected.
url = eu.generate_presigned_url("get_object", Params={"Bucket": "boto-eu", "Key": "docs/component.yaml"}, ExpiresIn=60)
assert urllib.request.urlopen(url).read() == b"name: hello\n"
west = client("us-west-2")
assert west.get_object(Bucket="boto-eu", Key="docs/component.yaml")["Body"].read() == b"name: hello\n"

# Copy, tagging, delete_objects, delete bucket.
eu.copy_object(Bucket="boto-eu", Key="docs/copy.yaml", CopySource={"Bucket": "boto-eu", "Key": "docs/component.yaml"})
eu.put_object_tagging(Bucket="boto-eu", Key="docs/copy.yaml", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
assert eu.get_object_tagging(Bucket="boto-eu", Key="docs/copy.yaml")["TagSet"] == [{"Key": "k", "Value": "v"}]
assert code(eu.delete_bucket, Bucket="boto-eu") == "BucketNotEmpty"
objs = [{"Key": o["Key"]} for o in eu.list_objects_v2(Bucket="boto-eu")["Contents"]]
res = eu.delete_objects(Bucket="boto-eu", Delete={"Objects": objs})
assert len(res["Deleted"]) == len(objs) and not res.get("Errors"), res
eu.delete_bucket(Bucket="boto-eu")
assert code(eu.head_bucket, Bucket="boto-eu") == "404"
print("ok")
