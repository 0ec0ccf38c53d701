#!/usr/bin/env python3
"""A small command line over the official Python AWS Encryption SDK (4.x, with
the Material Providers Library), used by s3seal's interop tests as a real peer.

  esdk_peer.py encrypt|decrypt --keyring K.json --in F --out F
               [--suite 0x0478|0x0578] [--frame-length N] [--context k=v ...]
  esdk_peer.py batch --jobs JOBS.json
  esdk_peer.py gen-rsa --bits 2048 --out KEY.pem     (PKCS #8 private key PEM)

Keyring JSON:
  {"type":"aes","namespace":..,"name":..,"key_b64":..}
  {"type":"rsa","namespace":..,"name":..,"pem":..,"padding":"oaep-sha256|oaep-sha1|oaep-sha384|oaep-sha512|pkcs1"}
  {"type":"kms","key_arn":..,"endpoint":..,"region":"us-east-1"}
  {"type":"multi","generator":{..},"children":[..]}

Decryption always runs under REQUIRE_ENCRYPT_REQUIRE_DECRYPT and checks that
every given context pair is in the message's encryption context.

Batch mode runs many jobs in one process (each process start costs about a
second). JOBS.json is a list of objects with the keys "op" ("encrypt" or
"decrypt"), "keyring" (an object as above, or a path to a JSON file), "in",
"out", and optionally "suite", "frame_length", "context" (an object) and "id".
It prints one JSON line per job: {"id":..,"ok":true} or
{"id":..,"ok":false,"error":".."}, and exits 1 if any job failed.
"""

import argparse
import base64
import json
import os
import sys
import traceback

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateAwsKmsKeyringInput,
    CreateMultiKeyringInput,
    CreateRawAesKeyringInput,
    CreateRawRsaKeyringInput,
    PaddingScheme,
)
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PADDINGS = {
    "pkcs1": PaddingScheme.PKCS1,
    "oaep-sha1": PaddingScheme.OAEP_SHA1_MGF1,
    "oaep-sha256": PaddingScheme.OAEP_SHA256_MGF1,
    "oaep-sha384": PaddingScheme.OAEP_SHA384_MGF1,
    "oaep-sha512": PaddingScheme.OAEP_SHA512_MGF1,
}
AES_ALGS = {
    16: AesWrappingAlg.ALG_AES128_GCM_IV12_TAG16,
    24: AesWrappingAlg.ALG_AES192_GCM_IV12_TAG16,
    32: AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
}


class PeerError(Exception):
    pass


_mpl = None


def mpl():
    global _mpl
    if _mpl is None:
        _mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    return _mpl


