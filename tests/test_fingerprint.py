"""The fingerprint names exactly which spec file changed since approval, and only the gate can sign one."""

from __future__ import annotations

import pytest

from app.domain.fingerprint import Fingerprint, build_manifest, diff, gate_key, is_spec_file, manifest_digest
from app.domain.markers import find_marker, marker

FILES = {
    "features/login.feature": "Feature: a\n",
    "features/admin/users.feature": "Feature: b\n",
    "features/steps/cart.py": "# steps\n",
    "features/steps/helpers/util.py": "# not a step file\n",
    "app/main.py": "print()\n",
    "README.md": "hi",
}


def test_manifest_covers_feature_files_and_step_definitions_only() -> None:
    manifest = build_manifest(FILES, "features")
    assert sorted(manifest) == [
        "features/admin/users.feature",
        "features/login.feature",
        "features/steps/cart.py",
    ]
    assert len(manifest["features/login.feature"]) == 64


def test_features_folder_is_configurable() -> None:
    assert is_spec_file("spec/x.feature", "spec/")
    assert not is_spec_file("features/x.feature", "spec")
    assert is_spec_file("spec/steps/web.py", "spec")


def test_diff_names_changed_added_and_removed_files() -> None:
    before = build_manifest(FILES)
    after_files = dict(FILES, **{"features/login.feature": "Feature: changed\n", "features/new.feature": "x"})
    del after_files["features/steps/cart.py"]
    after_files["app/main.py"] = "code changes do not count"
    assert diff(before, build_manifest(after_files)) == [
        "features/login.feature",
        "features/new.feature",
        "features/steps/cart.py",
    ]


def test_digest_does_not_depend_on_order_but_on_content() -> None:
    manifest = build_manifest(FILES)
    assert manifest_digest(dict(reversed(list(manifest.items())))) == manifest_digest(manifest)
    assert manifest_digest(build_manifest(dict(FILES, **{"features/login.feature": "x"}))) != manifest_digest(
        manifest
    )


def test_fingerprint_round_trips_through_a_hidden_marker() -> None:
    fingerprint = Fingerprint.of("a" * 40, "octocat", build_manifest(FILES))
    body = f"text\n{marker('fingerprint', **fingerprint.to_data())}\n"
    assert Fingerprint.from_data(find_marker(body, "fingerprint")) == fingerprint
    assert fingerprint.changed(build_manifest(FILES)) == []


def test_a_marker_whose_digest_does_not_match_its_manifest_is_not_trusted() -> None:
    data = Fingerprint.of("a" * 40, "octocat", build_manifest(FILES)).to_data()
    data["manifest"]["features/login.feature"] = "0" * 64
    assert Fingerprint.from_data(data) is None
    assert Fingerprint.from_data(None) is None
    assert Fingerprint.from_data({"sha": "x"}) is None


def test_a_signed_record_verifies_only_for_its_repo_pr_sha_approver_and_manifest() -> None:
    key = gate_key("a-real-webhook-secret")
    fingerprint = Fingerprint.of("a" * 40, "octocat", build_manifest(FILES)).signed(key, "acme/shop", 7)
    read = Fingerprint.from_data(fingerprint.to_data())
    assert read == fingerprint and read is not None and read.verify(key, "acme/shop", 7)
    assert read.verify(key, "ACME/Shop", 7)  # repository names are case-insensitive on GitHub
    assert not read.verify(key, "acme/shop", 8)
    assert not read.verify(key, "acme/other", 7)
    assert not read.verify(gate_key("another-secret"), "acme/shop", 7)
    for change in ({"sha": "b" * 40}, {"approver": "mallory"}, {"sig": "0" * 64}, {"sig": ""}):
        forged = Fingerprint.from_data({**fingerprint.to_data(), **change})
        assert forged is not None and not forged.verify(key, "acme/shop", 7), change
    other_files = build_manifest(dict(FILES, **{"features/login.feature": "x"}))
    swapped = Fingerprint.from_data({**fingerprint.to_data(), "manifest": other_files,
                                     "digest": manifest_digest(other_files)})
    assert swapped is not None and not swapped.verify(key, "acme/shop", 7)


def test_an_unsigned_record_never_verifies_and_an_empty_secret_is_refused() -> None:
    unsigned = Fingerprint.of("a" * 40, "octocat", build_manifest(FILES))
    assert "sig" not in unsigned.to_data()
    assert not unsigned.verify(gate_key("a-real-webhook-secret"), "acme/shop", 7)
    with pytest.raises(ValueError):
        gate_key("  ")
