"""The archive file: encrypted (AES-256-GCM, key from a passphrase by scrypt) and signed (Ed25519).

Layout (all lengths big-endian)::

    MAGIC (16 bytes)
    u32 header length, header      JSON: format, center code, KDF salt and cost, nonces, signer
    body ciphertext                AES-256-GCM of the framed body (``frames``), streamed
    body tag (16 bytes)
    manifest ciphertext            AES-256-GCM of the manifest JSON (a second nonce)
    u32 manifest ciphertext length
    signature (64 bytes)           Ed25519 over SIGNING_CONTEXT + SHA-512(everything before it)

Both ciphertexts take the header as associated data, so the header cannot be swapped either.
The signature is checked first, before any key is derived or byte decrypted: a changed byte, a
truncated file or a file signed by anyone but the holder of the exporter's key is refused
outright.  Then the manifest (small, at a known place) is decrypted: a wrong passphrase fails
there, before the body is read.  The body is decrypted as a stream; its GCM tag is checked at its
end, and the importer commits nothing before that.

Why a signature and not only the GCM tag or an HMAC: whoever learns the passphrase (it must be
handed to the receiving operator, and passphrases travel by phone or paper) could otherwise
build an archive of their own that decrypts fine; the receiving operator holds only the
exporter's *public* key, so even they cannot forge one.  Keys are PEM files (``centers keygen``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"TEICHAKU-CENTER1"
FORMAT = "teichaku-center-archive"
FORMAT_VERSION = 1
SIGNING_CONTEXT = b"teichaku-center-archive-v1\x00"
TAG_BYTES = 16
SIGNATURE_BYTES = 64
CHUNK = 1024 * 1024
# scrypt cost: 128 MiB of memory and about half a second per derivation; an archive may ask for
# at most MAX_SCRYPT_N (a hostile header must not make the importer allocate gigabytes).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1
MAX_SCRYPT_N = 2 ** 20
MIN_PASSPHRASE = 16


class ArchiveRefused(Exception):
    """The archive cannot be used; the message is Japanese and says why (safe to print)."""


# --- keys ----------------------------------------------------------------------------------------

def generate_signing_key(prefix: Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair: ``PREFIX.key`` (private, mode 0600) and ``PREFIX.pub``."""
    key = Ed25519PrivateKey.generate()
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ArchiveRefused("署名鍵を読み込めません（Ed25519 の秘密鍵 PEM を指定してください）。") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiveRefused("署名鍵が Ed25519 の鍵ではありません。")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ArchiveRefused("公開鍵を読み込めません（Ed25519 の公開鍵 PEM を指定してください）。") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ArchiveRefused("公開鍵が Ed25519 の鍵ではありません。")
    return key


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key: what the two operators read to each other to compare."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def check_passphrase(passphrase: str) -> None:
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise ArchiveRefused(f"合言葉は{MIN_PASSPHRASE}文字以上にしてください。")


def _derive_key(passphrase: str, kdf: dict) -> bytes:
    try:
        salt = base64.b64decode(kdf["salt"], validate=True)
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ArchiveRefused("アーカイブの鍵導出パラメータが正しくありません。") from exc
    if kdf.get("name") != "scrypt" or not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0) or not (1 <= r <= 16) \
            or not (1 <= p <= 4) or len(salt) < 16:
        raise ArchiveRefused("アーカイブの鍵導出パラメータが正しくありません。")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- writing -------------------------------------------------------------------------------------

