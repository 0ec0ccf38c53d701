"""An aws-encryption-cli master key provider plugin for raw AES and RSA
wrapping keys read from files, so that s3seal's interop tests can exchange
raw-key messages with the aws-encryption-cli (which has no built-in raw
keys).

It is found through the `.dist-info` directory beside this file: put this
directory on PYTHONPATH and pass

    --wrapping-keys provider=s3seal-raw key=NAME namespace=NS keyfile=PATH [kind=aes|rsa-private|rsa-public] [padding=oaep-sha256|oaep-sha1|pkcs1]

AES key files hold 16, 24 or 32 raw bytes or base64 text of them (as
`s3seal keygen aes` writes); RSA key files are PEM.
"""

import base64
import binascii

from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

AES = {
    16: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    24: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    32: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}
RSA = {
    "oaep-sha256": WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    "oaep-sha1": WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    "oaep-sha384": WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    "oaep-sha512": WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
    "pkcs1": WrappingAlgorithm.RSA_PKCS1,
}


def read_aes_key(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        decoded = base64.b64decode(data.strip(), validate=True)
        if len(decoded) in AES:
            return decoded
    except (binascii.Error, ValueError):
        pass
    if len(data) in AES:
        return data
    raise ValueError("AES key file %s holds %d bytes" % (path, len(data)))


def _one(kwargs, name, default=None):
    value = kwargs.get(name, [default] if default is not None else None)
    if value is None:
        raise ValueError("s3seal-raw needs %s=..." % name)
    if len(value) != 1:
        raise ValueError("s3seal-raw takes exactly one %s=..." % name)
    return value[0]


def build(**kwargs):
    namespace = _one(kwargs, "namespace")
    keyfile = _one(kwargs, "keyfile")
    kind = _one(kwargs, "kind", "aes")
    padding = _one(kwargs, "padding", "oaep-sha256")
    if kind == "aes":
        key = read_aes_key(keyfile)
        wrapping = WrappingKey(
            wrapping_algorithm=AES[len(key)],
            wrapping_key=key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )
    elif kind in ("rsa-private", "rsa-public"):
        with open(keyfile, "rb") as f:
            pem = f.read()
        wrapping = WrappingKey(
            wrapping_algorithm=RSA[padding],
            wrapping_key=pem,
            wrapping_key_type=EncryptionKeyType.PRIVATE if kind == "rsa-private" else EncryptionKeyType.PUBLIC,
        )
    else:
        raise ValueError("unknown kind %r (aes, rsa-private, rsa-public)" % kind)

    class FileKeyProvider(RawMasterKeyProvider):
        provider_id = namespace

        def _get_raw_key(self, key_id):
            return wrapping

    return FileKeyProvider()
