#!/usr/bin/env python3
"""boto3 (default settings, default checksum behaviour) against the s3seal proxy.

Run by tests/tests/proxy_clients.rs with the venv's Python and an
environment built from nothing. Does what an unmodified boto3 program does
and reports what it saw as one JSON object on stdout; the Rust test decides
what is right.

    boto3_client.py scenario --endpoint URL --access-key AK --secret-key SK
        --bucket B --files DIR --out DIR [--ca-bundle PEM]

scenario:
  * create_bucket; upload_file of every file in --files (TransferConfig
    defaults: multipart above 8 MiB, 8 MiB parts, threads) to KEY=name, and
    put_object of each file's bytes to put/NAME;
  * download_file of each KEY to --out/NAME (above 8 MiB: ranged GETs of
    8 MiB in parallel), get_object of put/NAME to --out/put-NAME;
  * head_object sizes and ETags, list_objects_v2 and list_objects sizes;
  * ranged get_object in several forms, bodies to --out/range-I;
  * a presigned GET URL (fetched with urllib) to --out/presigned-NAME, and an
    expired one (1 s, fetched after 2 s).
"""

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RANGES = [
    ("f64k1", "bytes=0-0"),
    ("f64k1", "bytes=0-99"),
    ("f64k1", "bytes=65530-65545"),
    ("f64k1", "bytes=65536-65536"),
    ("f64k1", "bytes=65536-"),
    ("f64k1", "bytes=-1"),
    ("f64k1", "bytes=-70000"),
    ("f64k1", "bytes=100-100000000"),
    ("f64k", "bytes=65535-"),
    ("f1", "bytes=0-"),
    ("f20m", "bytes=8388600-8388700"),
    ("f20m", "bytes=1000000-9000000"),
    ("f20m", "bytes=-5"),
    ("f20m", "bytes=20971000-"),
    # Not satisfiable: 416 InvalidRange.
    ("f64k1", "bytes=65537-"),
    ("f0", "bytes=0-0"),
]


def make_client(args):
    session = boto3.session.Session(
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
    )
    return session.client(
        "s3",
        endpoint_url=args.endpoint,
        verify=args.ca_bundle if args.ca_bundle else True,
        # botocore (1.44) presigns S3 URLs with SigV2 unless told s3v4; the
        # proxy refuses SigV2 by default, as AWS does (docs/PROXY.md).
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def fetch(url, ca_bundle):
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
    try:
        with urllib.request.urlopen(url, context=context, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def error_code(body):
    text = body.decode("utf-8", "replace")
    if "<Code>" in text:
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return None


def scenario(args):
    c = make_client(args)
    report = {"boto3": boto3.__version__}
    c.create_bucket(Bucket=args.bucket)
    names = sorted(os.listdir(args.files))
    for name in names:
        path = os.path.join(args.files, name)
        c.upload_file(path, args.bucket, name)
        with open(path, "rb") as f:
            put = c.put_object(Bucket=args.bucket, Key="put/" + name, Body=f.read())
        report.setdefault("put_etags", {})[name] = put["ETag"].strip('"')
    for name in names:
        c.download_file(args.bucket, name, os.path.join(args.out, name))
        body = c.get_object(Bucket=args.bucket, Key="put/" + name)["Body"].read()
        with open(os.path.join(args.out, "put-" + name), "wb") as f:
            f.write(body)
        head = c.head_object(Bucket=args.bucket, Key=name)
        report.setdefault("head", {})[name] = {"size": head["ContentLength"], "etag": head["ETag"].strip('"')}
    v2 = c.list_objects_v2(Bucket=args.bucket)
    report["list_v2"] = {o["Key"]: o["Size"] for o in v2.get("Contents", [])}
    v1 = c.list_objects(Bucket=args.bucket)
    report["list_v1"] = {o["Key"]: o["Size"] for o in v1.get("Contents", [])}

    ranges = []
    for i, (key, rng) in enumerate(RANGES):
        entry = {"key": key, "range": rng}
        try:
            r = c.get_object(Bucket=args.bucket, Key=key, Range=rng)
            body = r["Body"].read()
            path = os.path.join(args.out, "range-%d" % i)
            with open(path, "wb") as f:
                f.write(body)
            entry.update(
                status=r["ResponseMetadata"]["HTTPStatusCode"],
                content_range=r.get("ContentRange"),
                content_length=r["ContentLength"],
                checksum_headers=sorted(
                    h for h in r["ResponseMetadata"]["HTTPHeaders"] if h.startswith("x-amz-checksum")
                ),
                file=path,
            )
        except ClientError as e:
            entry.update(status=e.response["ResponseMetadata"]["HTTPStatusCode"], code=e.response["Error"]["Code"])
        ranges.append(entry)
    report["ranges"] = ranges

    presigned = {}
    for name in names:
        url = c.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": name}, ExpiresIn=300)
        status, body = fetch(url, args.ca_bundle)
        path = os.path.join(args.out, "presigned-" + name)
        with open(path, "wb") as f:
            f.write(body)
        presigned[name] = {"status": status, "file": path}
    report["presigned"] = presigned
    url = c.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": "f1"}, ExpiresIn=1)
    time.sleep(2.5)
    status, body = fetch(url, args.ca_bundle)
    report["expired"] = {"status": status, "code": error_code(body)}
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["scenario"])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--files", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ca-bundle")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    json.dump(scenario(args), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
