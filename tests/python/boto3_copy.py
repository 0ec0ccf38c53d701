#!/usr/bin/env python3
"""boto3's managed copy (`client.copy`, default TransferConfig: multipart
copy in 8 MiB parts above 8 MiB) through the s3seal proxy.

Run by tests/tests/copy_parts.rs with the venv's Python and an environment
built from nothing; reports what it saw as one JSON object on stdout, the
Rust test decides what is right.

    boto3_copy.py --endpoint URL --access-key AK --secret-key SK
        --file PATH --bucket B --other-bucket B2 --out DIR

  * create_bucket B and B2; upload_file PATH to B/src/NAME;
  * copy B/src/NAME to B2/copy/NAME (another bucket) and to B/same/NAME
    (the same bucket);
  * download_file of both copies to DIR/copy-NAME and DIR/same-NAME;
  * head_object of both copies (size, ETag).
"""

import argparse
import json
import os
import sys

import boto3
from botocore.config import Config


def make_client(args):
    session = boto3.session.Session(
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
    )
    return session.client("s3", endpoint_url=args.endpoint, config=Config(s3={"addressing_style": "path"}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--other-bucket", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    c = make_client(args)
    name = os.path.basename(args.file)
    for b in (args.bucket, args.other_bucket):
        c.create_bucket(Bucket=b)
    source = {"Bucket": args.bucket, "Key": "src/" + name}
    c.upload_file(args.file, args.bucket, "src/" + name)
    copies = {"copy": (args.other_bucket, "copy/" + name), "same": (args.bucket, "same/" + name)}
    report = {"boto3": boto3.__version__, "copies": {}}
    for label, (bucket, key) in copies.items():
        c.copy(source, bucket, key)
        path = os.path.join(args.out, label + "-" + name)
        c.download_file(bucket, key, path)
        head = c.head_object(Bucket=bucket, Key=key)
        report["copies"][label] = {
            "bucket": bucket,
            "key": key,
            "file": path,
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
        }
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
