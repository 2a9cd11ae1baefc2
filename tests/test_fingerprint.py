"""The fingerprint names exactly which spec file changed since approval."""

from __future__ import annotations

from app.domain.fingerprint import Fingerprint, build_manifest, diff, is_spec_file, manifest_digest
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
