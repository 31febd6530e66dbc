"""A chapter's result tables as CSV files (paperlib.book.write_results) and the claims page's claims.csv."""

from __future__ import annotations

import pandas as pd
import pytest

from paperlib import book, config
from paperlib.claims import ClaimCheck


def _check(number: int, verdict: str = "reproduced") -> ClaimCheck:
    return ClaimCheck(number, f"claim {number}", "paper, text", 'measured: 0.5, "quoted"', verdict, "why", (0, 2))


def test_write_results_writes_each_table_and_the_claims(tmp_path):
    scores = pd.DataFrame({"arch": ["vgg", "vgg"], "layer": ["conv1", "fc6"], "ami": [0.1, 0.25]})
    pivot = scores.pivot_table(index="arch", columns="layer", values="ami")
    paths = book.write_results("05_x", {"scores": scores, "pivot": pivot}, tmp_path, checks=[_check(2)])
    assert paths == {k: tmp_path / f"05_x_{k}.csv" for k in ("scores", "pivot", "claims")}
    pd.testing.assert_frame_equal(pd.read_csv(paths["scores"]), scores)
    assert list(pd.read_csv(paths["pivot"]).columns) == ["arch", "conv1", "fc6"]  # a named index is kept
    claims = pd.read_csv(paths["claims"], dtype={"seeds": str})
    assert list(claims.columns) == list(book.CLAIM_COLUMNS)
    row = claims.iloc[0]
    assert (row["number"], row["verdict"], row["measured"], row["seeds"], row["chapter"]) == (
        2,
        "reproduced",
        'measured: 0.5, "quoted"',
        "0 2",
        "05_x",
    )
    assert not list(tmp_path.glob(".*tmp"))  # written through temporary files, none left


def test_write_results_default_folder_comes_from_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERLIB_RESULTS", raising=False)
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path / "cache"))
    (path,) = book.write_results("03_y", {"t": pd.DataFrame({"a": [1]})}).values()
    assert path == config.results_root() / "03_y_t.csv" == (tmp_path / "cache" / "results" / "03_y_t.csv")
    monkeypatch.setenv("PAPERLIB_RESULTS", str(tmp_path / "env"))
    assert config.results_root() == tmp_path / "env"


@pytest.mark.parametrize(
    "chapter, tables, match",
    [
        ("../up", {"t": pd.DataFrame()}, "plain file name"),
        ("05_x", {"a/b": pd.DataFrame()}, "plain file name"),
        ("05_x", {"t": [1, 2]}, "not a pandas DataFrame"),
    ],
)
def test_write_results_refuses_bad_names_and_tables_before_writing(tmp_path, chapter, tables, match):
    with pytest.raises(ValueError, match=match):
        book.write_results(chapter, {"ok": pd.DataFrame({"a": [1]}), **tables}, tmp_path)
    assert not list(tmp_path.iterdir())


def test_collect_claims_gathers_every_chapter_in_claim_order(tmp_path):
    book.write_results("07_l", {}, tmp_path, checks=[_check(4), _check(5, "inconclusive")])
    book.write_results("05_s", {}, tmp_path, checks=[_check(2, "not reproduced")])
    path = book.collect_claims(tmp_path)
    assert path == tmp_path / book.CLAIMS_FILE
    got = pd.read_csv(path)
    assert list(got["number"]) == [2, 4, 5]
    assert list(got["verdict"]) == ["not reproduced", "reproduced", "inconclusive"]
    assert list(got["chapter"]) == ["05_s", "07_l", "07_l"]
    assert book.collect_claims(tmp_path) == path  # claims.csv itself is not gathered again
    assert len(pd.read_csv(path)) == 3


def test_collect_claims_without_chapters_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the chapters first"):
        book.collect_claims(tmp_path)


def test_main_folds_and_gathers(tmp_path, capsys):
    book.write_results("09_c", {}, tmp_path, checks=[_check(7)])
    book.main(["--results", str(tmp_path)])
    assert "claims gathered" in capsys.readouterr().out and (tmp_path / "claims.csv").exists()


def test_glue_all_glues_text_as_bare_text_and_other_values_as_themselves():
    from paperlib.claims import GlueText

    calls = []
    fig = object()
    book.glue_all({"a": "text", "fig": fig}, glue=lambda *a, **k: calls.append((a, k)))
    assert [(a[0], type(a[1]), k) for a, k in calls] == [
        ("a", GlueText, {"display": False}),
        ("fig", object, {"display": False}),
    ]
    assert calls[0][0][1] == "text" and repr(calls[0][0][1]) == "text" and calls[1][0][1] is fig
    with pytest.raises(ValueError, match="non-empty strings"):
        book.glue_all({"": "x"}, glue=lambda *a, **k: calls.append(a))
    assert len(calls) == 2


def test_glue_claim_uses_the_claims_page_names():
    got = {}
    book.glue_claim(_check(6, "inconclusive"), glue=lambda name, value, display: got.update({name: value}))
    assert got == {
        "claim6_verdict": "inconclusive",
        "claim6_measured": 'measured: 0.5, "quoted"',
        "claim6_explanation": "why",
    }


def test_glue_claim_glues_the_table_of_a_check_with_rows():
    rows = ({"architecture": "vgg", "factor": 1, "first third": 0.01, "last third": 0.2, "seed spread": None},)
    check = ClaimCheck(2, "c", "p", "m", "reproduced", "e", (0,), rows=rows, note="gain per layer")
    got = {}
    book.glue_claim(check, glue=lambda name, value, display: got.update({name: value}))
    assert got["claim2_note"] == "gain per layer"
    assert got["claim2_table"].to_dict("records") == [
        {"architecture": "vgg", "factor": "1", "first third": "+0.010", "last third": "+0.200", "seed spread": ""}
    ]
