import pytest

from shared.db import MigrationError, load_migrations


def test_migrations_load_in_version_order(tmp_path):
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0010_tenth.sql").write_text("SELECT 10;")
    assert [(m.version, m.name) for m in load_migrations(tmp_path)] == [(1, "first"), (2, "second"), (10, "tenth")]


@pytest.mark.parametrize("name", ["1_first.sql", "0001-first.sql", "0001_First.sql", "first.sql"])
def test_misnamed_files_are_an_error_not_skipped(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError):
        load_migrations(tmp_path)


def test_a_version_used_twice_is_an_error(tmp_path):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="twice"):
        load_migrations(tmp_path)
