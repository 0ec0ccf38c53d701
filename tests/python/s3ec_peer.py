#!/usr/bin/env python3
"""A small command line over the official Amazon S3 Encryption Client for
Python (amazon-s3-encryption-client-python 4.x), used by s3seal's interop
tests as a real peer. Every command talks to an S3 + KMS endpoint (moto).

  s3ec_peer.py put --endpoint URL --bucket B --key K --in FILE --kms-key ARN
               [--format v3|v2] [--context k=v ...] [--part-size N]
  s3ec_peer.py get --endpoint URL --bucket B --key K --out FILE
               [--kms-key ARN | --aes-key-b64 K | --rsa-pem FILE]
               [--context k=v ...] [--policy require|allow]
  s3ec_peer.py to-instruction-file --endpoint URL --bucket B --key K

put: writes with the client's KMS keyring; --format v2 selects
ALG_AES_256_GCM_IV12_TAG16_NO_KDF under FORBID_ENCRYPT_ALLOW_DECRYPT (the
client's V2 writer); --part-size uses the client's multipart upload (parts
encrypted in sequence).

get: reads with the client. With --aes-key-b64 or --rsa-pem the client's
content decryption runs with a raw keyring defined here, which unwraps
AES/GCM and RSA-OAEP-SHA1 keys as the Java S3 Encryption Client wraps them
(the Python client ships only a KMS keyring).

to-instruction-file: moves an object's S3 Encryption Client metadata into
"<key>.instruction" the way the Java client lays out instruction-file mode
(V3: x-amz-c, x-amz-d, x-amz-i stay on the object; V2: everything moves),
since the Python client does not write instruction files itself.
"""

import argparse
import base64
import json
import sys

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.keyring import S3Keyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
V3_OBJECT_KEYS = ("x-amz-c", "x-amz-d", "x-amz-i")
S3EC_KEYS = {
    "x-amz-key", "x-amz-key-v2", "x-amz-wrap-alg", "x-amz-matdesc", "x-amz-iv", "x-amz-cek-alg",
    "x-amz-tag-len", "x-amz-c", "x-amz-3", "x-amz-m", "x-amz-t", "x-amz-w", "x-amz-d", "x-amz-i",
}
CONTENT_NAMES = (b"115", b"AES/GCM/NoPadding")


class RawKeyring(S3Keyring):
    """Decrypt-only raw keyring: AES/GCM (IV || GCM(key), AAD = content
    algorithm name) or RSA-OAEP-SHA1 over len || key || content algorithm."""

    def __init__(self, aes_key=None, rsa_private=None):
        self.aes_key = aes_key
        self.rsa_private = rsa_private

    def on_encrypt(self, enc_materials):
        raise RuntimeError("this test keyring only decrypts")

    def on_decrypt(self, dec_materials, encrypted_data_keys=None):
        dec_materials = super().on_decrypt(dec_materials, encrypted_data_keys)
        edk = (encrypted_data_keys or dec_materials.encrypted_data_keys)[0]
        blob = edk.encrypted_data_key
        if edk.key_provider_info == "AES/GCM" and self.aes_key is not None:
            for aad in CONTENT_NAMES:
                try:
                    dec_materials.plaintext_data_key = AESGCM(self.aes_key).decrypt(blob[:12], blob[12:], aad)
                    return dec_materials
                except Exception:
                    continue
            raise RuntimeError("AES/GCM key unwrap failed")
        if edk.key_provider_info == "RSA-OAEP-SHA1" and self.rsa_private is not None:
            pseudo = self.rsa_private.decrypt(
                blob, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
            )
            n = pseudo[0]
            if pseudo[1 + n:] not in CONTENT_NAMES:
                raise RuntimeError("RSA pseudo key names an unknown content algorithm")
            dec_materials.plaintext_data_key = pseudo[1:1 + n]
            return dec_materials
        raise RuntimeError(f"no raw key for wrapping algorithm {edk.key_provider_info}")


def clients(endpoint):
    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDS)
    kms = boto3.client("kms", endpoint_url=endpoint, **CREDS)
    return s3, kms