def build_keyring(spec):
    kind = spec.get("type")
    if kind == "aes":
        key = base64.b64decode(spec["key_b64"])
        if len(key) not in AES_ALGS:
            raise PeerError(f"AES wrapping key must be 16, 24 or 32 bytes, got {len(key)}")
        return mpl().create_raw_aes_keyring(
            input=CreateRawAesKeyringInput(
                key_namespace=spec["namespace"],
                key_name=spec["name"],
                wrapping_key=key,
                wrapping_alg=AES_ALGS[len(key)],
            )
        )
    if kind == "rsa":
        padding = spec.get("padding", "oaep-sha256").lower()
        if padding not in PADDINGS:
            raise PeerError(f"unknown RSA padding {padding!r}")
        pem = spec["pem"].encode()
        public_pem = None
        private_pem = None
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            private_pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            public = private.public_key()
        else:
            public = serialization.load_pem_public_key(pem)
        public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return mpl().create_raw_rsa_keyring(
            input=CreateRawRsaKeyringInput(
                key_namespace=spec["namespace"],
                key_name=spec["name"],
                padding_scheme=PADDINGS[padding],
                public_key=public_pem,
                private_key=private_pem,
            )
        )
    if kind == "kms":
        client = boto3.client(
            "kms",
            endpoint_url=spec.get("endpoint"),
            region_name=spec.get("region", "us-east-1"),
            aws_access_key_id=spec.get("access_key", "AKIAIOSFODNN7EXAMPLE"),
            aws_secret_access_key=spec.get("secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        )
        return mpl().create_aws_kms_keyring(
            input=CreateAwsKmsKeyringInput(kms_key_id=spec["key_arn"], kms_client=client)
        )
    if kind == "multi":
        generator = build_keyring(spec["generator"]) if spec.get("generator") else None
        children = [build_keyring(c) for c in spec.get("children", [])]
        return mpl().create_multi_keyring(
            input=CreateMultiKeyringInput(generator=generator, child_keyrings=children)
        )
    raise PeerError(f"unknown keyring type {kind!r}")


_keyrings = {}


def keyring_for(spec):
    """spec: a keyring object, or a path to a JSON file holding one."""
    if isinstance(spec, str):
        with open(spec, "r", encoding="utf-8") as f:
            spec = json.load(f)
    cache_key = json.dumps(spec, sort_keys=True)
    if cache_key not in _keyrings:
        _keyrings[cache_key] = build_keyring(spec)
    return _keyrings[cache_key]


def parse_suite(text):
    if text is None:
        return Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    value = int(text, 16) if isinstance(text, str) else int(text)
    try:
        return Algorithm.get_by_id(value)
    except Exception as e:  # noqa: BLE001
        raise PeerError(f"unknown algorithm suite {text!r}: {e}") from e


def client():
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def do_encrypt(keyring, src, dst, suite=None, frame_length=None, context=None):
    with open(src, "rb") as f:
        plaintext = f.read()
    kwargs = dict(
        source=plaintext,
        keyring=keyring,
        encryption_context=dict(context or {}),
        algorithm=parse_suite(suite),
    )
    if frame_length is not None:
        kwargs["frame_length"] = int(frame_length)
    ciphertext, _header = client().encrypt(**kwargs)
    with open(dst, "wb") as f:
        f.write(ciphertext)


def do_decrypt(keyring, src, dst, context=None):
    with open(src, "rb") as f:
        ciphertext = f.read()
    context = dict(context or {})
    plaintext, header = client().decrypt(
        source=ciphertext, keyring=keyring, encryption_context=context
    )
    stored = header.encryption_context
    for k, v in context.items():
        if stored.get(k) != v:
            raise PeerError(
                f"encryption context pair {k}={v} missing from message (has {sorted(stored)})"
            )
    with open(dst, "wb") as f:
        f.write(plaintext)


def run_job(job):
    keyring = keyring_for(job["keyring"])
    op = job.get("op")
    if op == "encrypt":
        do_encrypt(
            keyring,
            job["in"],
            job["out"],
            suite=job.get("suite"),
            frame_length=job.get("frame_length"),
            context=job.get("context"),
        )
    elif op == "decrypt":
        do_decrypt(keyring, job["in"], job["out"], context=job.get("context"))
    else:
        raise PeerError(f"unknown op {op!r}")


def parse_context(pairs):
    ctx = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise PeerError(f"--context expects k=v, got {pair!r}")
        k, v = pair.split("=", 1)
        ctx[k] = v
    return ctx


def gen_rsa(bits, out):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open(out, "wb") as f:
        f.write(pem)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("encrypt", "decrypt"):
        p = sub.add_parser(name)
        p.add_argument("--keyring", required=True, help="keyring JSON file")
        p.add_argument("--in", dest="src", required=True)
        p.add_argument("--out", dest="dst", required=True)
        p.add_argument("--context", nargs="*", default=[], metavar="K=V")
        if name == "encrypt":
            p.add_argument("--suite", default="0x0478")
            p.add_argument("--frame-length", type=int, default=None)
    p = sub.add_parser("batch")
    p.add_argument("--jobs", required=True, help="JSON file with a list of jobs")
    p = sub.add_parser("gen-rsa")
    p.add_argument("--bits", type=int, default=2048)
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    try:
        if args.cmd == "encrypt":
            do_encrypt(
                keyring_for(args.keyring),
                args.src,
                args.dst,
                suite=args.suite,
                frame_length=args.frame_length,
                context=parse_context(args.context),
            )
        elif args.cmd == "decrypt":
            do_decrypt(keyring_for(args.keyring), args.src, args.dst, context=parse_context(args.context))
        elif args.cmd == "gen-rsa":
            gen_rsa(args.bits, args.out)
        elif args.cmd == "batch":
            with open(args.jobs, "r", encoding="utf-8") as f:
                jobs = json.load(f)
            failures = 0
            for i, job in enumerate(jobs):
                job_id = job.get("id", i)
                try:
                    run_job(job)
                    print(json.dumps({"id": job_id, "ok": True}), flush=True)
                except Exception as e:  # noqa: BLE001 - report every job
                    failures += 1
                    print(
                        json.dumps({"id": job_id, "ok": False, "error": f"{type(e).__name__}: {e}"}),
                        flush=True,
                    )
            return 1 if failures else 0
    except Exception as e:  # noqa: BLE001
        print(f"esdk_peer {args.cmd} failed: {type(e).__name__}: {e}", file=sys.stderr)
        if os.environ.get("ESDK_PEER_DEBUG"):
            traceback.print_exc(file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
