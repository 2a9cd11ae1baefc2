"""The approved spec's fingerprint: a {path: sha256} manifest of feature and step files, and one digest.

The record the gate writes into a PR body is signed (HMAC-SHA256 with a key only the service holds) over
the repository, the PR number, the approved SHA, the approver and the digest: anyone can write a PR body,
so a record without a valid signature for exactly this PR is not an approval.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _dir(features_dir: str) -> str:
    return (features_dir or "features").strip("/")


def is_spec_file(path: str, features_dir: str = "features") -> bool:
    """Whether `path` is spec: a .feature under the features folder, or `<features>/steps/*.py`."""
    root = _dir(features_dir) + "/"
    if not path.startswith(root):
        return False
    rest = path[len(root) :]
    if path.endswith(".feature"):
        return True
    # repository step definitions are executable spec: a change to them is a change to the contract
    return rest.startswith("steps/") and rest.count("/") == 1 and rest.endswith(".py")


def sha256_hex(content: bytes | str) -> str:
    """The hex SHA-256 of a file's content (text is hashed as UTF-8)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


def build_manifest(files: Mapping[str, bytes | str], features_dir: str = "features") -> dict[str, str]:
    """`{path: sha256}` for every spec file among `files` (path -> content); other paths are ignored."""
    return {path: sha256_hex(files[path]) for path in sorted(files) if is_spec_file(path, features_dir)}


def manifest_digest(manifest: Mapping[str, str]) -> str:
    """One SHA-256 over the whole manifest, independent of dict order."""
    lines = "".join(f"{path}\0{manifest[path]}\n" for path in sorted(manifest))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


# Fixed label the signing key is derived under, so the webhook secret itself never signs a record.
GATE_KEY_LABEL = b"specloop/approval-gate/v1"


def gate_key(secret: str | bytes) -> bytes:
    """The approval-signing key derived from a service secret (HMAC-SHA256 of a fixed label)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not raw.strip():
        raise ValueError("the approval-signing secret is empty")
    return hmac.new(raw, GATE_KEY_LABEL, hashlib.sha256).digest()


def diff(approved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The paths added, removed or changed between two manifests, sorted."""
    return sorted(path for path in set(approved) | set(current) if approved.get(path) != current.get(path))


@dataclass(frozen=True)
class Fingerprint:
    """What was approved: the head SHA, who approved it, the manifest, its digest and the gate's signature."""

    sha: str
    approver: str
    manifest: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    signature: str = ""  # hex HMAC-SHA256 over `signed_payload`; "" for a record nobody signed

    @classmethod
    def of(cls, sha: str, approver: str, manifest: Mapping[str, str]) -> Fingerprint:
        """A fingerprint for `manifest`, with its digest computed."""
        return cls(sha=sha, approver=approver, manifest=dict(manifest), digest=manifest_digest(manifest))

    def signed_payload(self, repo: str, number: int) -> bytes:
        """The exact bytes signed: repository, PR number, approved SHA, approver and manifest digest."""
        fields = ["specloop-approval/v1", repo.lower(), int(number), self.sha, self.approver.lower(), self.digest]
        return json.dumps(fields, separators=(",", ":")).encode("utf-8")

    def signed(self, key: bytes, repo: str, number: int) -> Fingerprint:
        """This record signed for PR `number` of `repo`."""
        mac = hmac.new(key, self.signed_payload(repo, number), hashlib.sha256).hexdigest()
        return Fingerprint(self.sha, self.approver, dict(self.manifest), self.digest, mac)

    def verify(self, key: bytes, repo: str, number: int) -> bool:
        """Whether the gate signed this record for PR `number` of `repo` (constant-time comparison)."""
        if not self.signature or manifest_digest(self.manifest) != self.digest:
            return False
        expected = hmac.new(key, self.signed_payload(repo, number), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data for the hidden `fingerprint` marker."""
        data: dict[str, Any] = {
            "sha": self.sha,
            "approver": self.approver,
            "manifest": dict(self.manifest),
            "digest": self.digest,
        }
        if self.signature:
            data["sig"] = self.signature
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Fingerprint | None:
        """Read a fingerprint back from marker data; None when absent or inconsistent (digest mismatch).

        This only parses: whether the gate signed it for this PR is `verify`'s question.
        """
        if not data:
            return None
        try:
            manifest = {str(k): str(v) for k, v in dict(data["manifest"]).items()}
            fingerprint = cls(
                sha=str(data["sha"]),
                approver=str(data.get("approver", "")),
                manifest=manifest,
                digest=str(data["digest"]),
                signature=str(data.get("sig") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None
        # a hand-edited marker whose digest no longer matches its manifest does not count as an approval
        return fingerprint if manifest_digest(manifest) == fingerprint.digest else None

    def changed(self, current: Mapping[str, str]) -> list[str]:
        """Spec files that differ now from what was approved."""
        return diff(self.manifest, current)