def context_arg(pairs):
    ctx = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        ctx[k] = v
    return ctx


def cmd_put(a):
    s3, kms = clients(a.endpoint)
    if a.format == "v2":
        config = S3EncryptionClientConfig(
            keyring=KmsKeyring(kms, a.kms_key),
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
        )
    else:
        config = S3EncryptionClientConfig(keyring=KmsKeyring(kms, a.kms_key))
    client = S3EncryptionClient(s3, config)
    ctx = context_arg(a.context)
    extra = {"EncryptionContext": ctx} if ctx else {}
    with open(a.input, "rb") as f:
        data = f.read()
    if a.part_size:
        up = client.create_multipart_upload(Bucket=a.bucket, Key=a.key, **extra)
        upload_id = up["UploadId"]
        parts = []
        chunks = [data[i:i + a.part_size] for i in range(0, len(data), a.part_size)] or [b""]
        for i, chunk in enumerate(chunks, start=1):
            r = client.upload_part(
                Bucket=a.bucket, Key=a.key, UploadId=upload_id, PartNumber=i, Body=chunk,
                IsLastPart=(i == len(chunks)),
            )
            parts.append({"PartNumber": i, "ETag": r["ETag"]})
        client.complete_multipart_upload(
            Bucket=a.bucket, Key=a.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    else:
        client.put_object(Bucket=a.bucket, Key=a.key, Body=data, **extra)


def cmd_get(a):
    s3, kms = clients(a.endpoint)
    if a.aes_key_b64:
        keyring = RawKeyring(aes_key=base64.b64decode(a.aes_key_b64))
    elif a.rsa_pem:
        with open(a.rsa_pem, "rb") as f:
            keyring = RawKeyring(rsa_private=serialization.load_pem_private_key(f.read(), password=None))
    else:
        keyring = KmsKeyring(kms, a.kms_key)
    policy = {
        "require": CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        "allow": CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
    }[a.policy]
    client = S3EncryptionClient(s3, S3EncryptionClientConfig(keyring=keyring, commitment_policy=policy))
    ctx = context_arg(a.context)
    extra = {"EncryptionContext": ctx} if ctx else {}
    body = client.get_object(Bucket=a.bucket, Key=a.key, **extra)["Body"].read()
    with open(a.out, "wb") as f:
        f.write(body)


def cmd_to_instruction_file(a):
    s3, _ = clients(a.endpoint)
    head = s3.head_object(Bucket=a.bucket, Key=a.key)
    meta = head.get("Metadata", {})
    v3 = "x-amz-3" in meta
    moved = {k: v for k, v in meta.items() if k in S3EC_KEYS and not (v3 and k in V3_OBJECT_KEYS)}
    kept = {k: v for k, v in meta.items() if k not in moved}
    s3.put_object(
        Bucket=a.bucket, Key=a.key + ".instruction", Body=json.dumps(moved).encode(),
        Metadata={"x-amz-crypto-instr-file": ""},
    )
    s3.copy_object(
        Bucket=a.bucket, Key=a.key, CopySource={"Bucket": a.bucket, "Key": a.key},
        Metadata=kept, MetadataDirective="REPLACE",
    )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    put = sub.add_parser("put")
    get = sub.add_parser("get")
    mv = sub.add_parser("to-instruction-file")
    for s in (put, get, mv):
        s.add_argument("--endpoint", required=True)
        s.add_argument("--bucket", required=True)
        s.add_argument("--key", required=True)
    put.add_argument("--in", dest="input", required=True)
    put.add_argument("--kms-key", required=True)
    put.add_argument("--format", choices=["v2", "v3"], default="v3")
    put.add_argument("--context", action="append")
    put.add_argument("--part-size", type=int)
    get.add_argument("--out", required=True)
    get.add_argument("--kms-key")
    get.add_argument("--aes-key-b64")
    get.add_argument("--rsa-pem")
    get.add_argument("--context", action="append")
    get.add_argument("--policy", choices=["require", "allow"], default="require")
    a = p.parse_args()
    {"put": cmd_put, "get": cmd_get, "to-instruction-file": cmd_to_instruction_file}[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the Rust side to show
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
