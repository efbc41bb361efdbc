"""Drives kiln's KMS with boto3 (awsJson 1.1, base64 blobs).

Usage: kms_boto3.py ENDPOINT ACCESS_KEY SECRET ACCOUNT
"""
import sys

import boto3
import botocore.exceptions

endpoint, key, secret, account = sys.argv[1:5]
kms = boto3.client("kms", endpoint_url=endpoint, region_name="eu-west-2",
                   aws_access_key_id=key, aws_secret_access_key=secret)

md = kms.create_key(Description="boto3", Tags=[{"TagKey": "k", "TagValue": "v"}])["KeyMetadata"]
assert md["Arn"] == f"arn:aws:kms:eu-west-2:{account}:key/{md['KeyId']}", md
assert md["KeyState"] == "Enabled" and md["KeyManager"] == "CUSTOMER", md
kms.create_alias(AliasName="alias/boto", TargetKeyId=md["KeyId"])
enc = kms.encrypt(KeyId="alias/boto", Plaintext=b"\x00\x01binary", EncryptionContext={"a": "b"})
assert enc["KeyId"] == md["Arn"], enc
dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"a": "b"})
assert dec["Plaintext"] == b"\x00\x01binary", dec
try:
    kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])
    raise AssertionError("decrypt without context succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidCiphertextException", e.response
dk = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
assert len(dk["Plaintext"]) == 32
aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
assert aliases == ["alias/boto"], aliases
sd = kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
assert sd["KeyState"] == "PendingDeletion", sd
try:
    kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    raise AssertionError("encrypt with a key pending deletion succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "KMSInvalidStateException", e.response
print("ok")