class ArchiveWriter:
    """Writes one archive: ``write(body bytes)`` any number of times, then ``close(manifest)``.

    The body is encrypted as it is written; nothing of it is kept in memory."""

    def __init__(self, out: BinaryIO, *, center_code: str, created_at: str, passphrase: str,
                 signing_key: Ed25519PrivateKey):
        check_passphrase(passphrase)
        self._out, self._signing_key = out, signing_key
        self._hash = hashlib.sha512()
        kdf = {"name": "scrypt", "salt": _b64(os.urandom(16)), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        self._body_nonce, self._manifest_nonce = os.urandom(12), os.urandom(12)
        header = {
            "format": FORMAT, "version": FORMAT_VERSION, "center_code": center_code, "created_at": created_at,
            "cipher": "AES-256-GCM", "kdf": kdf, "body_nonce": _b64(self._body_nonce),
            "manifest_nonce": _b64(self._manifest_nonce), "signature": "Ed25519",
            "signer": fingerprint(signing_key.public_key()),
        }
        self._header = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        self._key = _derive_key(passphrase, kdf)
        self._encryptor = Cipher(algorithms.AES(self._key), modes.GCM(self._body_nonce)).encryptor()
        self._encryptor.authenticate_additional_data(self._header)
        self._emit(MAGIC + struct.pack(">I", len(self._header)) + self._header)

    def _emit(self, data: bytes) -> None:
        self._hash.update(data)
        self._out.write(data)

    def write(self, data: bytes) -> None:
        if data:
            self._emit(self._encryptor.update(data))

    def close(self, manifest: dict) -> str:
        """Finish the body, append the encrypted manifest and the signature; returns the SHA-512
        of the whole file (what ``sha512sum`` prints), for the two operators to compare."""
        self._emit(self._encryptor.finalize())
        self._emit(self._encryptor.tag)
        sealed = AESGCM(self._key).encrypt(self._manifest_nonce, json.dumps(manifest, sort_keys=True).encode(),
                                           self._header)
        self._emit(sealed + struct.pack(">I", len(sealed)))
        self._emit(self._signing_key.sign(SIGNING_CONTEXT + self._hash.digest()))
        self._out.flush()
        return self._hash.hexdigest()


# --- reading -------------------------------------------------------------------------------------

@dataclass
class Layout:
    header: dict
    header_bytes: bytes
    body_start: int
    body_end: int  # the body tag starts here
    manifest_start: int
    manifest_end: int
    digest: bytes  # SHA-512 of everything before the signature


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ArchiveRefused("アーカイブが途中で切れています。")
    return data


def _hash_range(f: BinaryIO, end: int) -> bytes:
    f.seek(0)
    digest, left = hashlib.sha512(), end
    while left:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            raise ArchiveRefused("アーカイブが途中で切れています。")
        digest.update(chunk)
        left -= len(chunk)
    return digest.digest()


def verify_signature(f: BinaryIO, public_key: Ed25519PublicKey) -> Layout:
    """Check the signature over the whole file, then parse the layout.  Nothing is decrypted."""
    size = f.seek(0, io.SEEK_END)
    if size < len(MAGIC) + 4 + TAG_BYTES + 4 + SIGNATURE_BYTES:
        raise ArchiveRefused("Teichaku のセンターアーカイブではありません。")
    f.seek(0)
    if _read_exact(f, len(MAGIC)) != MAGIC:
        raise ArchiveRefused("Teichaku のセンターアーカイブではありません。")
    signed_end = size - SIGNATURE_BYTES
    f.seek(signed_end)
    signature = _read_exact(f, SIGNATURE_BYTES)
    digest = _hash_range(f, signed_end)
    try:
        public_key.verify(signature, SIGNING_CONTEXT + digest)
    except InvalidSignature as exc:
        raise ArchiveRefused("署名が一致しません。アーカイブが改ざんされたか、指定した公開鍵の持ち主が作成したものではありません。") from exc
    return _layout(f, signed_end, digest)


def _layout(f: BinaryIO, signed_end: int, digest: bytes) -> Layout:
    f.seek(len(MAGIC))
    (header_len,) = struct.unpack(">I", _read_exact(f, 4))
    header_bytes = _read_exact(f, header_len)
    try:
        header = json.loads(header_bytes)
    except ValueError as exc:
        raise ArchiveRefused("アーカイブのヘッダーが読めません。") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ArchiveRefused("Teichaku のセンターアーカイブではありません。")
    if header.get("version") != FORMAT_VERSION:
        raise ArchiveRefused("このバージョンでは読めない形式のアーカイブです。")
    f.seek(signed_end - 4)
    (manifest_len,) = struct.unpack(">I", _read_exact(f, 4))
    manifest_start = signed_end - 4 - manifest_len
    body_start = len(MAGIC) + 4 + header_len
    body_end = manifest_start - TAG_BYTES
    if body_end < body_start:
        raise ArchiveRefused("アーカイブの構造が正しくありません。")
    return Layout(header, header_bytes, body_start, body_end, manifest_start, signed_end - 4, digest)


class ArchiveReader:
    """Reads a verified archive: the manifest, then the body as a decrypted stream.

    Every byte it uses is hashed again as it is used, and ``finish`` compares that hash with the
    one the signature covered: a file changed between the signature check and the reading (two
    passes over the file) is refused too."""

    def __init__(self, f: BinaryIO, layout: Layout, passphrase: str):
        self._f, self.layout = f, layout
        self._sealed_manifest: bytes | None = None
        try:
            self._key = _derive_key(passphrase or "", layout.header.get("kdf") or {})
            self._nonces = (base64.b64decode(layout.header["body_nonce"], validate=True),
                            base64.b64decode(layout.header["manifest_nonce"], validate=True))
        except (KeyError, ValueError, TypeError) as exc:
            raise ArchiveRefused("アーカイブのヘッダーが正しくありません。") from exc

    @property
    def header(self) -> dict:
        return self.layout.header

    def manifest(self) -> dict:
        self._f.seek(self.layout.manifest_start)
        sealed = _read_exact(self._f, self.layout.manifest_end - self.layout.manifest_start)
        try:
            plain = AESGCM(self._key).decrypt(self._nonces[1], sealed, self.layout.header_bytes)
        except (InvalidTag, ValueError) as exc:
            raise ArchiveRefused("合言葉が違います（またはアーカイブが壊れています）。") from exc
        self._sealed_manifest = sealed
        return json.loads(plain)

    def body(self) -> "BodyStream":
        if self._sealed_manifest is None:
            raise RuntimeError("read the manifest first: it proves the passphrase")
        hasher = hashlib.sha512(MAGIC + struct.pack(">I", len(self.layout.header_bytes)) + self.layout.header_bytes)
        return BodyStream(self._f, self.layout, self._key, self._nonces[0], hasher)

    def finish(self, body: "BodyStream") -> None:
        """The body's GCM tag is right and every byte used is the signed one: only after this
        may anything read from the archive be committed."""
        hasher = body.finish()
        sealed = self._sealed_manifest or b""
        hasher.update(sealed + struct.pack(">I", len(sealed)))
        if not hmac.compare_digest(hasher.digest(), self.layout.digest):
            raise ArchiveRefused("読み込み中にアーカイブが変更されました。")


class BodyStream(io.RawIOBase):
    """The decrypted body as a readable stream.  Its GCM tag is checked by ``ArchiveReader.finish``:
    until then, what was read must not be committed anywhere."""

    def __init__(self, f: BinaryIO, layout: Layout, key: bytes, nonce: bytes, hasher):
        super().__init__()
        self._f, self._left, self._layout, self._hasher = f, layout.body_end - layout.body_start, layout, hasher
        f.seek(layout.body_start)
        self._decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).decryptor()
        self._decryptor.authenticate_additional_data(layout.header_bytes)
        self._pending, self._offset = b"", 0  # decrypted bytes not yet read, and how far they were

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset == len(self._pending) and self._left:
            self._f.seek(self._layout.body_end - self._left)
            chunk = self._f.read(min(CHUNK, self._left))
            if not chunk:
                raise ArchiveRefused("アーカイブが途中で切れています。")
            self._left -= len(chunk)
            self._hasher.update(chunk)
            self._pending, self._offset = self._decryptor.update(chunk), 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = self._pending[self._offset:self._offset + n]
        self._offset += n
        return n

    def finish(self):
        if self._left or self._offset != len(self._pending):
            raise ArchiveRefused("アーカイブの本体に読み残しがあります。")
        self._f.seek(self._layout.body_end)
        tag = _read_exact(self._f, TAG_BYTES)
        try:
            self._decryptor.finalize_with_tag(tag)
        except InvalidTag as exc:
            raise ArchiveRefused("アーカイブの本体が壊れています（認証タグが一致しません）。") from exc
        self._hasher.update(tag)
        return self._hasher
