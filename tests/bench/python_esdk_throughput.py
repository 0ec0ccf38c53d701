"""Throughput of the Python ESDK (aws-encryption-sdk 4 with the MPL) on the
same payload as `cargo bench -p s3seal --bench throughput`: 256 MiB,
suite 0x0478, 64 KiB frames, raw AES-256 keyring. Prints median GB/s.

Run: .venv/bin/python tests/bench/python_esdk_throughput.py [MiB] [runs]
"""
import statistics
import sys
import time

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import AesWrappingAlg, CreateRawAesKeyringInput
from aws_encryption_sdk.identifiers import AlgorithmSuite, CommitmentPolicy

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
payload = bytes((i * 31 + 7) & 0xFF for i in range(256)) * (mib * 4096)
mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
keyring = mpl.create_raw_aes_keyring(
    input=CreateRawAesKeyringInput(
        key_namespace="bench", key_name="key", wrapping_key=b"\x07" * 32, wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16
    )
)
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def measure(f):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return len(payload) / statistics.median(times) / 1e9, out


enc, ct = measure(
    lambda: client.encrypt(
        source=payload,
        keyring=keyring,
        algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        frame_length=65536,
    )[0]
)
dec, pt = measure(lambda: client.decrypt(source=ct, keyring=keyring)[0])
assert pt == payload
print(f"python ESDK {aws_encryption_sdk.__version__}: {mib} MiB, 0x0478, 64 KiB frames, median of {runs}: encrypt {enc:.2f} GB/s, decrypt {dec:.2f} GB/s")
