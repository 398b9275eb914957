"""The gs:// map, as the tuner and the trial side share it."""
from __future__ import annotations

import pytest

from tf_hptune.runtime.paths import GcsPathError, gcs_local_path, is_gcs, map_path


def test_a_url_maps_to_root_bucket_path_keeping_a_trailing_slash():
    assert gcs_local_path("gs://bucket/data/train-*.csv", "/r") == "/r/bucket/data/train-*.csv"
    assert gcs_local_path("gs://bucket/out/", "/r") == "/r/bucket/out/"
    assert gcs_local_path("gs://bucket", "/r") == "/r/bucket/"


def test_without_a_root_the_error_names_the_setting():
    with pytest.raises(GcsPathError) as e:
        gcs_local_path("gs://bucket/x", None)
    assert str(e.value).startswith("gs://bucket/x: a local trial has no Cloud Storage; give the "
                                   "job --gcs-root DIR (or trainingInput.gcsRoot)")
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("url", ["gs://", "gs:///x", "gs://../x", "gs://b/../../x",
                                 "gs://b/a/../../../x"])
def test_a_url_that_leaves_its_bucket_is_refused(url):
    with pytest.raises(GcsPathError, match="not a path inside a bucket"):
        gcs_local_path(url, "/r")


def test_a_url_may_go_up_inside_its_bucket():
    assert gcs_local_path("gs://b/a/../x", "/r") == "/r/b/a/../x"


def test_map_path_keeps_the_type_and_leaves_other_values_alone():
    assert map_path("gs://b/x", "/r") == "/r/b/x"
    assert map_path(b"gs://b/x", "/r") == b"/r/b/x"
    assert map_path(["gs://b/x", "local"], "/r") == ["/r/b/x", "local"]
    assert map_path(("gs://b/x",), "/r") == ("/r/b/x",)
    tensor_like = object()
    for value in ("local/x", "s3://b/x", None, 3, tensor_like, ["a", "b"]):
        assert map_path(value, None) is value
    assert is_gcs(b"gs://b") and not is_gcs("gcs://b") and not is_gcs(None)


def test_a_write_makes_the_parent_directory_a_read_does_not(tmp_path):
    read = map_path("gs://b/in/x.csv", str(tmp_path))
    assert read == str(tmp_path / "b" / "in" / "x.csv") and not (tmp_path / "b").exists()
    written = map_path("gs://b/out/deep/x.txt", str(tmp_path), for_write=True)
    assert written == str(tmp_path / "b" / "out" / "deep" / "x.txt")
    assert (tmp_path / "b" / "out" / "deep").is_dir()
