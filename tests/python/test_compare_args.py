"""bench/compare.py's command line (pure Python: runs without torch or a GPU)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import compare  # noqa: E402


def test_sustain_defaults_to_off():
    assert compare.parse_args(["--workload", "prefill_4x8k"]).sustain == 0.0


def test_sustain_takes_seconds():
    assert compare.parse_args(["--sustain", "2.5"]).sustain == 2.5


@pytest.mark.parametrize("bad", ["-1", "nan", "inf", "601", "soon"])
def test_sustain_rejects_what_is_not_seconds(bad, capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["--sustain", bad])
    assert "--sustain" in capsys.readouterr().err


def test_unknown_workload_is_named(capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["--workload", "no_such_workload"])
    assert "no_such_workload" in capsys.readouterr().err


def test_cooldown_defaults_to_off():
    assert compare.parse_args([]).cooldown == 0.0


def test_cooldown_takes_seconds():
    assert compare.parse_args(["--cooldown", "0.5"]).cooldown == 0.5


@pytest.mark.parametrize("bad", ["-0.1", "nan", "61", "later"])
def test_cooldown_rejects_what_is_not_seconds(bad, capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["--cooldown", bad])
    assert "--cooldown" in capsys.readouterr().err
